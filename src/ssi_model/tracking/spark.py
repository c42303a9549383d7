"""Batch scoring and explanations on Spark: the same rows, the same numbers, many machines.

``ssi predict ROWS --out OUT --engine spark`` and ``ssi explain … --engine spark`` call
:func:`predict_on_spark` and :func:`explain_on_spark`. Both run the whole flow on Spark:

1. **read** ROWS: Parquet (a file or a folder of parts) or CSV (a file or a folder of parts; every
   cell read as text, as ``ssi validate`` does), and number the rows 1, 2, … in reading order
   (for one file: the file's order, so ``row`` means what it means in process);
2. **validate** each Arrow batch with :func:`ssi_model.validation.validate` in ``mapInPandas``:
   every rule of the contract on each row. The two rules across rows cannot be checked per batch,
   so they run as Spark window aggregations over the whole input, with the in-process wording:
   *exact copies* (the same text in every cell; a later copy names the first) and *conflicting
   rows* (distinct rows for one ``member_id`` + ``snapshot_date``, the date compared as parsed);
3. **score** the clean rows with the registered pyfunc through ``mlflow.pyfunc.spark_udf`` (a
   struct result with every prediction column), or **explain** them with
   :func:`ssi_model.explain.explain_rows` in ``mapInPandas`` (one JSON document per member);
4. **write** OUT (Spark's layout: a folder of part files, Parquet or CSV by OUT's suffix; JSON
   Lines for explanations) in input order, and the quarantine (every original cell, ``row`` and
   ``reason``) beside it as ``<OUT stem>.quarantine.csv``. rows read = scored + quarantined.

The model is resolved once, on the driver (an alias cannot move during a job), downloaded from
the tracking server and shipped to the executors by Spark: executors need the Python packages
(``pip install ssi-model``), not the tracking server. Paths are strings, so ``s3a://``,
``abfss://`` or ``dbfs:/`` work wherever the cluster can read them.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ssi_model.contract import CONTRACT
from ssi_model.errors import UserError
from ssi_model.explain.schema import ModelInfo
from ssi_model.io import CSV_SUFFIXES, PARQUET_SUFFIXES, InputFileError
from ssi_model.model.estimator import PREDICTION_COLUMNS
from ssi_model.tracking.registry import Registry

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from ssi_model.model.estimator import SSIEstimator

SPARK_HINT = ("pyspark is not installed: `uv sync --frozen --extra spark` (the Spark make "
              "targets do it) or `pip install 'ssi-model[spark]'`")
DEFAULT_MASTER = "local[2]"
ENGINES = ("process", "spark")

# Working columns (dropped before anything is written).
ROW = "__row"
REASON = "__reason"
HASH = "__text"
MEMBER_KEY = "__member_key"
DATE_KEY = "__date_key"
FIRST = "__first"
CONFLICT = "conflicting values for the same member and snapshot"

_SPARK_TYPES = {"int": "bigint", "float": "double", "bool": "boolean", "category": "string",
                "string": "string", "date": "date"}
INPUTS = list(CONTRACT.input_columns)


class SparkUnavailable(UserError, ImportError):
    """pyspark is not installed (it is an optional dependency: the ``spark`` extra)."""


@dataclass(frozen=True)
class SparkRun:
    """What a Spark job read, wrote and quarantined."""

    n_read: int
    n_done: int
    n_quarantined: int
    out: str
    quarantine: str | None
    model: ModelInfo

    def summary(self) -> str:
        return (f"rows read: {self.n_read}, kept: {self.n_done}, quarantined: "
                f"{self.n_quarantined}")


# ---------------------------------------------------------------------------- the session


def spark_session(master: str | None = None, app_name: str = "ssi-model",
                  conf: dict[str, str] | None = None) -> SparkSession:
    """A Spark session for these jobs.

    ``master`` None: the session that is there (Databricks, a notebook) or that ``spark-submit``
    is starting (its ``--master``), else ``local[2]``. A local master runs on the loopback
    interface only, without the web UI, with this Python for the workers and few shuffle
    partitions; a cluster keeps its own settings. Arrow batches everywhere.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailable(SPARK_HINT) from None
    builder = SparkSession.builder.appName(app_name)
    if master is None and SparkSession.getActiveSession() is None and not os.environ.get(
            "PYSPARK_GATEWAY_PORT"):  # set by spark-submit, whose --master then holds
        master = DEFAULT_MASTER
    settings: dict[str, str] = {"spark.sql.execution.arrow.pyspark.enabled": "true",
                                # pandas writes timestamp[ns], which Spark cannot read otherwise
                                "spark.sql.legacy.parquet.nanosAsLong": "true"}
    if master is not None:
        builder = builder.master(master)
        if master.startswith("local"):
            settings.update({
                "spark.ui.enabled": "false",
                "spark.driver.host": "127.0.0.1",
                "spark.driver.bindAddress": "127.0.0.1",
                "spark.sql.shuffle.partitions": "4",
                "spark.python.worker.reuse": "true",
            })
            # Local workers must run this interpreter (its packages); pyspark reads the worker
            # executable only from the environment, not from the session's configuration.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings.update(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if master is not None and master.startswith("local"):
        session.sparkContext.setLogLevel("ERROR")  # a terminal, not a cluster's log files
    return session


# ---------------------------------------------------------------------------- reading


def _suffix_kind(path: str) -> str | None:
    name = path.rstrip("/").rsplit("/", 1)[-1].lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def _kind(spark: SparkSession, path: str) -> str:
    """CSV or Parquet by the path's suffix, or, for a folder without one, by its part files."""
    kind = _suffix_kind(path)
    if kind is not None:
        return kind
    jvm = spark.sparkContext._jvm  # Hadoop's file system: local, HDFS, S3, ABFS alike
    assert jvm is not None
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if fs.exists(hadoop_path) and fs.getFileStatus(hadoop_path).isDirectory():
        kinds = {_suffix_kind(str(s.getPath().getName())) for s in fs.listStatus(hadoop_path)}
        kinds.discard(None)
        if len(kinds) == 1:
            return str(kinds.pop())
    raise InputFileError(f"{path}: not a CSV or Parquet file, nor a folder of CSV or Parquet "
                         f"parts (use one of {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)})")


def read_rows(spark: SparkSession, path: str) -> DataFrame:
    """Contract rows as read, cells uninterpreted (CSV: text; an empty cell is unknown)."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, TimestampNTZType, TimestampType

    kind = _kind(spark, path)
    try:
        if kind == "csv":
            frame = spark.read.csv(path, header=True, inferSchema=False, encoding="UTF-8")
        else:
            frame = spark.read.parquet(path)
    except AnalysisException as exc:
        raise InputFileError(f"{path}: not a readable {kind} input ({exc.getMessage()})") \
            from None
    # pandas writes dates as timestamps (nanoseconds: read as longs, see spark_session).
    for field in frame.schema.fields:
        if field.name in CONTRACT and CONTRACT[field.name].kind == "date":
            if isinstance(field.dataType, LongType):
                days = F.floor(F.col(field.name) / 86_400_000_000_000).cast("int")
                frame = frame.withColumn(field.name, F.date_from_unix_date(days))
            elif isinstance(field.dataType, TimestampType | TimestampNTZType):
                frame = frame.withColumn(field.name, F.to_date(F.col(field.name)))
    missing = [c for c in CONTRACT.required if c not in frame.columns]
    if missing:
        raise InputFileError(f"{path}: missing required column(s): {', '.join(missing)} (a "
                             f"contract file needs at least {', '.join(CONTRACT.required)})")
    return frame


def _numbered(frame: DataFrame) -> DataFrame:
    """Each row's 1-based position in reading order (``row``), without a Python pass.

    ``monotonically_increasing_id`` holds the partition in its upper 31 bits and the position
    within the partition in the lower 33; one count per partition gives each partition's offset.
    """
    from pyspark.sql import functions as F

    tagged = frame.withColumn("__mid", F.monotonically_increasing_id())
    tagged = tagged.withColumn("__pid", F.shiftright(F.col("__mid"), 33))
    counts: dict[int, int] = {r["__pid"]: r["count"] for r in
                              tagged.groupBy("__pid").count().collect()}
    offsets, total = [], 0
    for pid in sorted(counts):
        offsets += [F.lit(pid), F.lit(total)]
        total += counts[pid]
    offset = F.element_at(F.create_map(*offsets), F.col("__pid")) if offsets else F.lit(0)
    local = F.col("__mid") - F.shiftleft(F.col("__pid"), 33)
    return tagged.withColumn(ROW, offset + local + 1).drop("__mid", "__pid")


# ---------------------------------------------------------------------------- validating


def _typed_schema() -> str:
    return ", ".join(f"`{c}` {_SPARK_TYPES[CONTRACT[c].kind]}" for c in INPUTS)


def _for_arrow(clean: pd.DataFrame) -> pd.DataFrame:
    """Typed contract rows → dtypes Arrow maps onto the Spark schema (categories as text,
    dates as dates)."""
    out = {}
    for c in INPUTS:
        s = clean[c]
        kind = CONTRACT[c].kind
        if kind == "date":
            out[c] = pd.Series([v.date() if pd.notna(v) else None for v in s], dtype=object)
        elif kind == "category":
            out[c] = s.astype(object).where(s.notna(), None)
        else:
            out[c] = s
    return pd.DataFrame(out)


def _validate_batches(today: date, raw_columns: list[str]) -> Any:
    """The function ``mapInPandas`` runs: per batch, every rule but the two across rows."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from ssi_model.validation import validate

        for batch in batches:
            batch = batch.reset_index(drop=True)
            result = validate(batch[raw_columns], today=today, check_duplicates=False)
            bad = np.zeros(len(batch), dtype=bool)
            bad[result.quarantine["row"].to_numpy(dtype=int) - 1] = True
            reasons = pd.Series([None] * len(batch), dtype=object)
            reasons[bad] = result.quarantine["reason"].to_numpy(dtype=object)
            typed = pd.DataFrame(index=batch.index, columns=INPUTS, dtype=object)
            if (~bad).any():
                typed = _for_arrow(result.clean)
                typed.index = np.flatnonzero(~bad)
                typed = typed.reindex(batch.index)
            # The snapshot as parsed (so 2026-1-31 and 2026-01-31 are one snapshot), else text.
            parsed, _ = CONTRACT.parse_series("snapshot_date", batch["snapshot_date"])
            text = batch["snapshot_date"].astype("string").fillna("")
            key = pd.Series([v.date().isoformat() if pd.notna(v) else t
                             for v, t in zip(pd.to_datetime(parsed), text, strict=True)],
                            dtype=object)
            out = typed.astype(object).where(typed.notna(), None)
            yield out.assign(**{ROW: batch[ROW], REASON: reasons, HASH: batch[HASH],
                                MEMBER_KEY: batch[MEMBER_KEY], DATE_KEY: key})

    return run


def _text(column: str) -> Column:
    from pyspark.sql import functions as F

    return F.coalesce(F.col(f"`{column}`").cast("string"), F.lit(""))


def validated(numbered: DataFrame, *, today: date | None = None) -> DataFrame:
    """Rows numbered by ``_numbered`` → ``__row``, the typed contract inputs, and ``__reason``
    (every rule the row broke, ``; ``-joined as in process; null when the row is clean)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    raw_columns = [c for c in numbered.columns if c != ROW]
    # Every cell as text, as ``validate`` compares rows (an empty cell equals a missing one).
    numbered = numbered.withColumn(HASH, F.sha2(F.to_json(F.array(
        *[_text(c) for c in raw_columns])), 256)).withColumn(MEMBER_KEY, _text("member_id"))
    schema = (f"{_typed_schema()}, {ROW} bigint, {REASON} string, {HASH} string, "
              f"{MEMBER_KEY} string, {DATE_KEY} string")
    checked = numbered.mapInPandas(_validate_batches(today or date.today(), raw_columns),
                                   schema)

    # The rules across rows, over every partition: exact copies, then conflicting snapshots.
    checked = checked.withColumn(FIRST, F.min(ROW).over(Window.partitionBy(HASH)))
    is_copy = F.col(ROW) != F.col(FIRST)
    same_key = Window.partitionBy(MEMBER_KEY, DATE_KEY)
    distinct = F.when(~is_copy, F.col(ROW))
    checked = checked.withColumn("__n", F.count(distinct).over(same_key)).withColumn(
        "__rows", F.array_sort(F.collect_list(distinct).over(same_key)))
    others = F.array_join(F.transform(F.array_remove(F.col("__rows"), F.col(ROW)),
                                      lambda r: r.cast("string")), ", ")
    copy_reason = F.when(is_copy, F.concat(F.lit("duplicate: exact copy of row "),
                                           F.col(FIRST).cast("string")))
    conflict_reason = F.when(F.col("__n") > 1, F.when(
        ~is_copy, F.concat(F.lit(f"member_id+snapshot_date: {CONFLICT} in row(s) "), others),
    ).otherwise(F.lit(f"member_id+snapshot_date: {CONFLICT}")))
    reason = F.concat_ws("; ", F.col(REASON), copy_reason, conflict_reason)
    checked = checked.withColumn(REASON, F.when(reason != "", reason))
    return checked.drop(FIRST, "__n", "__rows", HASH, MEMBER_KEY, DATE_KEY)


# ---------------------------------------------------------------------------- writing


def _write(frame: DataFrame, path: str) -> None:
    kind = _suffix_kind(path)
    writer = frame.write.mode("overwrite")
    if kind == "csv":
        writer.option("header", True).csv(path)
    elif kind == "parquet":
        writer.parquet(path)
    else:
        raise InputFileError(f"{path}: unsupported output; use one of "
                             f"{', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}")


def quarantine_path(out: str) -> str:
    """``<folder>/<OUT stem>.quarantine.csv``, as ``ssi predict`` names it in process."""
    head, sep, name = out.rstrip("/").rpartition("/")
    return f"{head}{sep}{name.split('.')[0]}.quarantine.csv"


@dataclass(frozen=True)
class _Checked:
    clean: DataFrame
    n_read: int
    n_quarantined: int
    quarantine: str | None
    cached: tuple[DataFrame, ...]

    def release(self) -> None:
        """Drop the cached frames (a notebook's or a test's session lives on)."""
        for frame in self.cached:
            frame.unpersist()


def _check_and_quarantine(spark: SparkSession, rows: str, out: str,
                          today: date | None) -> _Checked:
    """Read and validate ROWS, write the quarantine, and return the clean typed rows."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    raw = read_rows(spark, rows)
    raw = _numbered(raw).persist(StorageLevel.MEMORY_AND_DISK)
    checked = validated(raw, today=today).persist(StorageLevel.MEMORY_AND_DISK)
    counts = {r["bad"]: r["count"] for r in
              checked.groupBy(F.col(REASON).isNotNull().alias("bad")).count().collect()}
    n_bad, n_read = counts.get(True, 0), sum(counts.values())
    qpath = None
    if n_bad:
        qpath = quarantine_path(out)
        reasons = checked.filter(F.col(REASON).isNotNull()).select(ROW, REASON)
        quarantined = raw.join(reasons, ROW).orderBy(ROW).select(
            F.col(ROW).alias("row"), *[F.col(f"`{c}`") for c in raw.columns if c != ROW],
            F.col(REASON).alias("reason"))
        _write(quarantined, qpath)
    clean = checked.filter(F.col(REASON).isNull()).drop(REASON)
    return _Checked(clean=clean, n_read=n_read, n_quarantined=n_bad, quarantine=qpath,
                    cached=(raw, checked))


# ---------------------------------------------------------------------------- scoring


def result_type() -> str:
    """The struct ``spark_udf`` returns: every prediction column of the pyfunc."""
    return ", ".join(f"{c} {'string' if c == 'member_id' else 'double'}"
                     for c in PREDICTION_COLUMNS)


def score(spark: SparkSession, clean: DataFrame, model_folder: str) -> DataFrame:
    """The pyfunc in ``model_folder`` on typed contract rows, through ``spark_udf``: one row of
    prediction columns per input row (plus ``__row`` when the input has it)."""
    import mlflow
    from mlflow.models import Model
    from pyspark.sql import functions as F

    # Models logged before the pyfunc read its own input declared their input columns
    signature = Model.load(model_folder).signature
    declared = signature.inputs if signature is not None else None
    names = declared.input_names() if declared is not None else INPUTS
    inputs = [c for c in names if c in clean.columns]
    udf = mlflow.pyfunc.spark_udf(spark, model_folder, result_type=result_type(),
                                  env_manager="local")
    keep = [ROW] if ROW in clean.columns else []
    scored = clean.select(*keep, udf(F.struct(*[F.col(f"`{c}`") for c in inputs]))
                          .alias("__p"))
    return scored.select(*keep, *[F.col(f"__p.{c}").alias(c) for c in PREDICTION_COLUMNS])


def predict_on_spark(spark: SparkSession, registry: Registry, rows: str, out: str, *,
                     model: str | None = None, today: date | None = None) -> SparkRun:
    """``ssi predict --engine spark``: validate ROWS, score the clean rows with the model
    ``model`` names (default: the registry's alias), write OUT and the quarantine."""
    from pyspark.sql import functions as F

    with tempfile.TemporaryDirectory(prefix="ssi-spark-model-") as tmp:
        # The model first: no champion, no job. Spark ships this folder to the executors.
        folder, name, version = registry.download(model, tmp)
        checked = _check_and_quarantine(spark, rows, out, today)
        try:
            scored = score(spark, checked.clean, str(folder))
            _write(scored.orderBy(F.col(ROW)).drop(ROW), out)
        finally:
            checked.release()
    return SparkRun(n_read=checked.n_read, n_done=checked.n_read - checked.n_quarantined,
                    n_quarantined=checked.n_quarantined, out=out,
                    quarantine=checked.quarantine, model=ModelInfo(name=name, version=version))


# ---------------------------------------------------------------------------- explaining


def _explain_batches(estimator: Any, options: dict[str, Any]) -> Any:
    """The function ``mapInPandas`` runs: ``explain_rows`` on each batch of typed rows."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from ssi_model.explain import explain_rows

        model: SSIEstimator = estimator.value
        for batch in batches:
            rows = CONTRACT.to_typed(batch[INPUTS])  # the dtypes validation gives in process
            docs = explain_rows(model, rows, **options)
            yield pd.DataFrame({
                ROW: batch[ROW].to_numpy(),
                "member_id": [d.member_id for d in docs],
                "explanation": [json.dumps(d.model_dump(mode="json"), ensure_ascii=False)
                                for d in docs],
            })

    return run


def explain_on_spark(spark: SparkSession, registry: Registry, rows: str, out: str, *,
                     model: str | None = None, budget_minutes: float | None = None,
                     target: float | None = None, lang: str = "en",
                     today: date | None = None) -> SparkRun:
    """``ssi explain --engine spark``: one explanation document per clean row, as JSON Lines
    (a folder of parts at OUT), in input order; invalid rows go to the quarantine."""
    from pyspark.sql import functions as F

    estimator, info = registry.load(model)
    checked = _check_and_quarantine(spark, rows, out, today)
    # The fitted estimator goes to each executor once (a broadcast), not once per task.
    shared = spark.sparkContext.broadcast(estimator)
    options = {"budget_minutes": budget_minutes, "target": target, "lang": lang,
               "model_info": info}
    try:
        docs = checked.clean.mapInPandas(_explain_batches(shared, options),
                                         f"{ROW} bigint, member_id string, explanation string")
        docs.orderBy(F.col(ROW)).select("explanation").write.mode("overwrite").text(out)
    finally:
        shared.unpersist()
        checked.release()
    return SparkRun(n_read=checked.n_read, n_done=checked.n_read - checked.n_quarantined,
                    n_quarantined=checked.n_quarantined, out=out,
                    quarantine=checked.quarantine, model=info)
