"""Cost curves: how training, batch scoring and explanations cost as the work grows.

    python -m benchmarks.cost_curves [--only train,predict,explain] [--quick]
    (make bench-curves)

Each point runs in its own child process, so its peak memory (``ru_maxrss``: the resident set at
its highest, reading the rows included) is that point's alone. The rows are one simulated cohort
(``simulate_cohort`` with the default experiment's seed, validated): the training points are its
first 5k, 20k, 100k and 1M training rows; batch scoring reads its first 10k and 1M rows as a client
would (Parquet through pandas) into the registered pyfunc; explanations are ``explain_rows`` on its
first 100 and 10k members. The model scoring and explaining is trained by ``train_run`` on 20,000
rows, as in ``make bench``. Training uses ``experiments/default.yaml`` unchanged (one thread).

The figures go into ``benchmarks/cost_curves.json`` (committed; ``benchmarks.run`` renders it
into ``results.md`` whenever it rewrites that page), into ``results.json`` under ``cost_curves``,
and into a section of ``results.md`` with a plot per curve (``benchmarks/cost_*.png``). ``--only``
measures some curves and keeps the others' last figures; ``--render`` only redraws.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import DEFAULT_OUT, FULL, ROOT, log
from benchmarks.markdown import with_cost_curves

CURVES: dict[str, dict[str, Any]] = {
    "train": {"sizes": [5_000, 20_000, 100_000, 1_000_000], "unit": "training rows",
              "rate": None, "title": "Training (fit_estimator, default experiment)"},
    "predict": {"sizes": [10_000, 1_000_000], "unit": "rows", "rate": "rows/s",
                "title": "Batch scoring (registered pyfunc, Parquet rows)"},
    "explain": {"sizes": [100, 10_000], "unit": "members", "rate": "members/s",
                "title": "Explanations (drivers, every lever, plan)"},
}
CURVES_FILE = "cost_curves.json"
"""Committed beside results.md (results.json is local): ``benchmarks.run`` renders it too."""
QUICK_SIZES = {"train": [2_000, 5_000], "predict": [1_000, 10_000], "explain": [10, 100]}
CHILD_TIMEOUT_SECONDS = 3 * 3600


# -- the child: one point ------------------------------------------------------------------------

def _peak_mb() -> float:
    """This process's peak resident set (VmHWM). Not ``ru_maxrss``: Linux carries that over
    from the forking parent through exec, so every child would report at least the parent's."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: an upper bound


def _point(curve: str, n: int, work: Path) -> dict[str, Any]:
    """Measure one point in this (child) process."""
    import pandas as pd

    from ssi_model.contract import CONTRACT

    rows = pd.read_parquet(work / f"cohort-{n}.parquet")
    if curve == "train":
        from ssi_model.model.config import load_config
        from ssi_model.model.train import fit_estimator

        rows = CONTRACT.to_typed(rows)
        config = load_config(ROOT / "experiments" / "default.yaml")
        started, cpu = time.perf_counter(), time.process_time()
        fit_estimator(rows, config)
    elif curve == "predict":
        import mlflow

        model = mlflow.pyfunc.load_model((work / "model_uri").read_text(encoding="utf-8"))
        started, cpu = time.perf_counter(), time.process_time()
        model.predict(rows)
    else:
        import mlflow

        from ssi_model.explain import explain_rows

        model = mlflow.pyfunc.load_model((work / "model_uri").read_text(encoding="utf-8"))
        estimator = model.unwrap_python_model().estimator
        rows = CONTRACT.to_typed(rows)
        started, cpu = time.perf_counter(), time.process_time()
        explain_rows(estimator, rows)
    seconds = time.perf_counter() - started
    # CPU seconds beside the wall clock: on a shared machine the wall clock includes waiting
    return {"n": len(rows), "seconds": round(seconds, 3),
            "cpu_seconds": round(time.process_time() - cpu, 3),
            "peak_rss_mb": round(_peak_mb(), 1)}


# -- the parent ----------------------------------------------------------------------------------

def _prepare(work: Path, sizes: dict[str, list[int]], need_model: bool) -> None:
    """The simulated cohort's first n rows for every point (``cohort-{n}.parquet``, so a point
    reads only its own rows) and, when a curve scores, the registered model. What ``work``
    already holds is kept (``--work``: a second run skips the simulation)."""
    import pandas as pd

    from benchmarks.setup import prepare, simulated_rows
    from ssi_model.io import write_table
    from ssi_model.model.config import load_config

    cohort = work / "cohort.parquet"
    largest = max(n for points in sizes.values() for n in points)
    if not cohort.exists() or len(pd.read_parquet(cohort, columns=["member_id"])) < largest:
        started = time.perf_counter()
        config = load_config(ROOT / "experiments" / "default.yaml")
        train, _, clean, n = simulated_rows(config, largest)
        write_table(train, cohort)
        log(f"cohort: {n:,} simulated, {len(clean):,} valid, {len(train):,} training rows "
            f"({time.perf_counter() - started:.0f} s)")
        del train, clean
    wanted = sorted({n for points in sizes.values() for n in points})
    if any(not (work / f"cohort-{n}.parquet").exists() for n in wanted):
        rows = pd.read_parquet(cohort)
        for n in wanted:
            write_table(rows.head(n), work / f"cohort-{n}.parquet")
        del rows
    if need_model and not (work / "model_uri").exists():
        folder = work / "model"
        store = folder / "store"
        store.mkdir(parents=True)
        setup = prepare(FULL, store, folder)
        (work / "model_uri").write_text(setup.model_uri, encoding="utf-8")
        log(f"registered {setup.model_uri} ({setup.register_seconds:.0f} s)")


def _run_child(curve: str, n: int, work: Path) -> dict[str, Any]:
    out = work / f"{curve}-{n}.json"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.cost_curves", "--child", curve, str(n), str(work),
         str(out)],
        cwd=ROOT, env=os.environ.copy(), timeout=CHILD_TIMEOUT_SECONDS, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{curve} at {n}: the child exited with {done.returncode}")
    point: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    point["wall_seconds_with_start"] = round(time.perf_counter() - started, 1)
    return point


def measure(curves: Sequence[str], quick: bool, work_dir: Path | None,
            out: Path) -> dict[str, Any]:
    sizes = {c: (QUICK_SIZES if quick else {k: v["sizes"] for k, v in CURVES.items()})[c]
             for c in curves}
    load_start = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    measured: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ssi-curves-") as folder:
        work = work_dir or Path(folder)
        work.mkdir(parents=True, exist_ok=True)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'model' / 'store' / 'mlflow.db'}"
        _prepare(work, sizes, need_model=bool({"predict", "explain"} & set(curves)))
        for curve in curves:
            points: list[dict[str, Any]] = []
            for n in sizes[curve]:
                point = _run_child(curve, n, work)
                if CURVES[curve]["rate"]:
                    point["per_s"] = round(point["n"] / point["seconds"], 1)
                    point["per_cpu_s"] = round(point["n"] / point["cpu_seconds"], 1)
                log(f"{curve} {n:,}: {point['seconds']:.1f} s, peak {point['peak_rss_mb']:.0f} MB")
                points.append(point)
                measured[curve] = {
                    "points": points, "unit": CURVES[curve]["unit"],
                    "rate": CURVES[curve]["rate"], "title": CURVES[curve]["title"],
                    "mode": "quick" if quick else "full",
                    "measured_at": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                    "load_average_at_start": load_start,
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                    "seconds": round(time.perf_counter() - started, 1)}
                # written after each point: a long run that is stopped keeps what it measured
                write({curve: measured[curve]}, out)
    return measured


def plot(curve: str, data: dict[str, Any], out: Path) -> Path:
    """Time (training) or rate (scoring) against the work, wall clock and CPU, with peak memory
    on the right axis. The CPU line is the steadier one on a shared machine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = data["points"]
    x = [p["n"] for p in points]
    rate = data["rate"]
    wall = [p["per_s"] for p in points] if rate else [p["seconds"] for p in points]
    cpu = [p["per_cpu_s"] for p in points] if rate else [p["cpu_seconds"] for p in points]
    fig, left = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    left.plot(x, wall, "o-", color="#1f5fa8", label=f"{rate or 'seconds'} (wall clock)")
    left.plot(x, cpu, "o:", color="#5b9bd5", label=f"{'per CPU second' if rate else 'CPU seconds'}")
    left.set_xscale("log")
    if rate:
        left.set_ylim(0, max(wall + cpu) * 1.2)
    else:
        left.set_yscale("log")
    left.set_xlabel(data["unit"])
    left.set_ylabel(rate or "seconds", color="#1f5fa8")
    for xi, yi in zip(x, wall, strict=True):
        left.annotate(f"{yi:,.0f}" if yi >= 10 else f"{yi:.2f}", (xi, yi),
                      textcoords="offset points", xytext=(4, 6), fontsize=8)
    right = left.twinx()
    right.plot(x, [p["peak_rss_mb"] for p in points], "s--", color="#c0392b",
               label="peak memory (MB)")
    right.set_ylabel("peak memory (MB)", color="#c0392b")
    right.set_ylim(bottom=0)
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(handles=handles, fontsize=7, loc="lower left" if rate else "upper left")
    left.set_title(f"{data['title']} (simulated cohort)", fontsize=10)
    fig.tight_layout()
    path = out / f"cost_{curve}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def write(measured: dict[str, Any], out: Path) -> None:
    """Merge into ``cost_curves.json`` (committed) and ``results.json`` (when there is one), then
    plot and rewrite the section of ``results.md``."""
    path = out / CURVES_FILE
    curves = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    curves.update(measured)
    path.write_text(json.dumps(curves, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    results = out / "results.json"
    if results.exists():
        payload = json.loads(results.read_text(encoding="utf-8"))
        payload["cost_curves"] = curves
        results.write_text(json.dumps(payload, indent=1, allow_nan=False), encoding="utf-8")
    render(curves, out)


def render(curves: dict[str, Any], out: Path) -> None:
    """The plots, and the cost-curves section of ``results.md`` (the rest left as it is)."""
    for curve, data in curves.items():
        plot(curve, data, out)
    page = out / "results.md"
    if page.exists():
        page.write_text(with_cost_curves(page.read_text(encoding="utf-8"), curves),
                        encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cost_curves", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(CURVES),
                        help="comma-separated curves to measure (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder holding results.json and results.md (default: benchmarks/)")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the simulated cohort and the model in this folder and reuse "
                             "them on the next run (default: a temporary folder)")
    parser.add_argument("--render", action="store_true",
                        help="only redraw the plots and the results.md section from "
                             f"{CURVES_FILE}")
    parser.add_argument("--child", nargs=4, metavar=("CURVE", "N", "WORK", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        curve, n, work, out = args.child
        point = _point(curve, int(n), Path(work))
        Path(out).write_text(json.dumps(point), encoding="utf-8")
        return 0
    if args.render:
        render(json.loads((args.out / CURVES_FILE).read_text(encoding="utf-8")), args.out)
        return 0
    curves = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = set(curves) - set(CURVES)
    if unknown:
        parser.error(f"unknown curves {sorted(unknown)}; choose from {', '.join(CURVES)}")
    measured = measure(curves, args.quick, args.work, args.out)
    print(json.dumps(measured, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
