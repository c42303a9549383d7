"""Quality bars on full-size simulated cohorts (slow: `make test-slow`).

The training issue's bars, on the `linkedin` calibration with about 20,000 training and 5,000
holdout members: MAE of the total at most 1.10 × the noise floor, each pillar at most 1.15 ×;
with 1,000 training rows the total at most 1.5 ×; the model beats both baselines on every pillar;
90 % intervals cover 88–92 % overall and within each pillar; retraining reproduces the metrics.
And the levers issue's bars against the simulator's truth on 500 members.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ssi_model.contract import PILLARS
from ssi_model.explain.evaluate import bootstrap_estimators, evaluate_levers
from ssi_model.model.baselines import linear_baseline, predict_linear, rule_of_thumb
from ssi_model.model.config import ExperimentConfig, load_config
from ssi_model.model.holdout import holdout_metrics, split_holdout
from ssi_model.model.metrics import point_metrics
from ssi_model.model.train import FitResult, fit_estimator, labels_frame
from ssi_model.tracking.data import load_training_data
from ssi_model.tracking.evaluate import noise_floor

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("total", *PILLARS)


@pytest.fixture(scope="module")
def config() -> ExperimentConfig:
    return load_config(ROOT / "experiments/default.yaml")


@pytest.fixture(scope="module")
def split(config: ExperimentConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    validated, _ = load_training_data(config, None)
    return split_holdout(validated.clean, config.data.holdout_share)


@pytest.fixture(scope="module")
def fitted(config: ExperimentConfig, split: tuple[pd.DataFrame, pd.DataFrame]) -> FitResult:
    return fit_estimator(split[0], config)


def test_sizes(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, holdout = split
    assert 19_000 <= len(train) <= 21_000 and 4_500 <= len(holdout) <= 5_500


def test_accuracy_against_the_noise_floor_and_baselines(
        fitted: FitResult, split: tuple[pd.DataFrame, pd.DataFrame],
        config: ExperimentConfig) -> None:
    train, holdout = split
    metrics, _ = holdout_metrics(fitted.estimator, holdout)
    floor = noise_floor(holdout)
    assert floor is not None
    assert metrics["total_mae"] <= 1.10 * floor["total"]
    for p in PILLARS:
        assert metrics[f"{p}_mae"] <= 1.15 * floor[p], p
    est = fitted.estimator
    linear = linear_baseline(est.features(train), labels_frame(train), est.blocks,
                             est.builder.categorical_features_, config.baselines.linear_alpha)
    lin_pred = predict_linear(linear, est.features(holdout), est.blocks)
    rule_pred = rule_of_thumb(holdout)
    observed = labels_frame(holdout)
    for j, p in enumerate(PILLARS):
        y = observed[p].to_numpy()
        assert metrics[f"{p}_mae"] < point_metrics(y, lin_pred[:, j])["mae"], p
        assert metrics[f"{p}_mae"] < point_metrics(y, rule_pred[:, j])["mae"], p


def test_interval_coverage(fitted: FitResult, split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    metrics, _ = holdout_metrics(fitted.estimator, split[1])
    for t in TARGETS:
        assert 0.88 <= metrics[f"{t}_coverage"] <= 0.92, (t, metrics[f"{t}_coverage"])


def test_small_data_total_within_1_5_of_the_floor(
        config: ExperimentConfig, split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, holdout = split
    small = fit_estimator(train.sample(1000, random_state=config.seed), config).estimator
    metrics, _ = holdout_metrics(small, holdout)
    floor = noise_floor(holdout)
    assert floor is not None
    assert metrics["total_mae"] <= 1.5 * floor["total"]


def test_retraining_reproduces_the_metrics_exactly(
        fitted: FitResult, config: ExperimentConfig,
        split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    again = fit_estimator(split[0], config)
    first, _ = holdout_metrics(fitted.estimator, split[1])
    second, _ = holdout_metrics(again.estimator, split[1])
    assert first == second
    assert np.array_equal(fitted.oof, again.oof, equal_nan=True)


def test_lever_quality_bars(fitted: FitResult, config: ExperimentConfig,
                            split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    pair = bootstrap_estimators(split[0], config)
    quality = evaluate_levers(fitted.estimator, members=500, bootstrap_pair=pair)
    assert quality.members == 500
    assert quality.validity >= 0.95
    assert quality.faithfulness_spearman_median >= 0.7
    assert quality.relative_error_median <= 0.30
    assert quality.regret_ratio_median >= 0.8
    assert quality.constraint_violations == 0
    assert quality.stability_share is not None and quality.stability_share >= 0.8
