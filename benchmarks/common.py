"""Shared by the benchmark modules: paths, sizes, time limits, the log, timing helpers."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path(__file__).resolve().parent
MODEL_NAME = "ssi-estimator"


@dataclasses.dataclass(frozen=True)
class Sizes:
    train_rows: int
    predict_rows: int
    explain_members: int
    report_members: int
    requests: int
    request_seconds: float  # each sequential series: `requests` requests, or this long
    explain_request_seconds: float  # the same for /v1/explain (milliseconds a request)
    load_clients: int
    load_seconds: float
    repeats: int  # the cheap figures
    train_repeats: int  # fit_estimator, and the replay of its 4 final boosters
    train_all_repeats: int  # the replay of every lightgbm.train call of the fit (as long)


FULL = Sizes(train_rows=20_000, predict_rows=100_000, explain_members=1_000, report_members=1_000,
             requests=2_000, request_seconds=90.0, explain_request_seconds=60.0,
             load_clients=32, load_seconds=30.0, repeats=3, train_repeats=3, train_all_repeats=1)
QUICK = Sizes(train_rows=2_000, predict_rows=10_000, explain_members=100, report_members=100,
              requests=200, request_seconds=20.0, explain_request_seconds=10.0,
              load_clients=32, load_seconds=5.0, repeats=3, train_repeats=2, train_all_repeats=1)
SERVER_START_SECONDS = 180.0
REQUEST_TIMEOUT_SECONDS = 10.0
WARM_UP_REQUESTS = 20
STARTED = time.perf_counter()
# Every code path of the quick run on tiny sizes, for the test suite: its figures mean nothing.
SMOKE = Sizes(train_rows=400, predict_rows=1_000, explain_members=10, report_members=10,
              requests=30, request_seconds=3.0, explain_request_seconds=3.0,
              load_clients=4, load_seconds=1.0, repeats=3, train_repeats=1, train_all_repeats=1)


def log(message: str) -> None:
    print(f"[bench {time.perf_counter() - STARTED:6.1f} s] {message}", file=sys.stderr,
          flush=True)


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def interleaved(ours: Callable[[], object], raw: Callable[[], object],
                repeats: int) -> tuple[list[float], list[float]]:
    """Time both in alternating order, so a change in the machine's load hits both alike."""
    ours_times: list[float] = []
    raw_times: list[float] = []
    for k in range(repeats):
        pair = ((ours, ours_times), (raw, raw_times))
        for fn, times in pair if k % 2 == 0 else pair[::-1]:
            times += timed(fn, 1)
    return ours_times, raw_times


def median(values: Sequence[float]) -> float:
    return float(np.median(np.asarray(values, dtype=float)))
