"""The registry: loading a model version, and promoting one to the ``champion`` alias.

Promotion is a gate, not a button: the candidate and the current champion are scored on the same
holdout rows (the candidate run's logged holdout), and the alias moves only if the candidate's MAE
of the total is no worse and no pillar's MAE is more than 5 % worse. The first version must beat
both baselines. ``--force`` overrides the gate and is recorded on the version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException

from ssi_model.contract import PILLARS
from ssi_model.errors import UserError
from ssi_model.explain.schema import ModelInfo
from ssi_model.model.estimator import TOTAL, SSIEstimator
from ssi_model.model.holdout import holdout_metrics
from ssi_model.tracking.runs import HOLDOUT_ARTIFACT
from ssi_model.tracking.store import configure_mlflow

PILLAR_TOLERANCE = 1.05


@dataclass
class Decision:
    promoted: bool
    version: str
    previous: str | None
    reasons: list[str] = field(default_factory=list)
    candidate_mae: dict[str, float] = field(default_factory=dict)
    champion_mae: dict[str, float] = field(default_factory=dict)
    forced: bool = False


def load_estimator(model_uri: str) -> SSIEstimator:
    """The SSIEstimator behind a pyfunc model URI (models:/name@alias, models:/name/3, ...)."""
    configure_mlflow()
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except MlflowException as exc:
        raise UserError(f"cannot load model {model_uri}: {exc.message}") from None
    estimator: SSIEstimator = model.unwrap_python_model().estimator
    return estimator


def model_info(model_uri: str, estimator: SSIEstimator) -> ModelInfo:
    """Name, version, run and training date of a registry URI, for explanations and reports."""
    name, version = None, None
    if model_uri.startswith("models:/"):
        ref = model_uri[len("models:/"):]
        if "@" in ref:
            name, alias = ref.split("@", 1)
            try:
                version = str(_client().get_model_version_by_alias(name, alias).version)
            except MlflowException:
                version = None
        elif "/" in ref:
            name, version = ref.split("/", 1)
    return ModelInfo(
        name=name or model_uri,
        version=version,
        run_id=estimator.meta.get("run_id"),
        trained_at=estimator.meta.get("trained_at"),
    )


def _client() -> mlflow.MlflowClient:
    configure_mlflow()
    return mlflow.MlflowClient()


def champion_version(name: str, alias: str = "champion") -> str | None:
    try:
        return str(_client().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def latest_version(name: str) -> str:
    versions = _client().search_model_versions(f"name='{name}'")
    if not versions:
        raise UserError(f"no registered versions of {name}: run `make train` first")
    return str(max(int(v.version) for v in versions))


def _holdout_of(name: str, version: str) -> pd.DataFrame:
    client = _client()
    run_id = client.get_model_version(name, version).run_id
    if not run_id:
        raise UserError(f"{name} version {version} has no run, so no holdout to compare on")
    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=HOLDOUT_ARTIFACT)
    return pd.read_parquet(Path(local))


def _maes(estimator: SSIEstimator, holdout: pd.DataFrame) -> dict[str, float]:
    metrics, _ = holdout_metrics(estimator, holdout)
    return {t: metrics[f"{t}_mae"] for t in (TOTAL, *PILLARS)}


def _baseline_check(name: str, version: str) -> list[str]:
    client = _client()
    run_id = client.get_model_version(name, version).run_id
    if not run_id:
        return [f"version {version} has no run, so no baseline metrics to compare with"]
    metrics = client.get_run(run_id).data.metrics
    problems = []
    for target in (TOTAL, *PILLARS):
        model = metrics[f"{target}_mae"]
        for tag in ("linear", "rule"):
            base = metrics[f"baseline_{tag}_{target}_mae"]
            if not model < base:
                problems.append(
                    f"{target}: MAE {model:.3f} does not beat the {tag} baseline ({base:.3f})"
                )
    return problems


def promote(name: str, version: str | None = None, *, alias: str = "champion",
            force: bool = False) -> Decision:
    client = _client()
    version = version or latest_version(name)
    try:
        client.get_model_version(name, version)
    except MlflowException:
        raise UserError(f"{name} has no version {version}") from None
    previous = champion_version(name, alias)
    decision = Decision(promoted=False, version=version, previous=previous, forced=force)

    if previous == version:
        decision.promoted = True  # nothing to move: the alias already points here
        return decision

    if previous is None:
        decision.reasons += _baseline_check(name, version)
    else:
        holdout = _holdout_of(name, version)
        decision.candidate_mae = _maes(load_estimator(f"models:/{name}/{version}"), holdout)
        decision.champion_mae = _maes(load_estimator(f"models:/{name}/{previous}"), holdout)
        cand, champ = decision.candidate_mae, decision.champion_mae
        if cand[TOTAL] > champ[TOTAL] + 1e-9:
            decision.reasons.append(
                f"total: MAE {cand[TOTAL]:.3f} is worse than the champion's {champ[TOTAL]:.3f}"
            )
        for p in PILLARS:
            if cand[p] > PILLAR_TOLERANCE * champ[p] + 1e-9:
                decision.reasons.append(
                    f"{p}: MAE {cand[p]:.3f} is more than 5 % worse than the champion's "
                    f"{champ[p]:.3f}"
                )

    if decision.reasons and not force:
        return decision
    client.set_registered_model_alias(name, alias, version)
    client.set_model_version_tag(name, version, "promotion", json.dumps({
        "forced": force,
        "previous": previous,
        "gate_failures": decision.reasons,
        "candidate_mae": decision.candidate_mae,
        "champion_mae": decision.champion_mae,
    }))
    decision.promoted = True
    return decision

