"""Server processes: started on free loopback ports in their own process group, always
stopped with everything they forked."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import MODEL_NAME, ROOT, SERVER_START_SECONDS, log


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerError(RuntimeError):
    pass


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a server we started, and every process it forked (its own process group)."""

    def signal_group(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if hasattr(os, "killpg"):
                os.killpg(process.pid, sig)  # the group we created: start_new_session=True
            else:
                process.send_signal(sig)

    signal_group(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        signal_group(signal.SIGKILL)
        process.wait(timeout=10)
    # workers of the server may outlive it for a moment
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _group_alive(process.pid):
        time.sleep(0.1)
    if _group_alive(process.pid):
        signal_group(signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    if not hasattr(os, "killpg"):
        return False
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class Server:
    """A server process we start on a loopback port; ``stop`` ends it and everything it forked."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], port: int,
                 ready: Sequence[str], log_dir: Path, started: list[dict[str, Any]]) -> None:
        self.name, self.command, self.env, self.port = name, command, env, port
        self.ready_paths = ready
        self.log_path = log_dir / f"{name}.log"
        self.base = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.ready_after: float | None = None
        self.ready_at_first_look = False
        self._registry = started

    def start(self) -> Server:
        with self.log_path.open("wb") as log_file:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                self.command, env=self.env, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        self.started_at = time.perf_counter()
        self._registry.append({"name": self.name, "pid": self.process.pid, "port": self.port})
        return self

    def wait_ready(self, timeout: float = SERVER_START_SECONDS) -> str:
        """Wait until a ready path answers 200; the server's log tail explains a failure."""
        import httpx

        assert self.process is not None, "start() first"
        deadline = self.started_at + timeout
        first_look = True
        with httpx.Client(base_url=self.base, timeout=5.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise ServerError(f"{self.name} exited with code {self.process.returncode}: "
                                      f"{tail(self.log_path)}")
                if time.perf_counter() > deadline:
                    raise ServerError(f"{self.name} not ready after {timeout:.0f} s: "
                                      f"{tail(self.log_path)}")
                with contextlib.suppress(httpx.HTTPError):
                    if any(client.get(path).status_code == 200 for path in self.ready_paths):
                        self.ready_at_first_look = first_look
                        break
                first_look = False
                time.sleep(0.25)
        self.ready_after = time.perf_counter() - self.started_at
        log(f"{self.name} ready on port {self.port} (pid {self.process.pid}) after "
            f"{self.ready_after:.1f} s")
        return self.base

    def ready_text(self) -> str:
        if self.ready_after is None:
            return "never ready"
        if self.ready_at_first_look:
            return f"already ready when first asked, {self.ready_after:.0f} s after start"
        return f"ready {self.ready_after:.0f} s after start"

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            log(f"{self.name} stopped")
            self.process = None


def server_env(store: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SSI_API_KEY"}
    # this interpreter's scripts first: `mlflow models serve` execs `uvicorn` from PATH
    scripts = str(Path(sys.executable).parent)
    env.update({
        "PATH": os.pathsep.join([scripts, env.get("PATH", "")]),
        "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}",
        "SSI_MODEL_NAME": MODEL_NAME,
        "SSI_MODEL_ALIAS": "champion",
        "SSI_RELOAD_SECONDS": "0",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PYTHONUNBUFFERED": "1",
    })
    return env


API_COMMAND = (
    "import inspect, sys\n"
    "from ssi_model.api import serve\n"
    "kw = {'log_level': 'warning'} if 'log_level' in inspect.signature(serve).parameters else {}\n"
    "serve('127.0.0.1', int(sys.argv[1]), **kw)\n"
)


def api_unavailable() -> str | None:
    """Why the API cannot be benchmarked yet (it is written in parallel), or None."""
    try:
        import ssi_model.api as api
    except Exception as exc:
        return f"the API package ssi_model.api is not importable yet ({type(exc).__name__}: {exc})"
    if not callable(getattr(api, "serve", None)):
        return "ssi_model.api has no serve(host, port) yet"
    return None


def api_server(store: Path, log_dir: Path, started: list[dict[str, Any]]) -> Server:
    port = free_port()
    return Server("api", [sys.executable, "-c", API_COMMAND, str(port)], server_env(store), port,
                  ["/ready"], log_dir, started)


def floor_server(store: Path, log_dir: Path, started: list[dict[str, Any]]) -> Server:
    """The loopback HTTP floor (``benchmarks.http_floor``): uvicorn as the API runs it, no work."""
    port = free_port()
    return Server("http-floor", [sys.executable, "-m", "benchmarks.http_floor", str(port)],
                  server_env(store), port, ["/"], log_dir, started)


def mlflow_server(model_uri: str, store: Path, log_dir: Path,
                  started: list[dict[str, Any]]) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri,
               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    return Server("mlflow-serve", command, server_env(store), port, ["/ping", "/health"],
                  log_dir, started)
