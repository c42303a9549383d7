"""Request generation: sequential single requests (latency) and concurrent clients (load)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.common import REQUEST_TIMEOUT_SECONDS, WARM_UP_REQUESTS


def mlflow_record(frame: Any, i: int) -> dict[str, Any]:
    """One row of the pyfunc's input DataFrame as a JSON record (NaN as null)."""
    record = frame.iloc[i].to_dict()
    return {k: (None if isinstance(v, float) and math.isnan(v) else
                v.item() if isinstance(v, np.generic) else v) for k, v in record.items()}


def sequential(base: str, path: str, bodies: Sequence[bytes], n: int, repeats: int,
               seconds: float | None = None) -> tuple[list[float], list[float], int, list[float]]:
    """``n`` requests one after another (keep-alive), or as many as fit in ``seconds``; p50 and
    p99 per block of n/repeats.

    The client is the standard library's ``http.client`` on one connection: the leanest Python
    client, so the figure is the server's (httpx spends about a millisecond of its own per
    request). Both servers are measured with it.
    """
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(base)
    headers = {"content-type": "application/json"}
    latencies: list[float] = []
    errors = 0

    def connect() -> http.client.HTTPConnection:
        return http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port,
                                          timeout=REQUEST_TIMEOUT_SECONDS)

    connection = connect()

    def post(body: bytes) -> bool:
        nonlocal connection
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status == 200
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = connect()  # the next request starts on a fresh connection
            return False

    try:
        for i in range(WARM_UP_REQUESTS):
            post(bodies[i % len(bodies)])
        stop_at = math.inf if seconds is None else time.perf_counter() + seconds
        for i in range(n):
            if time.perf_counter() > stop_at:
                break
            started = time.perf_counter()
            ok = post(bodies[i % len(bodies)])
            latencies.append((time.perf_counter() - started) * 1000)
            errors += not ok
    finally:
        connection.close()
    blocks = np.array_split(np.asarray(latencies), max(1, repeats))
    p50 = [float(np.percentile(b, 50)) for b in blocks if len(b)]
    p99 = [float(np.percentile(b, 99)) for b in blocks if len(b)]
    return p50, p99, errors, latencies


def load_test(base: str, path: str, bodies: Sequence[bytes], clients: int,
              seconds: float) -> dict[str, float]:
    """``clients`` concurrent clients (asyncio tasks, one connection each) posting in a loop
    until the time is up; one thread, so the load generator does not fight itself for the GIL.
    """
    import asyncio

    import httpx

    headers = {"content-type": "application/json"}
    latencies: list[float] = []
    errors = 0

    async def main() -> float:
        nonlocal errors
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_SECONDS,
                                     limits=limits) as client:
            stop_at = time.perf_counter() + seconds

            async def one_client(k: int) -> None:
                nonlocal errors
                i = k
                while time.perf_counter() < stop_at:
                    started = time.perf_counter()
                    try:
                        response = await client.post(path, content=bodies[i % len(bodies)],
                                                     headers=headers)
                        ok = response.status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    latencies.append((time.perf_counter() - started) * 1000)
                    errors += not ok
                    i += clients

            began = time.perf_counter()
            await asyncio.wait_for(asyncio.gather(*(one_client(k) for k in range(clients))),
                                   timeout=seconds + REQUEST_TIMEOUT_SECONDS + 10)
            return time.perf_counter() - began

    elapsed = asyncio.run(main())
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(latencies, 50)) if latencies else math.nan,
        "p99_ms": float(np.percentile(latencies, 99)) if latencies else math.nan,
    }


_WRK_SCRIPT = """
local bodies = {%(bodies)s}
local requests = {}
local n = 0
function init(args)
  for k, body in ipairs(bodies) do
    requests[k] = wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, body)
  end
end
function request()
  n = n + 1
  return requests[(n %% #requests) + 1]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("SSI_WRK %%d %%d %%d %%d %%d %%d %%d %%.1f %%.1f\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_available() -> str | None:
    """The ``wrk`` binary (Debian package ``wrk``; ``make system-deps`` installs it), or None."""
    import shutil

    return shutil.which("wrk")


def wrk_load(base: str, path: str, bodies: Sequence[bytes], connections: int,
             seconds: float, threads: int = 1) -> dict[str, float]:
    """``connections`` concurrent keep-alive connections posting ``bodies`` in turn for
    ``seconds``, driven by ``wrk`` (compiled: a Python client costs more CPU than the server it
    measures, on a 2-core machine the two fight). One wrk thread leaves the other core to the
    server. Errors: connect, read, write and timeout errors plus non-2xx answers."""
    import subprocess
    import tempfile

    binary = wrk_available()
    if binary is None:
        raise RuntimeError("wrk is not installed: `make system-deps` (Debian package wrk)")
    # Lua long brackets hold the JSON verbatim; a body holding the closing bracket is refused.
    for body in bodies:
        if b"]==]" in body:
            raise ValueError("a body contains ']==]', which ends a Lua long string")
    lua = _WRK_SCRIPT % {"bodies": ",".join(f"[==[{b.decode()}]==]" for b in bodies),
                         "path": path}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    try:
        done = subprocess.run(
            [binary, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
             f"--timeout={REQUEST_TIMEOUT_SECONDS:g}s", "--latency", "-s", script.name,
             base.rstrip("/") + path],
            capture_output=True, text=True, timeout=seconds + REQUEST_TIMEOUT_SECONDS + 30,
            check=True)
    finally:
        import os

        os.unlink(script.name)
    return parse_wrk(done.stdout)


def parse_wrk(output: str) -> dict[str, float]:
    """The figures of the ``SSI_WRK`` line our script's ``done`` writes (latencies in µs)."""
    line = next((x for x in output.splitlines() if x.startswith("SSI_WRK ")), None)
    if line is None:
        raise RuntimeError(f"wrk wrote no summary line:\n{output[-2000:]}")
    requests, duration_us, connect, read, write, status, timeout = (
        int(v) for v in line.split()[1:8])
    p50_us, p99_us = (float(v) for v in line.split()[8:10])
    return {
        "requests": requests,
        "errors": connect + read + write + status + timeout,
        "rps": requests / (duration_us / 1e6) if duration_us else math.nan,
        "p50_ms": p50_us / 1000,
        "p99_ms": p99_us / 1000,
    }
