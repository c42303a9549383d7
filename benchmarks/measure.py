"""Each figure: ours, and raw LightGBM doing the same work, in the same run."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    REQUEST_TIMEOUT_SECONDS,
    SMOKE,
    WARM_UP_REQUESTS,
    Sizes,
    interleaved,
    log,
    median,
    timed,
)
from benchmarks.lightgbm_floor import (
    recording_predictions,
    recording_training,
    replay_predictions,
    replay_training,
)
from benchmarks.load import load_test, mlflow_record, sequential, wrk_available, wrk_load
from benchmarks.processes import Server, ServerError, tail
from benchmarks.results import Results
from benchmarks.setup import Setup, tiled


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
        f"{n} rows; pyfunc load (from the registry) {load_seconds:.2f} s; ours: the compiled "
        "trees walk one chunk of rows on a worker thread while the main thread reads the next "
        "chunk and makes the last one's table (two threads on 2 cores); raw: the same "
        f"{len(calls)} Booster.predict calls (num_threads=1, one after another) on the same "
        "feature matrices")
    return model, estimator


def bench_spark_predict(setup: Setup, results: Results, work_dir: Path) -> None:
    """Spark (local[2]) scoring the rows of ``predict_rows_per_s`` through spark_udf."""
    from benchmarks.spark_bench import download, session, spark_rows_per_s, spark_unavailable

    key = ["spark_predict_rows_per_s"]
    reason = spark_unavailable()
    if reason is None and setup.sizes == SMOKE:
        reason = ("not measured in the smoke run (a JVM and Python workers); the Spark code is "
                  "tested by `make test-scale`")
    if reason is not None:
        results.missing(key, reason)
        return
    from ssi_model.io import write_table

    path = write_table(tiled(setup.clean, setup.sizes.predict_rows),
                       work_dir / "spark-rows.parquet")
    folder = download(setup.model_uri)
    spark = session()
    try:
        n, times = spark_rows_per_s(spark, folder, path, setup.sizes.repeats)
        partitions = spark.read.parquet(str(path)).rdd.getNumPartitions()
    finally:
        spark.stop()
    results.put("spark_predict_rows_per_s", n / median(times), [n / t for t in times])
    results.notes["spark"] = (
        f"{n} rows (the rows of predict_rows_per_s) from Parquet in {partitions} partition(s), "
        "scored by mlflow.pyfunc.spark_udf on local[2] into the noop sink; session start and "
        "model load excluded, as the pyfunc load is from predict_rows_per_s; "
        "benchmarks/spark_scaling.md: 10k to 1M rows")


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
        f"pred_contrib, {sum(len(c.data) for c in calls)} rows scored in all), one after "
        f"another on one thread; explain_rows computes its SHAP values on a second thread "
        f"beside the rest, so on 2 cores it can beat the replay")
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


# One re-score in the page, as tests/test_whatif.py times it: the median of 15 batches of 20.
WHATIF_TIMING_JS = """
var rows = arguments[0], times = [], sink = 0;
for (var w = 0; w < 40; w++) { sink += window.ssiWhatIf.score(rows[w % rows.length]).ssi_total; }
for (var b = 0; b < 15; b++) {
  var t0 = performance.now();
  for (var i = 0; i < 20; i++) {
    sink += window.ssiWhatIf.score(rows[(b * 20 + i) % rows.length]).ssi_total;
  }
  times.push((performance.now() - t0) / 20);
}
times.sort(function (a, b) { return a - b; });
return sink === sink ? times[7] : -1;
"""
CHROMIUM = (Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver"))


def bench_whatif(setup: Setup, estimator: Any, docs: list[Any], results: Results,
                 work_dir: Path) -> None:
    """The member page that carries the model: its size, and one re-score in headless Chromium."""
    try:
        from ssi_model.contract import CONTRACT
        from ssi_model.report import render_member
        from ssi_model.report.whatif import for_member
    except ImportError as exc:
        results.missing(["whatif_page_bytes", "whatif_score_ms"], f"not importable ({exc})")
        return
    if estimator is None or not docs:
        results.missing(["whatif_page_bytes", "whatif_score_ms"], "no model or explanations")
        return
    rows = CONTRACT.to_records(setup.clean.head(len(docs)).reset_index(drop=True))
    page = work_dir / "whatif.html"
    page.write_text(render_member(docs[0], whatif=for_member(estimator, rows[0])),
                    encoding="utf-8")
    results.put("whatif_page_bytes", page.stat().st_size)
    missing = [str(p) for p in CHROMIUM if not p.exists()]
    if missing:
        results.missing(["whatif_score_ms"], f"{', '.join(missing)} missing (make system-deps)")
        return
    import shutil
    import tempfile

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    profile = tempfile.mkdtemp(prefix="ssi-bench-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.binary_location = str(CHROMIUM[0])
    driver = webdriver.Chrome(service=Service(str(CHROMIUM[1])), options=options)
    try:
        driver.get(page.as_uri())
        plain = [{k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in r.items()}
                 for r in rows[:50]]
        times = [float(driver.execute_script(WHATIF_TIMING_JS, plain))
                 for _ in range(setup.sizes.repeats)]
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    results.put("whatif_score_ms", median(times), times)
    results.notes["whatif"] = (
        f"a member page with the model ({page.stat().st_size / 1e6:.2f} MB); one re-score "
        "(features, four boosters, intervals, rank) in headless Chromium: median of 15 batches "
        "of 20 scores")


def bench_raw_single(setup: Setup, estimator: Any, results: Results) -> None:
    """The floor: the raw boosters' calls for one row, in-process."""
    from ssi_model.explain import explain_rows

    n = min(setup.sizes.requests, 2000)
    rows = tiled(setup.clean, n)
    features = estimator.features(rows).to_numpy(dtype=float)
    # The floor is LightGBM's own Booster.predict on one row, one call per pillar booster (what
    # the recorder would write down for the estimator's one call of its compiled trees).
    from ssi_model.contract import PILLARS

    index = estimator._block_index()
    boosters = [(estimator.boosters[p], index[p]) for p in PILLARS]
    per_row = len(boosters)
    latencies = []
    for i in range(n):
        row = features[i:i + 1]
        started = time.perf_counter()
        for booster, columns in boosters:
            booster.predict(row[:, columns], num_threads=1)
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
        f"member's recorded SHAP and lever calls, one after another, {len(latencies)} times "
        f"over {members} members; "
        f"explain_rows on one member's record (the API's path): once each for the same "
        f"{members} members")


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
        raise ServerError(f"every /v1/predict request failed: {tail(api.log_path)}")
    results.put("api_predict_p50_ms", median(p50), p50)
    results.put("api_predict_p99_ms", median(p99), p99)
    p50, p99, explain_errors, explained = sequential(
        base, "/v1/explain", bodies, sizes.requests, sizes.repeats, sizes.explain_request_seconds)
    results.put("api_explain_p50_ms", median(p50), p50)
    results.put("api_explain_p99_ms", median(p99), p99)
    log(f"api: {sizes.load_clients} clients for {sizes.load_seconds:g} s on /v1/predict")
    # wrk when installed (`make system-deps`): compiled, so the load generator does not take the
    # server's CPU; the asyncio client is the fallback and measures less than the server can do.
    generator = "wrk" if wrk_available() else "httpx"
    if generator == "wrk":
        load = wrk_load(base, "/v1/predict", bodies[:100], sizes.load_clients, sizes.load_seconds)
    else:
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
        f"{sizes.load_clients} concurrent connections for {sizes.load_seconds:g} s, request "
        f"timeout {REQUEST_TIMEOUT_SECONDS:g} s; sequential client: http.client on one "
        "keep-alive connection; load: "
        + ("wrk (one thread, errors = socket errors, timeouts and non-2xx answers)"
           if generator == "wrk" else "asyncio httpx clients (wrk is not installed)"))


def bench_http_floor(setup: Setup, floor: Server, results: Results) -> None:
    """The API's single-profile requests, sent to a bare uvicorn app (``benchmarks.http_floor``)."""
    from ssi_model.contract import CONTRACT

    sizes = setup.sizes
    pool = setup.clean.head(min(500, len(setup.clean)))
    bodies = [json.dumps({"profiles": [profile]}).encode()
              for profile in CONTRACT.to_records(pool, for_json=True)]
    p50, _, errors, sent = sequential(floor.wait_ready(), "/v1/predict", bodies, sizes.requests,
                                      sizes.repeats, sizes.request_seconds)
    if errors == len(sent):
        raise ServerError(f"every request to the HTTP floor failed: {tail(floor.log_path)}")
    results.put("http_floor_p50_ms", median(p50), p50)
    results.notes["http_floor"] = (
        f"`python -m benchmarks.http_floor`: a bare ASGI app under uvicorn as the API runs it "
        f"(httptools, uvloop, one worker), answering {len(sent)} of the same /v1/predict "
        f"requests with a fixed body of a prediction's size, same client (failed: {errors})")


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
        raise ServerError(f"every /invocations request failed: {tail(mlflow_serve.log_path)}")
    results.put("mlflow_serve_predict_p50_ms", median(p50), p50)
    results.put("mlflow_serve_predict_p99_ms", median(p99), p99)
    results.notes["mlflow_serve"] = (
        f"`mlflow models serve -m {setup.model_uri} --env-manager local -w 1`, "
        f"{mlflow_serve.ready_text()}; {len(served)} single-row dataframe_records requests "
        f"to /invocations (at most {sizes.requests} or {sizes.request_seconds:g} s; failed: "
        f"{errors})")
