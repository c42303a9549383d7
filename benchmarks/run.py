"""Every speed figure of ssi-model, each against raw LightGBM doing the same work in the same run.

    python -m benchmarks.run [--quick] [--out DIR] [--keep-store]      (make bench [QUICK=1])

The machines are shared, so absolute timings are noisy; what carries over between runs is the
ratio against the raw LightGBM boosters doing the same work in the same run, and the median of
repeats. "The same work" is measured, not guessed: the benchmark records the exact calls our code
makes to LightGBM (``lightgbm.train`` during training, ``Booster.predict`` during explanation)
and replays them on the raw boosters; predictions go through our compiled trees
(``ssi_model.model.trees``), and each of their calls is recorded as the ``Booster.predict`` call
(one thread) that gives the same values on the same matrix.

Figures (``results.json``; every one is a number, or null with the reason in ``unavailable``):

- ``train_seconds_20k``: ``fit_estimator`` with ``experiments/default.yaml`` on 20,000 simulated
  training rows (5-fold CV with early stopping, final boosters, conformal intervals, peers);
  ``raw_train_seconds_20k``: ``lightgbm.train`` of the 4 final boosters with the same params and
  rounds on the same feature matrices; ``raw_train_all_seconds_20k``: every ``lightgbm.train``
  call of the fit replayed (CV folds too), so ``train_seconds_20k / raw_train_all_seconds_20k``
  is our overhead on top of LightGBM.
- ``predict_rows_per_s``: ``mlflow.pyfunc.load_model`` of the registered model, then ``predict``
  on a DataFrame of 100,000 rows (reading, features, trees, intervals, rank; the trees walk one
  chunk on a second thread while the next is read: ``SSIEstimator.predict``);
  ``raw_predict_rows_per_s``: the boosters' ``predict`` (one thread, one call after another) on
  the same rows' feature matrices.
- ``spark_predict_rows_per_s``: the same rows from Parquet scored on Spark ``local[2]`` through
  ``mlflow.pyfunc.spark_udf`` (``benchmarks/spark_bench.py``; null when pyspark is not installed:
  ``make env-spark``); ``ratios.spark_predict_vs_pyfunc`` is how many times slower than the
  pyfunc in process. ``benchmarks/spark_scaling.py`` measures 10k to 1M rows.
- ``explain_members_per_s``: drivers, every lever and the plan for 1,000 members
  (``explain_rows``); ``raw_explain_members_per_s``: its SHAP and prediction calls replayed.
- ``report_members_per_s``: coach HTML pages for 1,000 members (``ssi_model.report.write_reports``
  from their explanations).
- ``api_predict_p50_ms`` / ``_p99_ms``, ``api_explain_p50_ms`` / ``_p99_ms``: 2,000 sequential
  single-profile requests on loopback to the API (``ssi_model.api.serve``) in its own uvicorn
  process, one worker; ``mlflow_serve_predict_p50_ms`` / ``_p99_ms``: the same requests to
  ``mlflow models serve --env-manager local`` of the same registered version;
  ``raw_single_predict_p50_ms`` / ``raw_single_explain_p50_ms``: the raw boosters' calls for one
  row in-process (the floor); ``http_floor_p50_ms``: the same /v1/predict requests answered by
  a bare uvicorn app with a fixed body (``benchmarks/http_floor.py``), the transport's share.
- ``api_load_errors``: failed requests while 32 concurrent connections (``wrk`` when installed,
  ``make system-deps``) post single profiles to
  ``/v1/predict`` for 30 s (also: requests, throughput and latency under load).

Everything runs against a temporary MLflow store (a model is trained and registered there
first, and made champion for the API); servers listen on free loopback ports and are always
stopped. ``--quick`` is a smoke run on small sizes.

This module orchestrates; the parts are ``setup`` (the data and the registered model),
``lightgbm_floor`` (recording our LightGBM calls and replaying them raw), ``measure`` (each
figure), ``processes`` (server processes), ``load`` (request generation), ``results`` (figures,
ratios, the machine) and ``markdown`` (results.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from benchmarks.common import DEFAULT_OUT, FULL, QUICK, SMOKE, STARTED, Sizes, log
from benchmarks.markdown import markdown
from benchmarks.measure import (
    bench_api,
    bench_batch_predict,
    bench_explain,
    bench_http_floor,
    bench_mlflow_serve,
    bench_raw_single,
    bench_report,
    bench_spark_predict,
    bench_training,
    bench_whatif,
)
from benchmarks.processes import (
    Server,
    api_server,
    api_unavailable,
    floor_server,
    mlflow_server,
)
from benchmarks.results import (
    API_KEYS,
    FIGURES,
    MLFLOW_SERVE_KEYS,
    Results,
    machine,
    section,
    versions,
)
from benchmarks.setup import prepare
from ssi_model.progress import PlainReporter, Reporter, RichReporter


def run(sizes: Sizes, mode: str, out: Path, keep_store: bool) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ssi-bench-"))
    store = work / "store"
    store.mkdir()
    log_dir = work / "logs"
    log_dir.mkdir()
    # A bar (a terminal) or a line (a log) per figure settled. The library's own progress stays
    # off: it would be timed with the figures, and single-member calls would each report.
    console = Console(stderr=True)
    reporter: Reporter = (RichReporter(console) if console.is_terminal
                          else PlainReporter(log, every_seconds=0.0))
    figures = reporter.open("bench", len(FIGURES), "figures")
    results = Results(settled=figures.advance)
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
        with section(results, ["whatif_page_bytes", "whatif_score_ms"], "what-if page"):
            bench_whatif(setup, estimator, docs, results, work)
        with section(results, ["spark_predict_rows_per_s"], "Spark batch scoring"):
            bench_spark_predict(setup, results, work)

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
            floor = floor_server(store, log_dir, started_servers)
            servers.append(floor.start())
            mlflow_serve = mlflow_server(setup.model_uri, store, log_dir, started_servers)
            servers.append(mlflow_serve.start())
            if api is not None:
                with section(results, API_KEYS, "API"):
                    bench_api(setup, api, results)
                api.stop()
            with section(results, ["http_floor_p50_ms"], "loopback HTTP floor"):
                bench_http_floor(setup, floor, results)
            floor.stop()
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
        results.missing(list(FIGURES), "not measured (an earlier step failed; see the log)")
        reporter.close(figures)
        reporter.shutdown()
        if keep_store:
            log(f"kept the benchmark's MLflow store and server logs in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

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
        "seconds": round(time.perf_counter() - STARTED, 1),
        "finished_at": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    _clean_nan(payload)
    payload["figures"] = {k: payload[k] for k in FIGURES}
    # The cost curves are measured apart (benchmarks/cost_curves.py, much longer): shown as they are
    curves = DEFAULT_OUT / "cost_curves.json"
    if curves.exists():
        payload["cost_curves"] = json.loads(curves.read_text(encoding="utf-8"))
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
    parser.add_argument("--smoke", action="store_true",
                        help="every code path on tiny sizes, for the tests (figures mean nothing)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run on small sizes (under 3 minutes on 2 cores)")
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
