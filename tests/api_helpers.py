"""Real processes for the API tests: an MLflow tracking server and the API under uvicorn.

Each runs as a child process on a free loopback port, logs to a file, and is stopped by the
fixture that started it (terminate, then kill after a grace period): never by name.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from ssi_model.contract import CONTRACT

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    """A child process serving HTTP on the loopback interface."""

    name: str
    popen: subprocess.Popen[bytes]
    url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_until(self, path: str, *, timeout: float, ok: Any = None) -> httpx.Response:
        """Poll ``path`` until it answers (and ``ok(response)`` holds); fail with the log."""
        deadline = time.monotonic() + timeout
        last: str = "no answer"
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n"
                                   f"{self.log_text()[-4000:]}")
            try:
                response = httpx.get(self.url + path, timeout=5)
                if ok is None or ok(response):
                    return response
                last = f"{response.status_code} {response.text[:300]}"
            except httpx.TransportError as exc:
                last = repr(exc)
            time.sleep(0.25)
        raise TimeoutError(f"{self.name}: {path} not as expected after {timeout:.0f} s ({last})"
                           f"\n{self.log_text()[-4000:]}")

    def stop(self, grace: float = 15.0) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)


def start(name: str, args: list[str], *, env: Mapping[str, str], port: int,
          log: Path) -> Process:
    handle = log.open("wb")
    try:
        popen = subprocess.Popen(args, env={**os.environ, **env}, stdout=handle,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 cwd=log.parent)
    finally:
        handle.close()
    return Process(name=name, popen=popen, url=f"http://{LOOPBACK}:{port}", log=log)


def start_mlflow_server(folder: Path) -> Process:
    """``mlflow server`` on SQLite with proxied artifacts (clients upload over HTTP)."""
    port = free_port()
    args = [str(BIN / "mlflow"), "server",
            "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination", str(folder / "artifacts"),
            "--host", LOOPBACK, "--port", str(port), "--workers", "1"]
    # No job runner: it starts seven more processes (huey consumers, each importing MLflow) for
    # GenAI jobs this project never submits.
    return start("mlflow server", args, env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
                 port=port, log=folder / "mlflow-server.log")


def start_api(folder: Path, env: Mapping[str, str]) -> Process:
    """The API through ``ssi_model.api.serve`` (what ``ssi serve`` calls), one worker."""
    port = free_port()
    code = f"from ssi_model.api import serve; serve(host={LOOPBACK!r}, port={port})"
    return start("api", [sys.executable, "-c", code], env=env, port=port,
                 log=folder / "api.log")


# -- profiles --------------------------------------------------------------------------------------


def profiles_from_rows(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Typed contract rows → JSON profiles (unknown cells left out: missing means unknown)."""
    return CONTRACT.to_records(rows, for_json=True)


def sample_rows(n: int, seed: int) -> pd.DataFrame:
    """Clean simulated contract rows (the simulator's typing faults are quarantined)."""
    from ssi_model.simulator import simulate_cohort
    from ssi_model.validation import validate

    return validate(simulate_cohort(n, seed)).clean


def full_profile() -> dict[str, Any]:
    """A profile with every input column known and valid, built from the contract."""
    profile: dict[str, Any] = {}
    for name in CONTRACT.input_columns:
        col = CONTRACT[name]
        if col.kind == "int":
            lo = col.numeric_bound("min") or 0
            profile[name] = int(lo) + 1
        elif col.kind == "bool":
            profile[name] = True
        elif col.kind == "category":
            profile[name] = col.values[0]
        elif col.kind == "date":
            profile[name] = "2026-01-31"
        else:
            profile[name] = "member-full"
    return profile


def stream(body: bytes, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent chunked (no Content-Length), so the server must count on the stream."""
    for start_at in range(0, len(body), chunk):
        yield body[start_at:start_at + chunk]


def dumps(data: Any) -> bytes:
    return json.dumps(data).encode("utf-8")


def log_broken_version(name: str, folder: Path) -> str:
    """Register a version of ``name`` whose estimator bundle is corrupt (it cannot load)."""
    import mlflow

    from ssi_model.contract import PILLARS
    from ssi_model.tracking.runs import PYFUNC_CODE
    from ssi_model.tracking.store import ensure_experiment

    bundle = folder / "broken-estimator"
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "bundle.json").write_text("{ this is not a bundle", encoding="utf-8")
    for pillar in PILLARS:
        (bundle / f"booster_{pillar}.txt").write_text("not a booster", encoding="utf-8")
    experiment_id = ensure_experiment(mlflow.MlflowClient(), "ssi-model")
    with mlflow.start_run(experiment_id=experiment_id, run_name="broken-bundle"):
        info = mlflow.pyfunc.log_model(
            name="ssi-estimator", python_model=str(PYFUNC_CODE),
            artifacts={"estimator": str(bundle)}, pip_requirements=["mlflow"],
            registered_model_name=name)
    return str(info.registered_model_version)
