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
