"""Spark batch scoring, measured the way the in-process pyfunc is: the registered model on the
same rows, model loading and session start-up left out.

``spark_rows_per_s`` reads typed contract rows from Parquet and scores them through
``mlflow.pyfunc.spark_udf`` (``ssi_model.tracking.spark.score``) into Spark's ``noop`` sink, so
reading, Arrow transfer to the Python workers and the pyfunc are timed, and writing is not.
``pipeline_rows_per_s`` times the whole ``ssi predict --engine spark`` (read, validation with the
cross-row rules, scoring, the sorted Parquet output). Used by ``make bench`` (one figure) and
``benchmarks/spark_scaling.py`` (10k to 1M rows).
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path
from typing import Any

SPARK_MASTER = "local[2]"


def spark_unavailable() -> str | None:
    """Why Spark cannot be measured here, or None."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (the optional spark extra: `make env-spark`)"
    return None


def session() -> Any:
    from ssi_model.tracking.spark import spark_session

    return spark_session(SPARK_MASTER, app_name="ssi-model-bench",
                         conf={"spark.sql.shuffle.partitions": "4"})


def spark_rows_per_s(spark: Any, model_folder: str, parquet: Path,
                     repeats: int) -> tuple[int, list[float]]:
    """Rows and the seconds of each repeat: read, spark_udf, noop sink."""
    from ssi_model.tracking.spark import INPUTS, read_rows, score

    frame = read_rows(spark, str(parquet))
    frame = frame.select(*[c for c in INPUTS if c in frame.columns])
    n = frame.count()
    scored = score(spark, frame, model_folder)
    scored.limit(100).collect()  # warm-up: Python workers started, model loaded in them
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        scored.write.format("noop").mode("overwrite").save()
        times.append(time.perf_counter() - started)
    return n, times


def pipeline_rows_per_s(spark: Any, registry: Any, rows: Path, out: Path) -> tuple[int, float]:
    """Rows read and the seconds of one whole ``predict_on_spark`` (validation, scoring, output)."""
    from ssi_model.tracking.spark import predict_on_spark

    started = time.perf_counter()
    result = predict_on_spark(spark, registry, str(rows), str(out))
    return result.n_read, time.perf_counter() - started


def download(model_uri: str, dst: str | None = None) -> str:
    """The pyfunc folder of ``model_uri`` (the environment's tracking URI), downloaded."""
    import mlflow

    return str(mlflow.artifacts.download_artifacts(
        artifact_uri=model_uri, dst_path=dst or tempfile.mkdtemp(prefix="ssi-bench-model-")))
