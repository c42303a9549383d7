"""Where MLflow lives: the configured store, and experiments that keep artifacts beside it."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow

from ssi_model.settings import get_settings


def configure_mlflow() -> str:
    """Point MLflow at the configured store (MLFLOW_TRACKING_URI, else the embedded SQLite)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # nothing leaves the project
    uri = get_settings().resolved_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def use_experiment(name: str) -> str:
    """Select (or create) the experiment; a SQLite store keeps artifacts beside its file."""
    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        mlflow.set_experiment(experiment_id=existing.experiment_id)
        return str(existing.experiment_id)
    uri = mlflow.get_tracking_uri()
    location = None
    if uri.startswith("sqlite:///"):
        location = (Path(uri[len("sqlite:///"):]).parent / "mlruns").as_uri()
    experiment_id = mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return str(experiment_id)
