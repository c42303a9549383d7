"""How Spark batch scoring scales: 10k, 100k and 1M rows on local[2], against the pyfunc in
process on the same rows. Run by hand, on a quiet machine (it is CPU-heavy for minutes):

    .venv/bin/python -m benchmarks.spark_scaling [--rows 10000 100000 1000000]
        [--out benchmarks/spark_scaling.md]                  (needs `make env-spark`)

A model is trained (2,000 rows) and registered in a temporary MLflow store; the rows are the
simulated cohort tiled to each size (each with its own member_id), written as Parquet. Per size:

- **pyfunc in process**: ``mlflow.pyfunc.load_model(...).predict`` on the rows as a DataFrame
  (what ``predict_rows_per_s`` of ``make bench`` measures);
- **Spark, scoring**: read the Parquet, ``spark_udf`` with the struct result, ``noop`` sink;
- **Spark, whole job**: ``ssi predict --engine spark`` as the command runs it (read, number,
  validate in ``mapInPandas``, exact copies and conflicting snapshots by window aggregation,
  scoring, sorted Parquet output).
Session start-up and model loading are left out of every figure. The table goes to ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import QUICK, log, median, timed
from benchmarks.results import machine

DEFAULT_ROWS = (10_000, 100_000, 1_000_000)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.spark_scaling",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_ROWS))
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().with_name("spark_scaling.md"))
    args = parser.parse_args(argv)

    from benchmarks.spark_bench import (
        download,
        pipeline_rows_per_s,
        spark_rows_per_s,
        spark_unavailable,
    )

    reason = spark_unavailable()
    if reason:
        parser.error(reason)
    import mlflow

    from benchmarks.setup import prepare, tiled
    from ssi_model.io import write_table
    from ssi_model.settings import get_settings
    from ssi_model.tracking.batch import to_model_input
    from ssi_model.tracking.registry import Registry
    from ssi_model.tracking.spark import spark_session

    info = machine()
    work = Path(tempfile.mkdtemp(prefix="ssi-spark-scaling-"))
    table: list[tuple[int, float, float, float, float]] = []
    try:
        store = work / "store"
        store.mkdir()
        setup = prepare(dataclasses.replace(QUICK, train_rows=2_000), store, work)
        model = mlflow.pyfunc.load_model(setup.model_uri)
        folder = download(setup.model_uri, str(work / "model"))
        spark = spark_session("local[2]", app_name="ssi-model-scaling",
                              conf={"spark.driver.memory": "3g",
                                    "spark.sql.shuffle.partitions": "8"})
        try:
            for n in args.rows:
                rows = tiled(setup.clean, n)
                path = write_table(rows, work / f"rows-{n}.parquet")
                frame = to_model_input(rows).reset_index(drop=True)
                repeats = 3 if n <= 100_000 else 1
                model.predict(frame.head(100))
                pyfunc = median(timed(lambda frame=frame: model.predict(frame), repeats))
                del frame, rows
                _, spark_times = spark_rows_per_s(spark, folder, path, repeats)
                read, whole = pipeline_rows_per_s(spark, Registry(get_settings()), path,
                                                  work / f"predictions-{n}.parquet")
                assert read == n, (read, n)
                table.append((n, n / pyfunc, n / median(spark_times), n / whole, whole))
                log(f"{n:,} rows: pyfunc {n / pyfunc:,.0f} rows/s, Spark scoring "
                    f"{n / median(spark_times):,.0f} rows/s, whole job {n / whole:,.0f} rows/s "
                    f"({whole:.1f} s)")
        finally:
            spark.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    lines = [
        "# Spark batch scoring: 10k to 1M rows",
        "",
        f"- **Date**: {time.strftime('%Y-%m-%d %H:%M:%S %z')}",
        f"- **Machine**: {info['cores']} cores, {info['cpu_model']}; load average at start "
        f"{info['load_average_1_5_15']}, at end "
        f"{[round(x, 2) for x in os.getloadavg()]}",
        "- Spark `local[2]` (pyspark, Java 17); the registered pyfunc through "
        "`mlflow.pyfunc.spark_udf` (`env_manager=\"local\"`); medians of 3 repeats up to 100k "
        "rows, 1 at 1M; session start-up and model loading excluded.",
        "",
        "| rows | pyfunc in process | Spark: scoring (spark_udf) | Spark ÷ pyfunc | "
        "Spark: whole `ssi predict --engine spark` | whole job |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for n, pyfunc_rate, spark_rate, whole_rate, whole_s in table:
        lines.append(f"| {n:,} | {pyfunc_rate:,.0f} rows/s | {spark_rate:,.0f} rows/s | "
                     f"{spark_rate / pyfunc_rate:.2f} | {whole_rate:,.0f} rows/s | "
                     f"{whole_s:,.1f} s |")
    lines += ["", "Produced by `python -m benchmarks.spark_scaling` (see its docstring).", ""]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
