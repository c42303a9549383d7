"""Training, MLflow logging, the registry gate and batch prediction, on a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from tests.model_checks import monotone_columns_checked
from typer.testing import CliRunner

from ssi_model.cli import app
from ssi_model.contract import CONTRACT, PILLARS
from ssi_model.errors import UserError
from ssi_model.io import write_table
from ssi_model.model.config import ExperimentConfig, load_config
from ssi_model.model.estimator import PREDICTION_COLUMNS, SSIEstimator
from ssi_model.model.train import fit_estimator, holdout_mask
from ssi_model.settings import Settings
from ssi_model.simulator import simulate_cohort
from ssi_model.tracking.batch import predict_frame
from ssi_model.tracking.registry import MODEL_ARTIFACT, Registry, load_estimator
from ssi_model.validation import validate

ROOT = Path(__file__).resolve().parents[1]


# -- experiments as data -----------------------------------------------------------------------

def test_variant_config_extends_the_default() -> None:
    default = load_config(ROOT / "experiments/default.yaml")
    variant = load_config(ROOT / "experiments/no-monotone.yaml")
    assert default.features.monotone and not variant.features.monotone
    assert variant.model == default.model and variant.name == "no-monotone"


def test_a_bad_config_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nmodel: {cv_folds: 1}\nintervals: {levle: 0.9}\n")
    with pytest.raises(UserError, match=r"model\.cv_folds.*intervals\.levle"):
        load_config(path)


# -- the estimator -----------------------------------------------------------------------------

def test_holdout_depends_on_member_id_only() -> None:
    ids = pd.Series([f"m-{i}" for i in range(2000)])
    mask = holdout_mask(ids, 0.2)
    assert 0.15 < mask.mean() < 0.25
    assert (holdout_mask(ids[::-1].reset_index(drop=True), 0.2) == mask[::-1]).all()


@pytest.fixture(scope="module")
def tiny() -> tuple[pd.DataFrame, ExperimentConfig]:
    rows = validate(simulate_cohort(600, 3)).clean
    config = load_config(ROOT / "experiments/default.yaml")
    config = config.model_copy(update={"model": config.model.model_copy(
        update={"cv_folds": 2, "num_boost_round": 60, "early_stopping_rounds": 10})})
    return rows, config


def test_same_data_config_and_seed_give_the_same_model(tiny) -> None:  # type: ignore[no-untyped-def]
    rows, config = tiny
    first = fit_estimator(rows, config)
    second = fit_estimator(rows, config)
    assert first.cv_mae == second.cv_mae
    pd.testing.assert_frame_equal(first.estimator.predict(rows).to_frame(),
                                  second.estimator.predict(rows).to_frame())
    other = fit_estimator(rows, config.with_seed(config.seed + 1))
    assert other.cv_mae != first.cv_mae


def test_save_and_load_give_identical_predictions(tiny, fitted_estimator: SSIEstimator,  # type: ignore[no-untyped-def]
                                                  tmp_path: Path) -> None:
    rows, _ = tiny
    estimator = fitted_estimator
    loaded = SSIEstimator.load(estimator.save(tmp_path / "model"))
    pd.testing.assert_frame_equal(estimator.predict(rows).to_frame(),
                                  loaded.predict(rows).to_frame())
    assert {p.name for p in (tmp_path / "model").iterdir()} == {
        "bundle.json", *(f"booster_{p}.txt" for p in PILLARS)}


# -- a tracked, registered run -----------------------------------------------------------------

def test_a_run_logs_config_fingerprint_metrics_plots_and_model(trained) -> None:  # type: ignore[no-untyped-def]
    client = mlflow.MlflowClient()
    run = client.get_run(trained.run_id)
    assert len(run.data.tags["data_fingerprint"]) == 64
    for target in ("total", *PILLARS):
        for metric in ("mae", "rmse", "r2", "coverage", "interval_width"):
            assert np.isfinite(run.data.metrics[f"{target}_{metric}"])
        assert run.data.metrics[f"baseline_linear_{target}_mae"] > 0
        assert run.data.metrics[f"baseline_rule_{target}_mae"] > 0
    assert any(k.startswith("total_mae_role_family_") for k in run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(trained.run_id)}
    assert {"config.yaml", "plots", "holdout"} <= artifacts
    plots = {a.path for a in client.list_artifacts(trained.run_id, "plots")}
    assert {"plots/predicted_vs_reported.png", "plots/residuals.png",
            "plots/feature_importance.png", "plots/shap_summary.png"} <= plots
    version = client.get_model_version("ssi-estimator", trained.model_version)
    assert version.run_id == trained.run_id
    info = mlflow.models.get_model_info(f"models:/ssi-estimator/{trained.model_version}")
    assert info.signature is not None  # the outputs; the pyfunc reads its own input
    assert info.signature.outputs.input_names() == PREDICTION_COLUMNS
    example = mlflow.artifacts.download_artifacts(
        run_id=trained.run_id, artifact_path=f"{MODEL_ARTIFACT}/input_example.json")
    assert "posts_90d" in json.loads(Path(example).read_text(encoding="utf-8"))["columns"]


def test_quarantined_rows_are_logged_not_trained_on(trained) -> None:  # type: ignore[no-untyped-def]
    client = mlflow.MlflowClient()
    run = client.get_run(trained.run_id)
    assert trained.n_quarantined > 0  # the simulator injects typing faults
    assert int(run.data.params["n_quarantined"]) == trained.n_quarantined
    assert int(run.data.params["n_train"]) + int(run.data.params["n_holdout"]) <= int(
        run.data.params["n_read"]) - trained.n_quarantined
    local = mlflow.artifacts.download_artifacts(run_id=trained.run_id,
                                                artifact_path="data/quarantine.csv")
    assert len(pd.read_csv(local)) == trained.n_quarantined


def test_the_pyfunc_predicts_the_product_table(trained) -> None:  # type: ignore[no-untyped-def]
    rows = validate(simulate_cohort(300, 99)).clean
    model = mlflow.pyfunc.load_model(f"models:/ssi-estimator/{trained.model_version}")
    out = predict_frame(model, rows, chunk_size=128)
    assert list(out.columns) == PREDICTION_COLUMNS and len(out) == len(rows)
    assert (out["member_id"].to_numpy() == rows["member_id"].to_numpy()).all()
    for t in ("total", *PILLARS):
        assert (out[f"ssi_{t}_lo"] <= out[f"ssi_{t}"] + 1e-9).all()
        assert (out[f"ssi_{t}"] <= out[f"ssi_{t}_hi"] + 1e-9).all()
    pillars = out[[f"ssi_{p}" for p in PILLARS]]
    assert pillars.ge(0).all().all() and pillars.le(25).all().all()
    assert np.allclose(pillars.sum(axis=1), out["ssi_total"], atol=0.03)
    assert out["industry_top_pct"].between(0, 100).all()


def test_raising_a_good_behaviour_never_lowers_its_pillar(trained) -> None:  # type: ignore[no-untyped-def]
    estimator = load_estimator(f"models:/ssi-estimator/{trained.model_version}")
    rows = validate(simulate_cohort(200, 5)).clean
    assert monotone_columns_checked(estimator, rows) >= 20


def test_context_alone_cannot_push_a_pillar_outside_0_25(trained) -> None:  # type: ignore[no-untyped-def]
    estimator = load_estimator(f"models:/ssi-estimator/{trained.model_version}")
    rng = np.random.default_rng(0)
    rows = validate(simulate_cohort(100, 6)).clean
    for name in CONTRACT.context_columns:
        col = CONTRACT[name]
        if col.kind == "category":
            rows[name] = pd.Categorical(rng.choice(list(col.values), len(rows)),
                                        categories=list(col.values))
        elif col.kind == "int":
            rows[name] = pd.array(rng.integers(0, int(col.numeric_bound("max") or 1) + 1,
                                               len(rows)), dtype="Int64")
    pillars = estimator.predict_pillars(rows)
    assert pillars.min() >= 0 and pillars.max() <= 25


# -- the promotion gate ------------------------------------------------------------------------

def test_promotion_gate(trained, small_config: ExperimentConfig) -> None:  # type: ignore[no-untyped-def]
    from ssi_model.tracking.runs import train_run

    registry = Registry(Settings())
    first = registry.promote(trained.model_version)
    assert first.promoted and first.previous is None and not first.reasons

    weak = small_config.model_copy(update={
        "name": "weak", "model": small_config.model.model_copy(
            update={"num_boost_round": 3, "cv_folds": 2})})
    second = train_run(weak)
    refused = registry.promote(second.model_version)
    assert not refused.promoted
    assert any("total: MAE" in r for r in refused.reasons)
    assert refused.candidate_mae["total"] > refused.champion_mae["total"]
    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias("ssi-estimator", "champion").version) == str(
        trained.model_version)

    forced = registry.promote(second.model_version, force=True)
    assert forced.promoted
    tag = json.loads(client.get_model_version("ssi-estimator", second.model_version).tags[
        "promotion"])
    assert tag["forced"] is True and tag["gate_failures"]
    # Put the good model back for the tests that follow.
    assert registry.promote(trained.model_version, force=True).promoted


def test_predict_cli_reports_invalid_rows_and_scores_the_rest(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = simulate_cohort(40, 8).astype(object)
    rows.loc[3, "posts_90d"] = -5
    src = write_table(rows, tmp_path / "in.csv")
    out = tmp_path / "pred.csv"
    done = CliRunner().invoke(app, ["predict", str(src), "--out", str(out), "--model",
                                    f"models:/ssi-estimator/{trained.model_version}"])
    assert done.exit_code == 0, done.output
    predictions = pd.read_csv(out)
    quarantine = pd.read_csv(tmp_path / "pred.quarantine.csv")
    assert len(predictions) + len(quarantine) == 40
    assert "posts_90d: -5 is below the minimum 0" in " ".join(quarantine["reason"])
    assert rows.loc[3, "member_id"] not in set(predictions["member_id"])


@pytest.mark.model  # an (empty) MLflow store
def test_predict_without_a_champion_says_what_to_run(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/empty.db")
    src = write_table(simulate_cohort(5, 1), tmp_path / "in.csv")
    done = CliRunner().invoke(app, ["predict", str(src), "--out", str(tmp_path / "p.csv")])
    assert done.exit_code == 2
    assert "make train promote" in done.output and "Traceback" not in done.output


def test_evaluation_report_has_noise_floor_and_learning_curve(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from ssi_model.tracking.evaluate import evaluate_run

    result = evaluate_run(trained.run_id, tmp_path / "eval", sizes=(500,))
    text = result.report.read_text()
    assert "noise floor" in text and "MAE / floor" in text and "Learning curve" in text
    assert "- trained on: simulated (0 reported scores)" in text
    assert result.noise_floor is not None and all(v > 0 for v in result.noise_floor.values())
    # each size asked for, then every training row; the default experiment has no prior
    assert list(result.learning_curve["rows"]) == [500, trained.n_train]
    assert set(result.learning_curve["variant"]) == {"scratch"}
    assert (tmp_path / "eval" / "learning_curve.png").stat().st_size > 1000
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(trained.run_id, "evaluation")}
    assert "evaluation/evaluation.md" in logged
