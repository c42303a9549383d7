"""Learning from few reported scores: the simulator as a prior, the search, the learning curve.

The reported scores here come from the `elsewhere` calibration, our stand-in for a world that is
not the simulator the prior is trained on (other pillar formulas, members and reporting noise).
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from tests.model_checks import monotone_columns_checked

from ssi_model.contract import PILLARS
from ssi_model.errors import UserError
from ssi_model.io import write_table
from ssi_model.model.config import ExperimentConfig, load_config
from ssi_model.model.holdout import holdout_metrics, split_holdout
from ssi_model.model.prior import PriorModel
from ssi_model.model.train import fit_estimator, labels_frame, make_builder
from ssi_model.settings import Settings
from ssi_model.simulator import simulate_cohort
from ssi_model.tracking.evaluate import evaluate_run, latest_run_id
from ssi_model.tracking.prior import load_prior
from ssi_model.tracking.registry import Registry
from ssi_model.tracking.runs import RunResult
from ssi_model.validation import validate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def config() -> ExperimentConfig:
    """experiments/small-data.yaml, made smaller: a 3,000-member prior at one shrink, 3 folds,
    2 trials."""
    config = load_config(ROOT / "experiments" / "small-data.yaml")
    return config.model_copy(update={
        "model": config.model.model_copy(update={"cv_folds": 3, "num_boost_round": 400}),
        "prior": config.prior.model_copy(update={
            "simulate": config.prior.simulate.model_copy(update={"n": 3000}), "shrink": (0.6,)}),
        "search": config.search.model_copy(update={"trials": 2}),
    })


@pytest.fixture(scope="module")
def world() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reported scores from another world: about 500 members to train on, 500 held out."""
    rows = validate(simulate_cohort(1000, 21, calibration="elsewhere")).clean
    rows["member_id"] = rows["member_id"].str.replace("sim-", "client-")
    return split_holdout(rows, 0.5)


@pytest.fixture(scope="module")
def prior(config: ExperimentConfig) -> PriorModel:
    prior = load_prior(config)
    assert prior is not None
    return prior


def test_the_small_data_experiment_names_a_simulated_prior_and_a_search(
        config: ExperimentConfig) -> None:
    shipped = load_config(ROOT / "experiments" / "small-data.yaml")
    assert shipped.prior.source == "simulate" and shipped.prior.choose == "cv"
    assert shipped.search.trials > 0 and "learning_rate" in shipped.search.space
    assert shipped.data == load_config(ROOT / "experiments" / "default.yaml").data


def test_a_bad_prior_setting_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nprior: {source: simulate, choose: sometimes}\n")
    with pytest.raises(UserError, match=r"prior\.choose"):
        load_config(path)


def test_the_rescaled_prior_is_the_line_through_the_reported_scores(
        prior: PriorModel, world: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, _ = world
    builder = make_builder()
    x = builder.transform(train)[builder.feature_blocks_["brand"]].to_numpy(float)
    before = prior.boosters["brand"].predict(x)
    observed = labels_frame(train)["brand"].to_numpy()
    slope, _ = np.polyfit(before, observed, 1)
    for shrink in (1.0, 0.5):
        after = prior.rescaled("brand", before, observed, shrink).predict(x)
        k = max(slope, 0.0) * shrink
        assert np.allclose(after, k * before + np.mean(observed - k * before), atol=1e-6)
    assert np.allclose(prior.boosters["brand"].predict(x), before)  # the prior is untouched


def test_the_prior_beats_scratch_on_another_world_and_stays_monotone(
        config: ExperimentConfig, prior: PriorModel,
        world: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, holdout = world
    scratch = config.model_copy(update={"prior": config.prior.model_copy(
        update={"source": "none"})})
    with_prior = fit_estimator(train, config, prior=prior)
    alone = fit_estimator(train, scratch)
    mae_prior = holdout_metrics(with_prior.estimator, holdout)[0]["total_mae"]
    mae_scratch = holdout_metrics(alone.estimator, holdout)[0]["total_mae"]
    assert mae_prior < mae_scratch
    starts = with_prior.estimator.meta["start"]
    assert "prior" in starts.values() and set(alone.estimator.meta["start"].values()) == {
        "scratch"}
    assert with_prior.estimator.meta["prior"]["source"] == "simulated:linkedin:n=3000:seed=1"
    # Every pillar that starts from the prior holds the prior's trees and the correction's.
    for pillar in PILLARS:
        if starts[pillar] == "prior":
            assert (with_prior.estimator.boosters[pillar].current_iteration()
                    > prior.rounds(pillar))
    assert monotone_columns_checked(with_prior.estimator, holdout.head(150)) >= 20


def test_the_search_is_reproducible_and_keeps_the_best_candidate(
        config: ExperimentConfig, prior: PriorModel,
        world: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    rows = world[0].head(200)
    first = fit_estimator(rows, config, prior=prior)
    second = fit_estimator(rows, config, prior=prior)
    assert first.candidates == second.candidates
    for pillar in PILLARS:
        table = first.candidates[pillar]
        # scratch, the prior at each shrink, then the search's trials
        assert len(table) == 1 + len(config.prior.shrink) + config.search.trials
        assert [c["label"] for c in table][-2:] == ["trial 0", "trial 1"]
        assert first.choices[pillar]["cv_mae"] == min(c["cv_mae"] for c in table)


@pytest.fixture(scope="module")
def coach_run(mlflow_uri: str, config: ExperimentConfig, world: tuple[pd.DataFrame, pd.DataFrame],
              tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """`make train DATA=rows.csv EXPERIMENT=experiments/small-data.yaml` for 400 clients (under
    a model name of its own, so the session's registered model is left alone)."""
    from ssi_model.tracking.runs import train_run

    data = write_table(pd.concat([world[0].head(300), world[1].head(100)]),
                       tmp_path_factory.mktemp("coach") / "rows.csv")
    registry = Registry(Settings(SSI_MODEL_NAME="ssi-small-data"))  # type: ignore[call-arg]
    return train_run(config, registry=registry, data=data)


@pytest.mark.model
def test_a_coach_sized_run_logs_its_candidates_as_nested_runs(
        coach_run: RunResult, config: ExperimentConfig) -> None:
    client = mlflow.MlflowClient()
    run = client.get_run(coach_run.run_id)
    assert run.data.tags["prior_source"] == "simulated:linkedin:n=3000:seed=1"
    # 300 reported scores corrected a simulated prior, and the model says so
    assert coach_run.provenance is not None
    assert coach_run.provenance.trained_on == "prior+reported"
    assert coach_run.provenance.n_reported == coach_run.n_train
    prior = coach_run.provenance.prior
    assert prior is not None and prior["trained_on"] == "simulated"
    assert prior["source"] == "simulated:linkedin:n=3000:seed=1"
    assert 2900 < prior["n"] < 3000  # the simulated members that passed validation
    assert run.data.tags["trained_on"] == "prior+reported"
    children = client.search_runs(
        [run.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{coach_run.run_id}'")
    assert sorted(c.data.tags["pillar"] for c in children) == sorted(PILLARS)
    for child in children:
        history = client.get_metric_history(child.info.run_id, "cv_mae")
        assert len(history) == 1 + len(config.prior.shrink) + config.search.trials
        assert child.data.metrics["best_cv_mae"] == min(m.value for m in history)
        pillar = child.data.tags["pillar"]
        assert run.data.params[f"chosen.{pillar}.label"] == child.data.params["chosen"]
    # `ssi evaluate` without --run takes the latest training run, not one of its nested runs
    assert latest_run_id(config.mlflow_experiment, client) == coach_run.run_id


@pytest.mark.slow
def test_the_learning_curve_compares_prior_and_scratch_at_each_size(
        coach_run: RunResult, tmp_path: Path) -> None:
    evaluation = evaluate_run(coach_run.run_id, tmp_path / "eval", sizes=(150,))
    curve = evaluation.learning_curve
    assert curve is not None
    assert set(curve["variant"]) == {"prior", "scratch"}
    assert sorted(set(curve["rows"])) == [150, coach_run.n_train]
    assert curve[[f"{t}_coverage" for t in ("total", *PILLARS)]].stack().between(0, 1).all()
    text = evaluation.report.read_text()
    assert "| 150 | prior |" in text and "| 150 | scratch |" in text
