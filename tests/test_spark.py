"""Batch scoring and explanations on Spark (``--engine spark``) give what ``ssi`` gives in process.

One local Spark session (``local[2]``, loopback only) for the module, a model trained and promoted
in a SQLite MLflow store of this module, and contract files as users have them: a CSV with typing
faults, rule violations, an exact copy and a conflicting row placed in other partitions than their
originals; a folder of Parquet parts written by pandas. Predictions, quarantines and explanation
documents are compared with the in-process commands on the same files.

Tier ``scale`` (``make test-scale`` installs the ``spark`` extra); not part of ``make test``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ssi_model.cli import app
from ssi_model.io import read_raw, write_table
from ssi_model.model.estimator import PREDICTION_COLUMNS
from ssi_model.simulator import simulate_cohort
from ssi_model.validation import validate

pytestmark = [pytest.mark.scale, pytest.mark.system]

ROOT = Path(__file__).resolve().parents[1]
NUMBERS = [c for c in PREDICTION_COLUMNS if c != "member_id"]


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """The one local Spark session of the tests (heavy: a JVM and Python workers)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        message = "pyspark is not installed: run `make test-scale` (it installs the spark extra)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from ssi_model.tracking.spark import spark_session

    session = spark_session("local[2]", app_name="ssi-model-tests",
                            conf={"spark.sql.shuffle.partitions": "2",
                                  "spark.task.maxFailures": "1"})
    yield session
    session.stop()


@dataclass(frozen=True)
class Store:
    folder: Path
    uri: str


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, spark: object) -> Iterator[Store]:
    """`ssi train` on a tiny experiment and `ssi promote`, in a SQLite store of this module."""
    folder = tmp_path_factory.mktemp("spark-store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    config = folder / "tiny.yaml"
    config.write_text(
        f"extends: {ROOT / 'experiments' / 'default.yaml'}\nname: tiny\n"
        "data: {simulate: {n: 2500, seed: 11}}\nmodel: {cv_folds: 2}\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.delenv("SSI_MODEL_NAME", raising=False)
        runner = CliRunner()
        trained = runner.invoke(app, ["train", "--config", str(config)])
        assert trained.exit_code == 0, trained.output
        promoted = runner.invoke(app, ["promote"])
        assert promoted.exit_code == 0, promoted.output
        yield Store(folder=folder, uri=uri)


@pytest.fixture
def env(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    monkeypatch.delenv("SSI_MODEL_NAME", raising=False)
    return store


def _ssi(*args: str) -> str:
    done = CliRunner().invoke(app, list(args))
    assert done.exit_code == 0, done.output
    return done.output


def _parts(folder: Path, pattern: str) -> list[Path]:
    parts = sorted(folder.glob(pattern))
    assert parts, f"no {pattern} in {folder}"
    return parts


def _read_csv_parts(folder: Path) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False)
                      for p in _parts(folder, "part-*.csv")], ignore_index=True)


def _same_predictions(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.columns) == PREDICTION_COLUMNS
    assert len(got) == len(expected) > 0
    assert list(got["member_id"].astype(str)) == list(expected["member_id"].astype(str))
    np.testing.assert_allclose(got[NUMBERS].to_numpy(float), expected[NUMBERS].to_numpy(float),
                               rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def faulty_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 simulated members with the simulator's typing faults, plus an exact copy of row 3 and
    a conflicting version of row 10 at the end (so in other partitions than their originals)."""
    raw = simulate_cohort(600, 7).astype("string").fillna("")
    copy = raw.iloc[[2]]
    conflict = raw.iloc[[9]].copy()
    conflict["posts_90d"] = "321"
    rows = pd.concat([raw, copy, conflict], ignore_index=True)
    path = tmp_path_factory.mktemp("faulty") / "rows.csv"
    rows.to_csv(path, index=False)
    return path


def test_spark_predict_equals_in_process_with_the_same_quarantine(
        env: Store, spark: object, faulty_csv: Path, tmp_path: Path) -> None:
    from pyspark.sql import SparkSession

    assert isinstance(spark, SparkSession)
    # Small input splits: the copies and their originals are read by different tasks.
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(40 * 1024))
    try:
        assert spark.read.csv(str(faulty_csv), header=True).rdd.getNumPartitions() >= 3
        in_process = _ssi("predict", str(faulty_csv), "--out", str(tmp_path / "p.csv"))
        on_spark = _ssi("predict", str(faulty_csv), "--out", str(tmp_path / "s.parquet"),
                        "--engine", "spark", "--master", "local[2]")
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")

    expected_quarantine = pd.read_csv(tmp_path / "p.quarantine.csv", dtype=str,
                                      keep_default_na=False)
    reasons = " | ".join(expected_quarantine["reason"])
    assert "duplicate: exact copy of row 3" in reasons
    assert "conflicting values for the same member and snapshot in row(s) 602" in reasons
    n_read, n_bad = 602, len(expected_quarantine)
    summary = f"rows read: {n_read}, kept: {n_read - n_bad}, quarantined: {n_bad}"
    assert summary in in_process and summary in on_spark  # read = scored + quarantined
    assert "ssi-estimator version 1 on Spark (local[2])" in on_spark

    _same_predictions(pd.read_parquet(tmp_path / "s.parquet"), pd.read_csv(tmp_path / "p.csv"))
    got_quarantine = _read_csv_parts(tmp_path / "s.quarantine.csv")
    # Every original cell, the row number and every reason, as in process.
    pd.testing.assert_frame_equal(got_quarantine, expected_quarantine)


def test_spark_reads_a_folder_of_parquet_parts_and_writes_csv(
        env: Store, spark: object, tmp_path: Path) -> None:
    clean = validate(simulate_cohort(300, 8)).clean
    folder = tmp_path / "rows"
    folder.mkdir()
    for k, start in enumerate(range(0, len(clean), 100)):  # pandas writes timestamp[ns] dates
        clean.iloc[start:start + 100].to_parquet(folder / f"part-{k:05d}.parquet", index=False)
    whole = write_table(clean, tmp_path / "rows.parquet")
    _ssi("predict", str(whole), "--out", str(tmp_path / "p.csv"))
    output = _ssi("predict", str(folder), "--out", str(tmp_path / "s.csv"), "--engine", "spark")
    assert f"rows read: {len(clean)}, kept: {len(clean)}, quarantined: 0" in output
    assert not (tmp_path / "s.quarantine.csv").exists()
    got = _read_csv_parts(tmp_path / "s.csv")
    _same_predictions(got, pd.read_csv(tmp_path / "p.csv"))


def test_spark_explanations_equal_in_process(env: Store, spark: object, faulty_csv: Path,
                                             tmp_path: Path) -> None:
    rows = read_raw(faulty_csv).head(80)
    path = write_table(rows, tmp_path / "rows.csv")
    options = ["--budget-minutes", "60", "--target", "45", "--lang", "nl"]
    _ssi("explain", str(path), "--out", str(tmp_path / "e.json"), *options)
    output = _ssi("explain", str(path), "--out", str(tmp_path / "e.jsonl"), "--engine", "spark",
                  *options)
    expected = json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))
    got = [json.loads(line) for part in _parts(tmp_path / "e.jsonl", "part-*")
           for line in part.read_text(encoding="utf-8").splitlines()]
    assert len(got) == len(expected) > 60
    assert got == expected  # the same documents, number for number, in input order
    assert {d["model"]["version"] for d in got} == {"1"}
    assert f"explained {len(expected)} with ssi-estimator version 1" in output


def test_spark_bad_input_is_one_line_and_exit_2(env: Store, spark: object,
                                                tmp_path: Path) -> None:
    no_ids = tmp_path / "no-ids.csv"
    pd.DataFrame({"posts_90d": ["1"]}).to_csv(no_ids, index=False)
    runner = CliRunner()
    missing = runner.invoke(app, ["predict", str(no_ids), "--out", str(tmp_path / "o.parquet"),
                                  "--engine", "spark"])
    assert missing.exit_code == 2
    assert "missing required column(s): member_id, snapshot_date" in missing.output
    absent = runner.invoke(app, ["predict", str(tmp_path / "nothing.parquet"), "--out",
                                 str(tmp_path / "o.parquet"), "--engine", "spark"])
    assert absent.exit_code == 2 and "nothing.parquet" in absent.output
    engine = runner.invoke(app, ["predict", str(no_ids), "--out", str(tmp_path / "o.csv"),
                                 "--engine", "dask"])
    assert engine.exit_code == 2 and "--engine must be one of process, spark" in engine.output


def test_the_benchmarks_spark_figure_scores_every_row(env: Store, spark: object,
                                                      tmp_path: Path) -> None:
    """`make bench`'s Spark figure (benchmarks/spark_bench.py) scores what it says it times."""
    from benchmarks.spark_bench import download, spark_rows_per_s, spark_unavailable

    assert spark_unavailable() is None
    rows = write_table(validate(simulate_cohort(500, 9)).clean, tmp_path / "rows.parquet")
    folder = download("models:/ssi-estimator@champion", str(tmp_path / "model"))
    n, times = spark_rows_per_s(spark, folder, rows, repeats=2)
    assert n == len(pd.read_parquet(rows)) and len(times) == 2 and min(times) > 0


def test_the_default_install_has_no_pyspark_requirement() -> None:
    """pyspark is optional: only the `spark` extra names it, and the package imports without
    it (the Spark module imports pyspark inside its functions)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not any(d.startswith("pyspark") for d in project["dependencies"])
    assert any(d.startswith("pyspark==4.0.") for d in project["optional-dependencies"]["spark"])
    code = ("import sys; sys.modules['pyspark'] = None; import ssi_model.tracking.spark, "
            "ssi_model.cli")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
