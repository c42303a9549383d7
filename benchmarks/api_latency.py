"""Single-profile latency of POST /v1/predict on loopback, against the raw boosters' own time.

Starts the API (``ssi_model.api.serve``, one uvicorn worker) on the champion of the configured
MLflow store (``MLFLOW_TRACKING_URI``, ``SSI_MODEL_NAME``, ``SSI_MODEL_ALIAS``), sends sequential
single-profile requests over one keep-alive connection, and prints p50/p90/p99. In-process it
also times the served scoring path (``SSIEstimator.predict`` on records) and the four raw
``Booster.predict`` calls on the same feature row, so the HTTP figure can be read as a ratio.

    python benchmarks/api_latency.py [--requests 2000] [--warmup 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _profile() -> dict[str, Any]:
    """One realistic, fully known profile from the simulator."""
    from ssi_model.contract import CONTRACT
    from ssi_model.simulator import simulate_cohort
    from ssi_model.validation import validate

    return CONTRACT.to_records(validate(simulate_cohort(50, seed=1)).clean.head(1),
                               for_json=True)[0]


def _percentiles(seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1000
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return f"p50 {p50:.3f} ms, p90 {p90:.3f} ms, p99 {p99:.3f} ms, max {ms.max():.3f} ms"


def _time(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()

    profile = _profile()
    body = {"profiles": [profile]}
    port = _free_port()
    env = {**os.environ, "SSI_RELOAD_SECONDS": "0"}
    env.pop("SSI_API_KEY", None)
    code = f"from ssi_model.api import serve; serve(port={port}, log_level='warning')"
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"ssi-api-latency-{port}.log"
    with log.open("wb") as handle:
        server = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=handle,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                print(log.read_text()[-3000:])
                return 1
            try:
                ready = httpx.get(url + "/ready", timeout=5)
                if ready.status_code == 200:
                    break
                if ready.status_code == 503 and "make train" in ready.text:
                    print(ready.json()["reason"])
                    return 1
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        # The standard library's client on one keep-alive connection: httpx alone adds ~1-4 ms
        # a request on these machines, which would be measured as the server's.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        payload = json.dumps(body)
        headers = {"Content-Type": "application/json"}

        def call() -> None:
            connection.request("POST", "/v1/predict", payload, headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"/v1/predict answered {response.status}")

        _time(call, args.warmup)
        latency = _time(call, args.requests)
        connection.close()
        version = httpx.get(url + "/v1/model", timeout=30).json()["version"]
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()

    from ssi_model.batch import ProfileBatch
    from ssi_model.contract import PILLARS
    from ssi_model.settings import get_settings
    from ssi_model.tracking.registry import Registry

    estimator, _ = Registry(get_settings()).load(version)
    features = estimator.builder.features(ProfileBatch.from_records([profile]))
    index = estimator._block_index()
    raw = _time(lambda: [estimator.boosters[p].predict(features[:, index[p]], num_threads=1)
                         for p in PILLARS], args.requests)
    served = _time(lambda: estimator.predict([profile]).to_records(), args.requests)

    print(f"model version {version}; {args.requests} sequential single-profile requests")
    print(f"POST /v1/predict over loopback: {_percentiles(latency)}")
    print(f"scoring path in process (features, 4 boosters, intervals, rank): "
          f"{_percentiles(served)}")
    print(f"raw LightGBM, 4 x Booster.predict on the feature row: {_percentiles(raw)}")
    print(f"ratio HTTP p50 / raw boosters p50: "
          f"{statistics.median(latency) / statistics.median(raw):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
