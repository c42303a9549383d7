"""Every speed figure of ssi-model, each against raw LightGBM doing the same work in the same run.

    python -m benchmarks.run [--quick] [--out DIR] [--keep-store]      (make bench [QUICK=1])
    python benchmarks/run.py [--quick] [--out DIR]

The machines are shared, so absolute timings are noisy; what carries over between runs is the
ratio against the raw LightGBM boosters doing the same work in the same run, and the median of
repeats. "The same work" is measured, not guessed: the benchmark records the exact calls our code
makes to LightGBM (``lightgbm.train`` during training, ``Booster.predict`` during prediction and
explanation, with their matrices and arguments) and replays them on the raw boosters.

Figures (``results.json``; every one is a number, or null with the reason in ``unavailable``):

- ``train_seconds_20k``: ``fit_estimator`` with ``experiments/default.yaml`` on 20,000 simulated
  training rows (5-fold CV with early stopping, final boosters, conformal intervals, peers);
  ``raw_train_seconds_20k``: ``lightgbm.train`` of the 4 final boosters with the same params and
  rounds on the same feature matrices; ``raw_train_all_seconds_20k``: every ``lightgbm.train``
  call of the fit replayed (CV folds too), so ``train_seconds_20k / raw_train_all_seconds_20k``
  is our overhead on top of LightGBM.
- ``predict_rows_per_s``: ``mlflow.pyfunc.load_model`` of the registered model, then ``predict``
  on a DataFrame of 100,000 rows (signature enforcement, features, boosters, intervals, rank);
  ``raw_predict_rows_per_s``: the boosters' ``predict`` on the same rows' feature matrices.
- ``explain_members_per_s``: drivers, every lever and the plan for 1,000 members
  (``explain_rows``); ``raw_explain_members_per_s``: its SHAP and prediction calls replayed.
- ``report_members_per_s``: coach HTML pages for 1,000 members (``ssi_model.report.write_reports``
  from their explanations).
- ``api_predict_p50_ms`` / ``_p99_ms``, ``api_explain_p50_ms`` / ``_p99_ms``: 2,000 sequential
  single-profile requests on loopback to the API (``ssi_model.api.serve``) in its own uvicorn
  process, one worker; ``mlflow_serve_predict_p50_ms`` / ``_p99_ms``: the same requests to
  ``mlflow models serve --env-manager local`` of the same registered version;
  ``raw_single_predict_p50_ms`` / ``raw_single_explain_p50_ms``: the raw boosters' calls for one
  row in-process (the floor).
- ``api_load_errors``: failed requests while 32 concurrent clients post single profiles to
  ``/v1/predict`` for 30 s (also: requests, throughput and latency under load).

Everything runs against a temporary MLflow store (a model is trained and registered there
first, and made champion for the API); servers listen on free loopback ports and are always
stopped. ``--quick`` is a smoke run on small sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path(__file__).resolve().parent
MODEL_NAME = "ssi-estimator"

FIGURES: dict[str, str] = {
    "train_seconds_20k": "s",
    "raw_train_seconds_20k": "s",
    "raw_train_all_seconds_20k": "s",
    "predict_rows_per_s": "rows/s",
    "raw_predict_rows_per_s": "rows/s",
    "explain_members_per_s": "members/s",
    "raw_explain_members_per_s": "members/s",
    "report_members_per_s": "members/s",
    "api_predict_p50_ms": "ms",
    "api_predict_p99_ms": "ms",
    "api_explain_p50_ms": "ms",
    "api_explain_p99_ms": "ms",
    "mlflow_serve_predict_p50_ms": "ms",
    "mlflow_serve_predict_p99_ms": "ms",
    "raw_single_predict_p50_ms": "ms",
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
    "explain_vs_raw": ("explain_members_per_s", "raw_explain_members_per_s", "rate"),
    "api_predict_vs_raw_single": ("api_predict_p50_ms", "raw_single_predict_p50_ms", "time"),
    "api_explain_vs_raw_single": ("api_explain_p50_ms", "raw_single_explain_p50_ms", "time"),
    "explain_single_vs_raw_single": ("explain_single_p50_ms", "raw_single_explain_p50_ms",
                                     "time"),
    "api_explain_vs_in_process": ("api_explain_p50_ms", "explain_single_p50_ms", "time"),
    "mlflow_serve_vs_raw_single": ("mlflow_serve_predict_p50_ms", "raw_single_predict_p50_ms",
                                   "time"),
    "mlflow_serve_vs_api_predict": ("mlflow_serve_predict_p50_ms", "api_predict_p50_ms", "time"),
}
"""How many times slower than raw LightGBM (or than the API) each figure is, in the same run."""


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
# Every code path of the quick run on tiny sizes, for the test suite: its figures mean nothing.
SMOKE = Sizes(train_rows=400, predict_rows=1_000, explain_members=10, report_members=10,
              requests=30, request_seconds=3.0, explain_request_seconds=3.0,
              load_clients=4, load_seconds=1.0, repeats=3, train_repeats=1, train_all_repeats=1)

SERVER_START_SECONDS = 180.0
REQUEST_TIMEOUT_SECONDS = 10.0
WARM_UP_REQUESTS = 20

_STARTED = time.perf_counter()


def log(message: str) -> None:
    print(f"[bench {time.perf_counter() - _STARTED:6.1f} s] {message}", file=sys.stderr,
          flush=True)


# -- results -------------------------------------------------------------------------------------


class Results:
    """Figures, the repeats behind them, and why any figure is missing."""

    def __init__(self) -> None:
        self.figures: dict[str, float | int | None] = dict.fromkeys(FIGURES)
        self.repeats: dict[str, list[float]] = {}
        self.unavailable: dict[str, str] = {}
        self.notes: dict[str, str] = {}

    def put(self, key: str, value: float | int, repeats: Sequence[float] | None = None) -> None:
        self.figures[key] = value if isinstance(value, int) else float(value)
        if repeats is not None:
            self.repeats[key] = [round(float(r), 6) for r in repeats]
        self.unavailable.pop(key, None)

    def missing(self, keys: Sequence[str], reason: str) -> None:
        for key in keys:
            if self.figures.get(key) is None:
                self.unavailable.setdefault(key, reason)  # the first reason is the cause

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


# -- the same work on raw LightGBM: record our calls, replay them --------------------------------


@dataclasses.dataclass
class PredictCall:
    booster: Any
    data: np.ndarray
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class RecordingBooster:
    """Stands in for a LightGBM booster: records every ``predict`` call, then makes it."""

    def __init__(self, booster: Any, calls: list[PredictCall]) -> None:
        self._booster = booster
        self._calls = calls

    def predict(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        self._calls.append(PredictCall(self._booster, np.array(data, dtype=float, copy=True),
                                       args, dict(kwargs)))
        return self._booster.predict(data, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._booster, name)


@contextlib.contextmanager
def recording_predictions(estimator: Any) -> Iterator[list[PredictCall]]:
    """Record the booster calls an estimator makes inside the block (boosters restored after)."""
    calls: list[PredictCall] = []
    original = estimator.boosters
    estimator.boosters = {p: RecordingBooster(b, calls) for p, b in original.items()}
    try:
        yield calls
    finally:
        estimator.boosters = original


def replay_predictions(calls: Sequence[PredictCall]) -> None:
    for call in calls:
        call.booster.predict(call.data, *call.args, **call.kwargs)


@dataclasses.dataclass
class TrainCall:
    params: dict[str, Any]
    data: np.ndarray
    label: np.ndarray
    categorical: Any
    rounds: int
    valid: tuple[np.ndarray, np.ndarray] | None
    early_stopping: int | None


@contextlib.contextmanager
def recording_training() -> Iterator[list[TrainCall]]:
    """Record every ``lightgbm.train`` call (params, matrices, rounds, early stopping)."""
    import lightgbm as lgb

    calls: list[TrainCall] = []
    original = lgb.train

    def spy(params: dict[str, Any], train_set: Any, num_boost_round: int = 100,
            valid_sets: Any = None, callbacks: Any = None, **kwargs: Any) -> Any:
        valid = None
        if valid_sets:
            valid = (np.asarray(valid_sets[0].data), np.asarray(valid_sets[0].label))
        stopping = next((int(cb.stopping_rounds) for cb in callbacks or []
                         if hasattr(cb, "stopping_rounds")), None)
        calls.append(TrainCall(dict(params), np.asarray(train_set.data),
                               np.asarray(train_set.label), train_set.categorical_feature,
                               int(num_boost_round), valid, stopping))
        return original(params, train_set, num_boost_round=num_boost_round,
                        valid_sets=valid_sets, callbacks=callbacks, **kwargs)

    lgb.train = spy
    try:
        yield calls
    finally:
        lgb.train = original


def replay_training(calls: Sequence[TrainCall]) -> None:
    import lightgbm as lgb

    for call in calls:
        train_set = lgb.Dataset(call.data, call.label, categorical_feature=call.categorical,
                                free_raw_data=True)
        valid_sets, callbacks = [], []
        if call.valid is not None:
            valid_sets = [lgb.Dataset(call.valid[0], call.valid[1],
                                      categorical_feature=call.categorical,
                                      reference=train_set)]
            callbacks = [lgb.early_stopping(call.early_stopping or 50, verbose=False)]
        lgb.train(call.params, train_set, num_boost_round=call.rounds, valid_sets=valid_sets,
                  callbacks=callbacks)


# -- the data and the model ----------------------------------------------------------------------


@dataclasses.dataclass
class Setup:
    sizes: Sizes
    config: Any
    train: Any  # typed contract rows with labels, exactly sizes.train_rows of them
    clean: Any  # every validated row of the cohort
    version: str
    model_uri: str
    n_train_registered: int
    register_seconds: float
    registered_fit: tuple[float, list[TrainCall]] | None  # the registered model's own fit


def simulated_rows(config: Any, train_rows: int) -> tuple[Any, Any, Any, int]:
    """A simulated cohort with ``train_rows`` training rows after the holdout split."""
    from ssi_model.simulator import simulate_cohort
    from ssi_model.tracking.runs import split_holdout
    from ssi_model.validation import validate

    share = config.data.holdout_share
    n = math.ceil(train_rows / (1 - share) / 0.97) + 100  # ~1.5 % quarantined
    clean = validate(simulate_cohort(n, config.data.simulate.seed)).clean
    train, holdout = split_holdout(clean, share)
    return train.head(train_rows).reset_index(drop=True), holdout, clean, n


def prepare(sizes: Sizes, store: Path, work: Path) -> Setup:
    """Simulate, train and register a model in the temporary store; make it champion.

    The model is trained by ``train_run`` (what ``ssi train`` runs) on exactly the benchmark's
    training rows plus the holdout, so its ``fit_estimator`` call is the first training repeat.
    """
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store / 'mlflow.db'}"
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    import pandas as pd

    from ssi_model.io import write_table
    from ssi_model.model.config import load_config
    from ssi_model.tracking import runs
    from ssi_model.tracking.registry import promote

    config = load_config(ROOT / "experiments" / "default.yaml")
    train, holdout, clean, n = simulated_rows(config, sizes.train_rows)
    data = write_table(pd.concat([train, holdout], ignore_index=True), work / "rows.parquet")
    log(f"cohort: {n} simulated, {len(clean)} valid, {len(train)} training rows; "
        "training and registering the benchmark model")
    fits: list[tuple[float, list[TrainCall]]] = []
    original = runs.fit_estimator

    def timed_fit(*args: Any, **kwargs: Any) -> Any:
        with recording_training() as calls:
            started = time.perf_counter()
            result = original(*args, **kwargs)
            fits.append((time.perf_counter() - started, calls))
        return result

    started = time.perf_counter()
    runs.fit_estimator = timed_fit  # type: ignore[assignment]
    try:
        run = runs.train_run(config, data=data)
    finally:
        runs.fit_estimator = original
    seconds = time.perf_counter() - started
    promote(config.registered_model, run.model_version, force=True)
    same_rows = len(fits) == 1 and run.n_train == len(train)
    return Setup(sizes=sizes, config=config, train=train, clean=clean, version=run.model_version,
                 model_uri=f"models:/{config.registered_model}/{run.model_version}",
                 n_train_registered=run.n_train, register_seconds=seconds,
                 registered_fit=fits[0] if same_rows else None)


def tiled(rows: Any, n: int) -> Any:
    """``n`` rows by repeating the cohort, each with its own member_id."""
    import pandas as pd

    reps = math.ceil(n / len(rows))
    out = pd.concat([rows] * reps, ignore_index=True).head(n)
    out["member_id"] = pd.array([f"bench-{i:07d}" for i in range(n)], dtype="string")
    return out


# -- the in-process figures ----------------------------------------------------------------------


def bench_training(setup: Setup, results: Results) -> None:
    from ssi_model.model.train import fit_estimator

    times: list[float] = []
    raw_final: list[float] = []
    raw_all: list[float] = []
    for k in range(setup.sizes.train_repeats):
        if k == 0 and setup.registered_fit is not None:
            seconds, calls = setup.registered_fit  # the registered model's own fit
            times.append(seconds)
        else:
            with recording_training() as calls:
                started = time.perf_counter()
                fit_estimator(setup.train, setup.config)
                times.append(time.perf_counter() - started)
        if not calls:
            raise RuntimeError("fit_estimator made no lightgbm.train call to replay")
        finals = [c for c in calls if c.valid is None]
        raw_final += timed(lambda finals=finals: replay_training(finals), 1)
        if k < setup.sizes.train_all_repeats:
            raw_all += timed(lambda calls=calls: replay_training(calls), 1)
        log(f"training repeat {k + 1}: fit {times[-1]:.1f} s, raw final boosters "
            f"{raw_final[-1]:.1f} s" + (f", raw all {raw_all[-1]:.1f} s ({len(calls)} boosters)"
                                         if k < setup.sizes.train_all_repeats else ""))
    results.put("train_seconds_20k", median(times), times)
    results.put("raw_train_seconds_20k", median(raw_final), raw_final)
    results.put("raw_train_all_seconds_20k", median(raw_all), raw_all)
    results.notes["training"] = (
        f"{len(setup.train)} training rows"
        + (" (the first repeat is the registered model's own fit inside train_run)"
           if setup.registered_fit is not None else "")
        + f"; {len(calls)} lightgbm.train calls per fit "
        f"({len(calls) - len(finals)} CV folds with early stopping, {len(finals)} final "
        f"boosters); num_threads {setup.config.model.params.get('num_threads', 'default')} "
        "as in the experiment config")


def bench_batch_predict(setup: Setup, results: Results) -> tuple[Any, Any]:
    """Returns the pyfunc model and its estimator (the same boosters for every later figure)."""
    import mlflow

    from ssi_model.tracking.batch import to_model_input

    started = time.perf_counter()
    model = mlflow.pyfunc.load_model(setup.model_uri)
    load_seconds = time.perf_counter() - started
    estimator = model.unwrap_python_model().estimator  # type: ignore[attr-defined]
    rows = tiled(setup.clean, setup.sizes.predict_rows)
    frame = to_model_input(rows).reset_index(drop=True)
    model.predict(frame.head(100))  # warm-up
    with recording_predictions(estimator) as calls:
        estimator.predict(rows)
    times, raw = interleaved(lambda: model.predict(frame), lambda: replay_predictions(calls),
                             setup.sizes.repeats)
    n = len(frame)
    results.put("predict_rows_per_s", n / median(times), [n / t for t in times])
    results.put("raw_predict_rows_per_s", n / median(raw), [n / t for t in raw])
    results.notes["predict"] = (
        f"{n} rows; pyfunc load (from the registry) {load_seconds:.2f} s; raw: the same "
        f"{len(calls)} Booster.predict calls on the same feature matrices")
    return model, estimator


def bench_explain(setup: Setup, estimator: Any, results: Results) -> list[Any]:
    from ssi_model.explain import explain_rows

    rows = setup.clean.head(setup.sizes.explain_members).reset_index(drop=True)
    docs: list[Any] = []

    def work() -> None:
        docs[:] = explain_rows(estimator, rows)

    with recording_predictions(estimator) as calls:
        explain_rows(estimator, rows)
    times, raw = interleaved(work, lambda: replay_predictions(calls), setup.sizes.repeats)
    n = len(rows)
    results.put("explain_members_per_s", n / median(times), [n / t for t in times])
    results.put("raw_explain_members_per_s", n / median(raw), [n / t for t in raw])
    contrib = sum(1 for c in calls if c.kwargs.get("pred_contrib"))
    results.notes["explain"] = (
        f"{n} members; raw: the same {len(calls)} Booster.predict calls ({contrib} SHAP "
        f"pred_contrib, {sum(len(c.data) for c in calls)} rows scored in all)")
    return docs


def bench_report(docs: list[Any], sizes: Sizes, results: Results, work_dir: Path) -> None:
    key = ["report_members_per_s"]
    try:
        from ssi_model.report import write_reports
    except ImportError as exc:
        results.missing(key, f"ssi_model.report.write_reports is not importable yet ({exc})")
        return
    if not docs:
        results.missing(key, "no explanations to render (the explain figure failed)")
        return
    docs = (docs * math.ceil(sizes.report_members / len(docs)))[: sizes.report_members]
    counter = iter(range(1_000_000))
    times = timed(lambda: write_reports(docs, work_dir / f"reports-{next(counter)}"),
                  sizes.repeats)
    n = len(docs)
    results.put("report_members_per_s", n / median(times), [n / t for t in times])
    results.notes["report"] = (
        f"{n} members: one HTML page each plus the cohort index, from ready explanations (add "
        "the explain figure for the end-to-end cost; raw LightGBM does no part of this work)")


def bench_raw_single(setup: Setup, estimator: Any, results: Results) -> None:
    """The floor: the raw boosters' calls for one row, in-process."""
    from ssi_model.explain import explain_rows

    n = min(setup.sizes.requests, 2000)
    rows = tiled(setup.clean, n)
    features = estimator.features(rows).to_numpy(dtype=float)
    with recording_predictions(estimator) as calls:
        for i in range(min(n, 200)):
            estimator.predict_matrix(features[i:i + 1])
    per_row = len(calls) // min(n, 200)
    singles = [calls[i * per_row:(i + 1) * per_row] for i in range(min(n, 200))]
    latencies = []
    for i in range(n):
        started = time.perf_counter()
        replay_predictions(singles[i % len(singles)])
        latencies.append((time.perf_counter() - started) * 1000)
    results.put("raw_single_predict_p50_ms", float(np.percentile(latencies, 50)))

    from ssi_model.contract import CONTRACT

    members = min(max(10, setup.sizes.requests // 40), 50, len(setup.clean))
    records = CONTRACT.to_records(setup.clean.head(members))  # as the API hands profiles over
    recorded, whole = [], []
    for i in range(members):
        row = records[i:i + 1]
        started = time.perf_counter()
        explain_rows(estimator, row)
        whole.append((time.perf_counter() - started) * 1000)
        with recording_predictions(estimator) as one:
            explain_rows(estimator, row)
        recorded.append(one)
    results.put("explain_single_p50_ms", float(np.percentile(whole, 50)))
    latencies = []
    for i in range(max(setup.sizes.repeats * members, 100)):
        started = time.perf_counter()
        replay_predictions(recorded[i % members])
        latencies.append((time.perf_counter() - started) * 1000)
    results.put("raw_single_explain_p50_ms", float(np.percentile(latencies, 50)))
    results.notes["raw_single"] = (
        f"predict: {per_row} Booster.predict calls on one feature row, {n} times; explain: one "
        f"member's recorded SHAP and lever calls, {len(latencies)} times over {members} members; "
        f"explain_rows on one member's record (the API's path): once each for the same "
        f"{members} members")


# -- servers -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerError(RuntimeError):
    pass


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def _stop(process: subprocess.Popen[bytes]) -> None:
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
                                      f"{_tail(self.log_path)}")
                if time.perf_counter() > deadline:
                    raise ServerError(f"{self.name} not ready after {timeout:.0f} s: "
                                      f"{_tail(self.log_path)}")
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
            _stop(self.process)
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


# -- requests ------------------------------------------------------------------------------------


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


API_KEYS = ["api_predict_p50_ms", "api_predict_p99_ms", "api_explain_p50_ms",
            "api_explain_p99_ms", "api_load_errors", "api_load_requests", "api_load_rps",
            "api_load_p50_ms", "api_load_p99_ms"]
MLFLOW_SERVE_KEYS = ["mlflow_serve_predict_p50_ms", "mlflow_serve_predict_p99_ms"]


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


def mlflow_server(model_uri: str, store: Path, log_dir: Path,
                  started: list[dict[str, Any]]) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri,
               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    return Server("mlflow-serve", command, server_env(store), port, ["/ping", "/health"],
                  log_dir, started)


def bench_api(setup: Setup, api: Server, results: Results) -> None:
    from ssi_model.contract import CONTRACT

    sizes = setup.sizes
    pool = setup.clean.head(min(500, len(setup.clean)))
    bodies = [json.dumps({"profiles": [profile]}).encode()
              for profile in CONTRACT.to_records(pool, for_json=True)]
    base = api.wait_ready()
    p50, p99, errors, predicted = sequential(base, "/v1/predict", bodies, sizes.requests,
                                             sizes.repeats, sizes.request_seconds)
    if errors == len(predicted):
        raise ServerError(f"every /v1/predict request failed: {_tail(api.log_path)}")
    results.put("api_predict_p50_ms", median(p50), p50)
    results.put("api_predict_p99_ms", median(p99), p99)
    p50, p99, explain_errors, explained = sequential(
        base, "/v1/explain", bodies, sizes.requests, sizes.repeats, sizes.explain_request_seconds)
    results.put("api_explain_p50_ms", median(p50), p50)
    results.put("api_explain_p99_ms", median(p99), p99)
    log(f"api: {sizes.load_clients} clients for {sizes.load_seconds:g} s on /v1/predict")
    load = load_test(base, "/v1/predict", bodies, sizes.load_clients, sizes.load_seconds)
    results.put("api_load_errors", int(load["errors"]))
    results.put("api_load_requests", int(load["requests"]))
    results.put("api_load_rps", load["rps"])
    results.put("api_load_p50_ms", load["p50_ms"])
    results.put("api_load_p99_ms", load["p99_ms"])
    results.notes["api"] = (
        f"`ssi_model.api.serve` under uvicorn, one worker, loopback, {api.ready_text()} "
        "(the champion loaded from the registry); "
        f"{len(predicted)} sequential single-profile /v1/predict requests (at most "
        f"{sizes.requests} or {sizes.request_seconds:g} s) and {len(explained)} /v1/explain "
        f"ones (at most {sizes.requests} or {sizes.explain_request_seconds:g} s), "
        f"after {WARM_UP_REQUESTS} warm-up requests each; failed: predict {errors}, explain "
        f"{explain_errors}; p50/p99 are medians over {sizes.repeats} blocks; load: "
        f"{sizes.load_clients} concurrent asyncio clients with a connection each for "
        f"{sizes.load_seconds:g} s, request timeout {REQUEST_TIMEOUT_SECONDS:g} s; "
        "sequential client: http.client on one keep-alive connection, load clients: httpx")


def bench_mlflow_serve(setup: Setup, mlflow_serve: Server, results: Results) -> None:
    from ssi_model.tracking.batch import to_model_input

    sizes = setup.sizes
    frame = to_model_input(setup.clean.head(min(500, len(setup.clean)))).reset_index(drop=True)
    bodies = [json.dumps({"dataframe_records": [mlflow_record(frame, i)]}).encode()
              for i in range(len(frame))]
    base = mlflow_serve.wait_ready()
    p50, p99, errors, served = sequential(base, "/invocations", bodies, sizes.requests,
                                          sizes.repeats, sizes.request_seconds)
    if errors == len(served):
        raise ServerError(f"every /invocations request failed: {_tail(mlflow_serve.log_path)}")
    results.put("mlflow_serve_predict_p50_ms", median(p50), p50)
    results.put("mlflow_serve_predict_p99_ms", median(p99), p99)
    results.notes["mlflow_serve"] = (
        f"`mlflow models serve -m {setup.model_uri} --env-manager local -w 1`, "
        f"{mlflow_serve.ready_text()}; {len(served)} single-row dataframe_records requests "
        f"to /invocations (at most {sizes.requests} or {sizes.request_seconds:g} s; failed: "
        f"{errors})")


# -- the machine and the report ------------------------------------------------------------------


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


def _fmt(value: float | int | None, unit: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) or unit == "requests":
        return f"{int(value):,}"
    if unit in ("rows/s", "members/s", "requests/s"):
        return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def markdown(payload: dict[str, Any]) -> str:
    figures, ratios = payload["figures"], payload["ratios"]
    rows = [
        ("training (fit_estimator)", "train_seconds_20k", "raw_train_seconds_20k",
         "train_vs_raw_final_boosters"),
        ("… against every lightgbm.train call of the fit", "train_seconds_20k",
         "raw_train_all_seconds_20k", "train_vs_raw_all_boosters"),
        ("batch predict (registered pyfunc)", "predict_rows_per_s", "raw_predict_rows_per_s",
         "predict_vs_raw"),
        ("explain: drivers, levers, plan", "explain_members_per_s", "raw_explain_members_per_s",
         "explain_vs_raw"),
        ("coach reports (HTML)", "report_members_per_s", None, None),
        ("API /v1/predict, one profile, p50", "api_predict_p50_ms", "raw_single_predict_p50_ms",
         "api_predict_vs_raw_single"),
        ("API /v1/predict, p99", "api_predict_p99_ms", None, None),
        ("API /v1/explain, one profile, p50", "api_explain_p50_ms", "raw_single_explain_p50_ms",
         "api_explain_vs_raw_single"),
        ("API /v1/explain, p99", "api_explain_p99_ms", None, None),
        ("explain_rows on one member, in-process, p50", "explain_single_p50_ms",
         "raw_single_explain_p50_ms", "explain_single_vs_raw_single"),
        ("mlflow models serve /invocations, p50", "mlflow_serve_predict_p50_ms",
         "raw_single_predict_p50_ms", "mlflow_serve_vs_raw_single"),
        ("mlflow models serve, p99", "mlflow_serve_predict_p99_ms", None, None),
        ("API under load: failed requests", "api_load_errors", None, None),
        ("API under load: requests served", "api_load_requests", None, None),
        ("API under load: throughput", "api_load_rps", None, None),
        ("API under load: p50 / p99", "api_load_p50_ms", None, None),
    ]
    sizes = payload["sizes"]
    lines = [
        "# ssi-model benchmarks",
        "",
        f"Mode **{payload['mode']}**, {payload['finished_at']}, {payload['seconds']:.0f} s in all. "
        f"Machine: {payload['machine']['cores']} cores, {payload['machine']['cpu_model']}, "
        f"Python {payload['machine']['python']}; load average at start / end "
        f"{payload['machine']['load_average_1_5_15']} / {payload['load_average_at_end']} "
        "(a shared machine: read the ratios, measured in the same run, before the absolute "
        "figures).",
        "",
        f"Sizes: {sizes['train_rows']:,} training rows, {sizes['predict_rows']:,} prediction rows, "
        f"{sizes['explain_members']:,} explained and {sizes['report_members']:,} reported "
        f"members, {sizes['requests']:,} requests per endpoint, {sizes['load_clients']} clients "
        f"for {sizes['load_seconds']:g} s. Figures are medians of {sizes['repeats']} repeats "
        f"({sizes['train_repeats']} for training, {sizes['train_all_repeats']} for the replay "
        "of every lightgbm.train call of a fit).",
        "",
        "| figure | ours | raw LightGBM, same work | × slower than raw |",
        "|---|---:|---:|---:|",
    ]
    for label, ours, raw, ratio in rows:
        unit = FIGURES[ours]
        value = _fmt(figures.get(ours), unit)
        if ours == "api_load_p50_ms":
            value = (f"{_fmt(figures.get(ours), 'ms')} / "
                     f"{_fmt(figures.get('api_load_p99_ms'), 'ms')}")
        raw_text = f"{_fmt(figures.get(raw), FIGURES[raw])} {FIGURES[raw]}" if raw else ""
        ratio_value = ratios.get(ratio) if ratio else None
        lines.append(f"| {label} | {value} {unit} | {raw_text} | "
                     f"{'' if ratio_value is None else f'{ratio_value:g}×'} |")
    extra = ratios.get("mlflow_serve_vs_api_predict")
    if extra is not None:
        lines += ["", f"`mlflow models serve` answers a single profile {extra:g}× slower than "
                      "the API (p50)."]
    extra = ratios.get("api_explain_vs_in_process")
    if extra is not None:
        lines += ["", f"An explanation through the API takes {extra:g}× the time of "
                      "`explain_rows` on the same single member in-process (p50)."]
    if payload["notes"]:
        lines += ["", "## How each figure was measured", ""]
        lines += [f"- **{k}**: {v}" for k, v in payload["notes"].items()]
    if payload["unavailable"]:
        lines += ["", "## Not measured", ""]
        lines += [f"- `{k}`: {v}" for k, v in payload["unavailable"].items()]
    lines += ["", "## Versions", "",
              ", ".join(f"{k} {v}" for k, v in payload["versions"].items() if v), ""]
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------


def run(sizes: Sizes, mode: str, out: Path, keep_store: bool) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ssi-bench-"))
    store = work / "store"
    store.mkdir()
    log_dir = work / "logs"
    log_dir.mkdir()
    results = Results()
    started_servers: list[dict[str, Any]] = []
    info = machine()
    log(f"{mode} benchmark; work folder {work}; {info['cores']} cores, {info['cpu_model']}")
    try:
        setup = prepare(sizes, store, work)
        log(f"registered {setup.model_uri} ({setup.register_seconds:.0f} s, "
            f"{setup.n_train_registered} training rows), champion in the benchmark's store")
        with section(results, ["train_seconds_20k", "raw_train_seconds_20k",
                               "raw_train_all_seconds_20k"], "training"):
            bench_training(setup, results)
        estimator = None
        with section(results, ["predict_rows_per_s", "raw_predict_rows_per_s",
                               "explain_members_per_s", "raw_explain_members_per_s",
                               "raw_single_predict_p50_ms", "raw_single_explain_p50_ms",
                               "explain_single_p50_ms"], "batch prediction"):
            _, estimator = bench_batch_predict(setup, results)
        docs: list[Any] = []
        if estimator is not None:
            with section(results, ["explain_members_per_s", "raw_explain_members_per_s"],
                         "explanations"):
                docs = bench_explain(setup, estimator, results)
            with section(results, ["raw_single_predict_p50_ms", "raw_single_explain_p50_ms",
                                   "explain_single_p50_ms"], "single-row floor"):
                bench_raw_single(setup, estimator, results)
        with section(results, ["report_members_per_s"], "coach reports"):
            bench_report(docs, sizes, results, work)

        # Both servers start together (their start-up overlaps; an idle server costs nothing),
        # then each is measured alone, and stopped.
        servers: list[Server] = []
        try:
            reason = api_unavailable()
            api = None
            if reason is None:
                api = api_server(store, log_dir, started_servers)
                servers.append(api.start())
            else:
                results.missing(API_KEYS, reason)
            mlflow_serve = mlflow_server(setup.model_uri, store, log_dir, started_servers)
            servers.append(mlflow_serve.start())
            if api is not None:
                with section(results, API_KEYS, "API"):
                    bench_api(setup, api, results)
                api.stop()
            with section(results, MLFLOW_SERVE_KEYS, "mlflow models serve"):
                bench_mlflow_serve(setup, mlflow_serve, results)
        finally:
            for running in servers:
                running.stop()
        model_uri: str | None = setup.model_uri
    except Exception as exc:  # the setup failed: nothing could be measured
        traceback.print_exc(file=sys.stderr)
        results.missing(list(FIGURES), f"setup failed: {type(exc).__name__}: {exc}"[:600])
        model_uri = None
    finally:
        if keep_store:
            log(f"kept the benchmark's MLflow store and server logs in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    results.missing(list(FIGURES), "not measured (an earlier step failed; see the log)")
    payload: dict[str, Any] = {
        **results.figures,
        "unavailable": results.unavailable,
        "ratios": results.ratios(),
        "repeats": results.repeats,
        "notes": results.notes,
        "mode": mode,
        "sizes": dataclasses.asdict(sizes),
        "machine": info,
        "load_average_at_end": ([round(x, 2) for x in os.getloadavg()]
                                if hasattr(os, "getloadavg") else None),
        "versions": versions(),
        "model_uri": model_uri,
        "servers": started_servers,
        "seconds": round(time.perf_counter() - _STARTED, 1),
        "finished_at": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    _clean_nan(payload)
    payload["figures"] = {k: payload[k] for k in FIGURES}
    (out / "results.json").write_text(json.dumps(payload, indent=1, allow_nan=False,
                                                 default=_json_default), encoding="utf-8")
    (out / "results.md").write_text(markdown(payload), encoding="utf-8")
    return payload


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _clean_nan(payload: dict[str, Any]) -> None:
    for key in FIGURES:
        value = payload.get(key)
        if isinstance(value, float) and not math.isfinite(value):
            payload[key] = None
            payload["unavailable"][key] = "no measurement (no successful request)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run on small sizes (under 3 minutes on 2 cores)")
    parser.add_argument("--smoke", action="store_true",
                        help="every code path on tiny sizes, for the tests (figures mean nothing)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder for results.json and results.md (default: benchmarks/)")
    parser.add_argument("--keep-store", action="store_true",
                        help="keep the temporary MLflow store and server logs")
    args = parser.parse_args(argv)

    def interrupted(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through the finally blocks: servers stop

    signal.signal(signal.SIGTERM, interrupted)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    payload = run({"smoke": SMOKE, "quick": QUICK, "full": FULL}[mode], mode, args.out,
                  args.keep_store)
    print(markdown(payload))
    print(f"\nwritten: {args.out / 'results.json'}, {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
