"""Shared fixtures: a real MLflow store in a temporary folder and one small trained model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ssi_model.model.config import ExperimentConfig, load_config

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    # MLflow's usage telemetry would try the network and its session bookkeeping races under
    # threads (KeyError on _MLFLOW_TELEMETRY_SESSION_ID); the project never sends telemetry.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh SQLite tracking store for the whole session (MLFLOW_TRACKING_URI points at it)."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    before = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    yield uri
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


@pytest.fixture(scope="session")
def small_config() -> ExperimentConfig:
    """The default experiment on a small simulated cohort, so the suite stays fast."""
    config = load_config(ROOT / "experiments" / "default.yaml")
    return config.model_copy(update={
        "data": config.data.model_copy(update={
            "simulate": config.data.simulate.model_copy(update={"n": 3000, "seed": 11})}),
        "model": config.model.model_copy(update={"cv_folds": 3}),
    })


@pytest.fixture(scope="session")
def trained(mlflow_uri: str, small_config: ExperimentConfig):  # type: ignore[no-untyped-def]
    """One registered model version trained on the small cohort (shared by the model tests)."""
    from ssi_model.tracking.runs import train_run

    return train_run(small_config)
