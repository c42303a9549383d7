"""The figures results.json carries, their ratios against raw LightGBM, and the machine."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.common import log

FIGURES: dict[str, str] = {
    "train_seconds_20k": "s",
    "raw_train_seconds_20k": "s",
    "raw_train_all_seconds_20k": "s",
    "predict_rows_per_s": "rows/s",
    "raw_predict_rows_per_s": "rows/s",
    "spark_predict_rows_per_s": "rows/s",
    "explain_members_per_s": "members/s",
    "raw_explain_members_per_s": "members/s",
    "report_members_per_s": "members/s",
    "whatif_page_bytes": "bytes",
    "whatif_score_ms": "ms",
    "api_predict_p50_ms": "ms",
    "api_predict_p99_ms": "ms",
    "api_explain_p50_ms": "ms",
    "api_explain_p99_ms": "ms",
    "mlflow_serve_predict_p50_ms": "ms",
    "mlflow_serve_predict_p99_ms": "ms",
    "raw_single_predict_p50_ms": "ms",
    "http_floor_p50_ms": "ms",
    "raw_single_explain_p50_ms": "ms",
    "explain_single_p50_ms": "ms",
    "api_load_errors": "requests",
    "api_load_requests": "requests",
    "api_load_rps": "requests/s",
    "api_load_p50_ms": "ms",
    "api_load_p99_ms": "ms",
}
"""Every figure results.json carries, with its unit: a number, or null with a reason."""
RATIOS: dict[str, tuple[str, str, str]] = {
    # name: (ours, raw, how): "time" divides ours by raw; "rate" divides raw by ours.
    "train_vs_raw_final_boosters": ("train_seconds_20k", "raw_train_seconds_20k", "time"),
    "train_vs_raw_all_boosters": ("train_seconds_20k", "raw_train_all_seconds_20k", "time"),
    "predict_vs_raw": ("predict_rows_per_s", "raw_predict_rows_per_s", "rate"),
    # how many times slower Spark (local[2]) scores the same rows than the pyfunc in process
    "spark_predict_vs_pyfunc": ("spark_predict_rows_per_s", "predict_rows_per_s", "rate"),
    "explain_vs_raw": ("explain_members_per_s", "raw_explain_members_per_s", "rate"),
    "api_predict_vs_raw_single": ("api_predict_p50_ms", "raw_single_predict_p50_ms", "time"),
    "api_explain_vs_raw_single": ("api_explain_p50_ms", "raw_single_explain_p50_ms", "time"),
    "explain_single_vs_raw_single": ("explain_single_p50_ms", "raw_single_explain_p50_ms",
                                     "time"),
    "api_explain_vs_in_process": ("api_explain_p50_ms", "explain_single_p50_ms", "time"),
    "mlflow_serve_vs_raw_single": ("mlflow_serve_predict_p50_ms", "raw_single_predict_p50_ms",
                                   "time"),
    "mlflow_serve_vs_api_predict": ("mlflow_serve_predict_p50_ms", "api_predict_p50_ms", "time"),
    # how many times the bare transport (client, kernel, uvicorn) the API's answer takes
    "api_predict_vs_http_floor": ("api_predict_p50_ms", "http_floor_p50_ms", "time"),
}
"""How many times slower than raw LightGBM (or than the API) each figure is, in the same run."""
API_KEYS = ["api_predict_p50_ms", "api_predict_p99_ms", "api_explain_p50_ms",
            "api_explain_p99_ms", "api_load_errors", "api_load_requests", "api_load_rps",
            "api_load_p50_ms", "api_load_p99_ms"]
MLFLOW_SERVE_KEYS = ["mlflow_serve_predict_p50_ms", "mlflow_serve_predict_p99_ms"]


class Results:
    """Figures, the repeats behind them, and why any figure is missing."""

    def __init__(self, settled: Callable[[int], None] | None = None) -> None:
        self.figures: dict[str, float | int | None] = dict.fromkeys(FIGURES)
        self.repeats: dict[str, list[float]] = {}
        self.unavailable: dict[str, str] = {}
        self.notes: dict[str, str] = {}
        # Told how many figures got their value or their reason, for the run's progress.
        self._settled = settled or (lambda _n: None)
        self._done: set[str] = set()

    def _settle(self, keys: Sequence[str]) -> None:
        new = set(keys) - self._done
        if new:
            self._done |= new
            self._settled(len(new))

    def put(self, key: str, value: float | int, repeats: Sequence[float] | None = None) -> None:
        self._settle([key])
        self.figures[key] = value if isinstance(value, int) else float(value)
        if repeats is not None:
            self.repeats[key] = [round(float(r), 6) for r in repeats]
        self.unavailable.pop(key, None)

    def missing(self, keys: Sequence[str], reason: str) -> None:
        for key in keys:
            if self.figures.get(key) is None:
                self.unavailable.setdefault(key, reason)  # the first reason is the cause
        self._settle([k for k in keys if self.figures.get(k) is None])

    def ratios(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for name, (ours, raw, how) in RATIOS.items():
            a, b = self.figures.get(ours), self.figures.get(raw)
            if a is None or b is None or a <= 0 or b <= 0:
                out[name] = None
            else:
                out[name] = round(a / b if how == "time" else b / a, 2)
        return out


@contextlib.contextmanager
def section(results: Results, keys: Sequence[str], what: str) -> Iterator[None]:
    """Run one part; if it fails, its figures become null with the error as the reason."""
    log(f"{what} ...")
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        results.missing(keys, f"{what} failed: {type(exc).__name__}: {exc}"[:600])
    finally:
        log(f"{what}: {time.perf_counter() - started:.1f} s")


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_1_5_15": [round(x, 2) for x in load] if load else None,
    }


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for package in ("ssi-model", "lightgbm", "numpy", "pandas", "scikit-learn", "shap", "mlflow",
                    "fastapi", "uvicorn", "httptools", "uvloop", "starlette", "pydantic", "httpx",
                    "jinja2"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    return out
