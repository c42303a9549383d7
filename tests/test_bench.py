"""The benchmark's smoke run (`python -m benchmarks.run --smoke`: the quick run's code paths on
tiny sizes) measures every speed figure, or says why it could not.

Only the shape of the results is checked here: how fast anything is belongs to the benchmark
itself (`make bench`), never to a test.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FIGURES = [
    "train_seconds_20k", "raw_train_seconds_20k", "raw_train_all_seconds_20k",
    "predict_rows_per_s", "raw_predict_rows_per_s",
    "explain_members_per_s", "raw_explain_members_per_s",
    "report_members_per_s",
    "api_predict_p50_ms", "api_predict_p99_ms", "api_explain_p50_ms", "api_explain_p99_ms",
    "mlflow_serve_predict_p50_ms", "mlflow_serve_predict_p99_ms",
    "raw_single_predict_p50_ms", "raw_single_explain_p50_ms", "explain_single_p50_ms",
    "api_load_errors", "api_load_requests", "api_load_rps", "api_load_p50_ms", "api_load_p99_ms",
    "http_floor_p50_ms",
]
ALWAYS_MEASURED = [
    # in-process figures of code that exists: these must never be null
    "train_seconds_20k", "raw_train_seconds_20k", "predict_rows_per_s", "raw_predict_rows_per_s",
    "explain_members_per_s", "raw_explain_members_per_s", "raw_single_predict_p50_ms",
    "mlflow_serve_predict_p50_ms", "http_floor_p50_ms",
]
TIMEOUT_SECONDS = 600  # the smoke run takes about a minute on a quiet 2-core machine


@pytest.fixture(scope="session")  # session: built once per worker even if other files interleave
def quick_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("bench")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "results.md").is_file()
    results: dict[str, object] = json.loads((out / "results.json").read_text())
    results["_markdown"] = (out / "results.md").read_text()
    results["_log"] = done.stderr
    return results


def test_every_figure_is_a_number_or_null_with_a_reason(quick_results: dict[str, object]) -> None:
    unavailable = quick_results["unavailable"]
    assert isinstance(unavailable, dict)
    for key in FIGURES:
        value = quick_results[key]
        if value is None:
            assert str(unavailable.get(key, "")).strip(), f"{key} is null without a reason"
        else:
            assert isinstance(value, int | float) and not isinstance(value, bool), key
            assert math.isfinite(value) and value >= 0, key
            assert key not in unavailable, key
    for key in ALWAYS_MEASURED:
        assert quick_results[key] is not None, (key, unavailable.get(key))


def test_figures_are_medians_of_repeats_with_ratios_against_raw_lightgbm(
    quick_results: dict[str, object],
) -> None:
    repeats = quick_results["repeats"]
    assert isinstance(repeats, dict)
    for key in ("predict_rows_per_s", "raw_predict_rows_per_s", "explain_members_per_s"):
        assert len(repeats[key]) >= 3, key
    ratios = quick_results["ratios"]
    assert isinstance(ratios, dict)
    assert ratios["predict_vs_raw"] is not None and ratios["predict_vs_raw"] > 0
    assert ratios["train_vs_raw_final_boosters"] is not None
    assert ratios["explain_vs_raw"] is not None and ratios["explain_vs_raw"] > 0
    assert quick_results["mode"] == "smoke"
    assert quick_results["sizes"]["train_rows"] == 400  # type: ignore[index]


def test_machine_and_versions_are_recorded(quick_results: dict[str, object]) -> None:
    machine = quick_results["machine"]
    assert isinstance(machine, dict)
    assert machine["cores"] == os.cpu_count()
    assert machine["cpu_model"]
    versions = quick_results["versions"]
    assert isinstance(versions, dict)
    assert versions["lightgbm"] and versions["mlflow"]
    markdown = str(quick_results["_markdown"])
    assert "× slower than raw" in markdown
    # results.md is what the README quotes: it must say when and on what it was measured
    assert f"- **Date**: {quick_results['finished_at']}" in markdown
    assert f"{machine['cores']} cores, {machine['cpu_model']}" in markdown


def test_results_md_states_the_date_and_the_machine() -> None:
    """Fast: the Markdown of a results payload, without running the benchmark."""
    import dataclasses

    from benchmarks.common import QUICK
    from benchmarks.markdown import markdown
    from benchmarks.results import FIGURES as KNOWN
    from benchmarks.results import Results, machine, versions

    results = Results()
    results.put("train_seconds_20k", 12.0, [12.0, 13.0])
    results.put("raw_train_seconds_20k", 3.0)
    results.missing(list(KNOWN), "not measured in this test")
    info = machine()
    text = markdown({
        "figures": dict(results.figures), "ratios": results.ratios(), "notes": {},
        "unavailable": results.unavailable, "mode": "quick", "sizes": dataclasses.asdict(QUICK),
        "machine": info, "load_average_at_end": None, "versions": versions(), "seconds": 1.0,
        "finished_at": "2026-12-02 18:00:00 +0100"})
    assert "- **Date**: 2026-12-02 18:00:00 +0100" in text
    assert f"- **Machine**: {info['cores']} cores, {info['cpu_model']}, {info['platform']}" in text
    assert "| training (fit_estimator) | 12.00 s | 3.00 s | 4× |" in text


def test_the_benchmark_stopped_every_server_it_started(quick_results: dict[str, object]) -> None:
    servers = quick_results["servers"]
    assert isinstance(servers, list) and servers  # at least mlflow models serve
    for server in servers:
        with pytest.raises(ProcessLookupError):
            os.killpg(server["pid"], 0)  # no process left in the server's own group


# -- cost curves (benchmarks/cost_curves.py) ----------------------------------------------------

def _curve(n_points: int) -> dict[str, object]:
    return {"points": [{"n": 10 ** (k + 2), "seconds": 1.5 * (k + 1), "cpu_seconds": 1.0 * (k + 1),
                        "peak_rss_mb": 100.0 * (k + 1), "per_s": 10.0 ** (k + 2) / (1.5 * (k + 1)),
                        "per_cpu_s": 10.0 ** (k + 2) / (k + 1)} for k in range(n_points)],
            "unit": "rows", "rate": "rows/s", "title": "Batch scoring", "mode": "full",
            "measured_at": "2026-12-03 04:00:00 +0000", "load_average_at_start": [1.0, 1.0, 1.0],
            "load_average_at_end": [2.0, 1.0, 1.0], "seconds": 9.0}


def test_the_cost_curves_section_is_replaced_in_results_md_not_repeated() -> None:
    from benchmarks.markdown import with_cost_curves

    page = "# ssi-model benchmarks\n\n| figure |\n\n## Versions\n\nlightgbm 4.7.0\n"
    once = with_cost_curves(page, {"predict": _curve(1)})
    twice = with_cost_curves(once, {"predict": _curve(2)})
    assert twice.count("## Cost curves") == 1 and twice.index("## Cost curves") < twice.index(
        "## Versions")
    assert "| 100 | 1.50 (1.00) | 66.7 (100) | 100 MB |" in twice
    assert "| 1,000 | 3.00 (2.00) | 333 (500) | 200 MB |" in twice
    assert "![Batch scoring](cost_predict.png)\n\n## Versions" in twice
    assert twice.endswith("lightgbm 4.7.0\n")


def test_a_cost_curve_point_measures_its_own_peak_memory_not_its_parents() -> None:
    """ru_maxrss survives exec on Linux (a child reports at least its parent's peak); the
    points read VmHWM, which a new process starts afresh."""
    if not Path("/proc/self/status").exists():
        pytest.skip("VmHWM is Linux's")
    import numpy as np
    from benchmarks.cost_curves import _peak_mb

    ballast = np.ones(400 * 2**20 // 8)  # 400 MB resident in this process
    child = subprocess.run(
        [sys.executable, "-c", "from benchmarks.cost_curves import _peak_mb; print(_peak_mb())"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert _peak_mb() > 400 and float(child.stdout) < 300
    del ballast
