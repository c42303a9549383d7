"""Where MLflow lives: a client for the configured store, and experiments that keep artifacts
beside it.

Library code talks to MLflow only through an ``MlflowClient`` built for an explicit tracking URI
(``Settings.resolved_tracking_uri()``); it never calls ``mlflow.set_tracking_uri`` nor changes
``os.environ``, so a test, a notebook and a server can each use their own store in one process.
Entry points (the ``ssi`` command, ``serve``) call ``quiet_mlflow`` once.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlflow import MlflowClient

from ssi_model.settings import Settings


def client_for(settings: Settings) -> MlflowClient:
    """A tracking and registry client for the configured store (MLFLOW_TRACKING_URI, else the
    embedded SQLite file, made absolute)."""
    uri = settings.resolved_tracking_uri()
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The id of the experiment ``name``, created if needed; a SQLite store keeps artifacts in
    ``mlruns/`` beside its file (not in the working directory)."""
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    uri = client.tracking_uri
    location = None
    if uri.startswith("sqlite:///"):
        location = (Path(uri[len("sqlite:///"):]).parent / "mlruns").as_uri()
    return str(client.create_experiment(name, artifact_location=location))


def quiet_mlflow() -> None:
    """For entry points only: no artifact-download progress bars in a terminal or a server log,
    and no usage telemetry (nothing leaves the project). Values already set are kept."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
