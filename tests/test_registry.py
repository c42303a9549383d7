"""One registry, one model name: ``SSI_MODEL_NAME`` is what train, promote, predict and serve act
on; MLflow's own clients score contract files unchanged; the Registry leaves global state alone.

Everything runs against a real SQLite MLflow store of this module (not the session's), with the
model registered as ``team-ssi``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from api_helpers import BIN, LOOPBACK, free_port, start
from ssi_model.cli import app
from ssi_model.contract import CONTRACT
from ssi_model.errors import UserError
from ssi_model.io import read_raw, write_table
from ssi_model.model.config import load_config
from ssi_model.model.estimator import PREDICTION_COLUMNS, SSIEstimator
from ssi_model.settings import Settings
from ssi_model.simulator import simulate_cohort
from ssi_model.tracking.registry import Registry
from ssi_model.validation import validate

ROOT = Path(__file__).resolve().parents[1]
NAME = "team-ssi"
INT_COLUMNS = [c for c in CONTRACT.input_columns if CONTRACT[c].kind == "int"]


@dataclass(frozen=True)
class Team:
    folder: Path
    uri: str
    settings: Settings


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    """`SSI_MODEL_NAME=team-ssi ssi train` then `ssi promote`, in a store of this module."""
    folder = tmp_path_factory.mktemp("team-registry")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    config = folder / "tiny.yaml"  # the default experiment on a small cohort, so it is quick
    config.write_text(
        f"extends: {ROOT / 'experiments' / 'default.yaml'}\nname: tiny\n"
        "data: {simulate: {n: 2500, seed: 11}}\nmodel: {cv_folds: 2}\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("SSI_MODEL_NAME", NAME)
        trained = CliRunner().invoke(app, ["train", "--config", str(config)])
        assert trained.exit_code == 0, trained.output
        assert f"registered {NAME} version 1" in trained.output
        promoted = CliRunner().invoke(app, ["promote"])
        assert promoted.exit_code == 0, promoted.output
        assert f"promoted {NAME} version 1 to @champion" in promoted.output
        yield Team(folder=folder, uri=uri, settings=Settings())


def _names(uri: str) -> set[str]:
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    return {m.name for m in client.search_registered_models()}


def test_experiment_configs_carry_no_model_name(tmp_path: Path) -> None:
    assert "registered_model" not in (ROOT / "experiments" / "default.yaml").read_text()
    old = tmp_path / "old.yaml"
    old.write_text(f"extends: {ROOT / 'experiments' / 'default.yaml'}\nname: old\n"
                   "registered_model: other\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"registered_model.*SSI_MODEL_NAME"):
        load_config(old)


# -- one name: train, promote, predict, serve ---------------------------------------------------

def test_train_and_promote_act_on_ssi_model_name(team: Team) -> None:
    assert _names(team.uri) == {NAME}  # nothing registered as ssi-estimator
    registry = Registry(team.settings)
    assert registry.name == NAME and registry.champion_uri == f"models:/{NAME}@champion"
    assert registry.resolve() == "1" == registry.latest_version()
    version = registry.client.get_model_version(NAME, "1")
    assert json.loads(version.tags["promotion"])["forced"] is False
    assert len(version.tags["data_fingerprint"]) == 64


def test_predict_explain_and_report_load_ssi_model_name(team: Team, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", team.uri)
    monkeypatch.setenv("SSI_MODEL_NAME", NAME)
    rows = write_table(validate(simulate_cohort(30, 4)).clean, tmp_path / "rows.csv")
    runner = CliRunner()
    predicted = runner.invoke(app, ["predict", str(rows), "--out", str(tmp_path / "p.csv")])
    assert predicted.exit_code == 0, predicted.output
    assert f"with {NAME} version 1" in predicted.output
    assert list(pd.read_csv(tmp_path / "p.csv").columns) == PREDICTION_COLUMNS
    explained = runner.invoke(app, ["explain", str(rows), "--out", str(tmp_path / "e.json")])
    assert explained.exit_code == 0, explained.output
    docs = json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))
    assert {d["model"]["name"] for d in docs} == {NAME}
    assert {d["model"]["version"] for d in docs} == {"1"}
    # Under the default name there is nothing: the name really comes from SSI_MODEL_NAME.
    monkeypatch.delenv("SSI_MODEL_NAME")
    missing = runner.invoke(app, ["predict", str(rows), "--out", str(tmp_path / "q.csv")])
    assert missing.exit_code == 2
    assert "registered model 'ssi-estimator'" in missing.output
    assert "make train promote" in missing.output


@pytest.mark.system  # starts `ssi serve`
def test_ssi_serve_serves_ssi_model_name(team: Team) -> None:
    port = free_port()
    api = start("ssi serve", [str(BIN / "ssi"), "serve", "--host", LOOPBACK, "--port",
                              str(port)],
                env={"MLFLOW_TRACKING_URI": team.uri, "SSI_MODEL_NAME": NAME,
                     "SSI_RELOAD_SECONDS": "0"},
                port=port, log=team.folder / "serve.log")
    try:
        ready = api.wait_until("/ready", timeout=120, ok=lambda r: r.status_code == 200)
        assert ready.json()["model"]["name"] == NAME
        model = api.wait_until("/v1/model", timeout=10)
        assert model.json()["name"] == NAME and model.json()["version"] == "1"
    finally:
        api.stop()


# -- MLflow's own clients score contract files ---------------------------------------------------

@pytest.fixture(scope="module")
def contract_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Contract rows as a user has them: a CSV where every count is filled (pandas reads int64),
    a CSV with blank (unknown) cells (float64 with NaN), and Parquet (nullable Int64)."""
    folder = tmp_path_factory.mktemp("contract-files")
    clean = validate(simulate_cohort(80, 21)).clean
    filled = clean.copy()
    for column in INT_COLUMNS:
        filled[column] = filled[column].fillna(0)
    filled = validate(filled.astype(object)).clean  # filling may break a cross rule: drop those
    files = {
        "ints.csv": write_table(filled, folder / "ints.csv"),
        "blanks.csv": write_table(clean, folder / "blanks.csv"),
        "rows.parquet": write_table(clean, folder / "rows.parquet"),
    }
    # What the files hold is what this test is about: check it, so it cannot pass vacuously.
    ints = pd.read_csv(files["ints.csv"])
    assert len(ints) >= 20 and all(ints[c].dtype == np.int64 for c in INT_COLUMNS)
    blanks = pd.read_csv(files["blanks.csv"])
    assert any(blanks[c].dtype == np.float64 and blanks[c].isna().any() for c in INT_COLUMNS)
    parquet = pd.read_parquet(files["rows.parquet"])
    assert all(str(parquet[c].dtype) == "Int64" for c in INT_COLUMNS)
    return files


def _reference(team: Team, path: Path) -> pd.DataFrame:
    """In process: the registry's estimator on the validated rows (what `ssi predict` scores)."""
    estimator: SSIEstimator = Registry(team.settings).load()[0]
    return estimator.predict(validate(read_raw(path)).clean).to_frame()


def _same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.columns) == PREDICTION_COLUMNS and len(got) == len(expected)
    assert list(got["member_id"].astype(str)) == list(expected["member_id"].astype(str))
    numbers = [c for c in PREDICTION_COLUMNS if c != "member_id"]
    np.testing.assert_allclose(got[numbers].to_numpy(float), expected[numbers].to_numpy(float),
                               rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["ints.csv", "blanks.csv", "rows.parquet"])
def test_mlflow_pyfunc_scores_contract_files_unchanged(
        team: Team, contract_files: dict[str, Path], name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", team.uri)
    path = contract_files[name]
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    model = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    _same(pd.DataFrame(model.predict(frame)), _reference(team, path))


@pytest.mark.system  # runs `mlflow models predict` in a process of its own
def test_mlflow_models_predict_scores_a_contract_csv(team: Team,
                                                     contract_files: dict[str, Path]) -> None:
    out = team.folder / "mlflow-predict.json"
    path = contract_files["blanks.csv"]
    done = subprocess.run(
        [sys.executable, "-m", "mlflow", "models", "predict", "-m", f"models:/{NAME}@champion",
         "-i", str(path), "-t", "csv", "-o", str(out), "--env-manager", "local"],
        env={**os.environ, "MLFLOW_TRACKING_URI": team.uri}, capture_output=True, text=True,
        timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    got = pd.DataFrame(json.loads(out.read_text(encoding="utf-8"))["predictions"])
    _same(got, _reference(team, path))


# -- no global state -------------------------------------------------------------------------------

def test_the_registry_leaves_environment_and_mlflow_uris_alone(
        team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    decoy = tmp_path / "decoy.db"  # what the environment says: the registry must not go there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{decoy}")
    monkeypatch.delenv("SSI_MODEL_NAME", raising=False)
    environ = dict(os.environ)
    uris = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())

    registry = Registry(team.settings)
    estimator, info = registry.load()
    assert info.name == NAME and info.version == "1" and info.run_id is not None
    version = registry.register(info.run_id)  # the same run again: version 2, same holdout
    decision = registry.promote(version)
    assert decision.promoted and decision.previous == "1" and not decision.reasons
    assert registry.resolve() == version and registry.resolve("1") == "1"
    assert registry.load("1")[0].meta["run_id"] == estimator.meta["run_id"]

    assert dict(os.environ) == environ
    assert (mlflow.get_tracking_uri(), mlflow.get_registry_uri()) == uris
    assert not decoy.exists()  # the environment's store was never opened
    assert registry.promote("1", force=True).promoted  # back, for the tests that follow
