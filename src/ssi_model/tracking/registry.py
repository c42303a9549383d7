"""The model registry: one registered model, resolved, loaded, registered and promoted.

``Registry(settings)`` is the one place that knows the model's name (``SSI_MODEL_NAME``, default
``ssi-estimator``) and alias (``SSI_MODEL_ALIAS``, default ``champion``); training, ``promote``,
``predict``, ``explain``, ``report`` and the API are all handed one. It talks to MLflow through
its own ``MlflowClient`` for the configured store and never touches MLflow's global tracking URI
or the environment.

Loading reads the estimator folder (native LightGBM boosters and a JSON bundle) from a version's
artifacts with this code's ``SSIEstimator.load``: no code logged with the model is imported and
nothing is unpickled. The pyfunc logged beside it is for MLflow's own clients
(``mlflow.pyfunc.load_model``, ``mlflow models predict``, Spark).

Promotion is a gate, not a button: the candidate and the current champion are scored on the same
holdout rows (the candidate run's logged holdout), and the alias moves only if the candidate's MAE
of the total is no worse and no pillar's MAE is more than 5 % worse. The first version must beat
both baselines. A champion that learnt from reported scores is never replaced by a candidate
trained on simulated members only (the versions' ``trained_on`` tags): on the simulated holdout the
candidate may well look better, on real members it is not. ``force`` overrides the gate and is
recorded on the version.
"""

from __future__ import annotations

import json
import re
import tempfile
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
from ssi_model.settings import Settings, get_settings
from ssi_model.tracking.store import client_for

PILLAR_TOLERANCE = 1.05
TRAIN_HINT = "train and promote one: `make train promote`"
MODEL_ARTIFACT = "ssi-estimator"
"""Where a run keeps its model (the pyfunc folder), whatever the registered name."""
_NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[^/]+))/?$")


class NoChampion(UserError, LookupError):
    """The alias does not exist (or the registered model does not)."""


@dataclass
class Decision:
    promoted: bool
    version: str
    previous: str | None
    reasons: list[str] = field(default_factory=list)
    candidate_mae: dict[str, float] = field(default_factory=dict)
    champion_mae: dict[str, float] = field(default_factory=dict)
    forced: bool = False


class Registry:
    """The registered model of these settings, in the store of these settings."""

    def __init__(self, settings: Settings) -> None:
        self.name = settings.ssi_model_name
        self.alias = settings.ssi_model_alias
        self.tracking_uri = settings.resolved_tracking_uri()
        self.client = client_for(settings)

    @property
    def champion_uri(self) -> str:
        """``models:/<name>@<alias>``: what MLflow's own clients load."""
        return f"models:/{self.name}@{self.alias}"

    def version_uri(self, version: str) -> str:
        return f"models:/{self.name}/{version}"

    # -- which version ---------------------------------------------------------------------------

    def resolve(self, ref: str | None = None) -> str:
        """The version ``ref`` names: a version number, an alias, or None for the configured
        alias. Raises NoChampion when the alias is not set, UserError for an unknown version."""
        return self._resolve(self.name, ref or self.alias)

    def _resolve(self, name: str, ref: str) -> str:
        if ref.isdigit():
            try:
                self.client.get_model_version(name, ref)
            except MlflowException as exc:
                if exc.error_code in _NOT_FOUND:
                    raise UserError(f"registered model '{name}' has no version {ref}") from None
                raise
            return ref
        try:
            return str(self.client.get_model_version_by_alias(name, ref).version)
        except MlflowException as exc:
            if exc.error_code in _NOT_FOUND:
                raise NoChampion(
                    f"no {ref}: registered model '{name}' has no version with alias "
                    f"'{ref}'; {TRAIN_HINT}"
                ) from None
            raise

    def latest_version(self) -> str:
        versions = self.client.search_model_versions(f"name='{self.name}'")
        if not versions:
            raise UserError(f"no registered versions of {self.name}: run `make train` first")
        return str(max(int(v.version) for v in versions))

    def alias_version(self) -> str | None:
        """The version the alias points to, or None when it is not set."""
        try:
            return self.resolve()
        except NoChampion:
            return None

    # -- loading ---------------------------------------------------------------------------------

    def load(self, ref: str | None = None) -> tuple[SSIEstimator, ModelInfo]:
        """The estimator ``ref`` names and what explanations say about it.

        ``ref``: None (the configured alias), a version number, an alias, or a model URI
        (``models:/other-name/3``, ``models:/other-name@challenger``, ``runs:/<id>/ssi-estimator``,
        a local folder) to load something else on purpose.
        """
        source, name, version = self.locate(ref)
        if version is None:  # runs:/..., a folder: no registry version to report
            estimator = self._load_uri(source)
            return estimator, _info(source, None, estimator)
        estimator = self._load_uri(source, label=f"models:/{name}/{version}")
        return estimator, _info(name, version, estimator)

    def locate(self, ref: str | None = None) -> tuple[str, str, str | None]:
        """Where the model ``ref`` names (as for ``load``) keeps its pyfunc folder: the
        artifact URI, the registered name and the resolved version (None for a URI outside the
        registry, returned as its own name). For code that hands the folder to MLflow's own
        clients (``mlflow.pyfunc.spark_udf``) after downloading it with this tracking URI."""
        if ref is not None and ("/" in ref or ":" in ref):
            match = _MODELS_URI.match(ref)
            if match is None:
                return ref, ref, None
            name = match["name"]
            version = self._resolve(name, match["version"] or match["alias"])
        else:
            name, version = self.name, self.resolve(ref)
        # The resolved version, not the alias: the alias may move while the files download.
        # Its files are found through this client: MLflow resolves a models:/ URI with the
        # global registry URI, whatever registry_uri it is given.
        return self.client.get_model_version_download_uri(name, version), name, version

    def download(self, ref: str | None, dst: str | Path) -> tuple[Path, str, str | None]:
        """The pyfunc folder of ``ref`` downloaded into ``dst``, its name and version."""
        source, name, version = self.locate(ref)
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=str(dst), tracking_uri=self.tracking_uri,
                registry_uri=self.tracking_uri)
        except MlflowException as exc:
            raise UserError(f"cannot load model {ref or self.champion_uri}: "
                            f"{exc.message}") from None
        return Path(local), name, version

    def _load_uri(self, uri: str, *, label: str | None = None) -> SSIEstimator:
        from mlflow.models import Model

        with tempfile.TemporaryDirectory(prefix="ssi-model-") as tmp:
            try:
                local = Path(mlflow.artifacts.download_artifacts(
                    artifact_uri=uri, dst_path=tmp, tracking_uri=self.tracking_uri,
                    registry_uri=self.tracking_uri))
                flavor = Model.load(str(local)).flavors.get("python_function", {})
            except MlflowException as exc:
                raise UserError(f"cannot load model {label or uri}: {exc.message}") from None
            folder = flavor.get("artifacts", {}).get("estimator", {}).get("path")
            if not folder:
                raise UserError(f"{label or uri} has no 'estimator' artifact (not an ssi-model "
                                "pyfunc)")
            return SSIEstimator.load(local / folder)  # read fully before the folder goes

    # -- registering and promoting ---------------------------------------------------------------

    def register(self, run_id: str, *, tags: dict[str, str] | None = None) -> str:
        """A new version of the model from the run's ``ssi-estimator`` folder; its number."""
        try:
            self.client.create_registered_model(self.name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        artifact_uri = self.client.get_run(run_id).info.artifact_uri
        version = self.client.create_model_version(
            self.name, source=f"{artifact_uri.rstrip('/')}/{MODEL_ARTIFACT}", run_id=run_id,
            tags=tags)
        return str(version.version)

    def promote(self, version: str | None = None, *, force: bool = False) -> Decision:
        """Move the alias to ``version`` (default: the latest) if it passes the gate."""
        client = self.client
        version = self.resolve(version) if version else self.latest_version()
        previous = self.alias_version()
        decision = Decision(promoted=False, version=version, previous=previous, forced=force)

        if previous == version:
            decision.promoted = True  # nothing to move: the alias already points here
            return decision

        if previous is None:
            decision.reasons += self._baseline_check(version)
        else:
            decision.reasons += self._provenance_check(version, previous)
            holdout = self._holdout_of(version)
            decision.candidate_mae = _maes(self.load(version)[0], holdout)
            decision.champion_mae = _maes(self.load(previous)[0], holdout)
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
        client.set_registered_model_alias(self.name, self.alias, version)
        client.set_model_version_tag(self.name, version, "promotion", json.dumps({
            "forced": force,
            "previous": previous,
            "gate_failures": decision.reasons,
            "candidate_mae": decision.candidate_mae,
            "champion_mae": decision.champion_mae,
        }))
        decision.promoted = True
        return decision

    def trained_on(self, version: str) -> str | None:
        """What ``version`` learnt from (its ``trained_on`` tag); None for a version registered
        before provenance was recorded."""
        return self.client.get_model_version(self.name, version).tags.get("trained_on")

    def _provenance_check(self, version: str, champion: str) -> list[str]:
        champion_on, candidate_on = self.trained_on(champion), self.trained_on(version)
        if champion_on in ("reported", "prior+reported") and candidate_on == "simulated":
            return [f"provenance: the champion (version {champion}) learnt from reported scores "
                    f"({champion_on}), version {version} from simulated members only; its "
                    "figures would be illustrative for real members. Train it on reported "
                    "scores (--data), or force the promotion (--force, FORCE=1)"]
        return []

    def _run_of(self, version: str) -> str:
        run_id = self.client.get_model_version(self.name, version).run_id
        if not run_id:
            raise UserError(f"{self.name} version {version} has no run, so no holdout and no "
                            "baseline metrics to compare with")
        return str(run_id)

    def _holdout_of(self, version: str) -> pd.DataFrame:
        from ssi_model.tracking.runs import HOLDOUT_ARTIFACT

        with tempfile.TemporaryDirectory(prefix="ssi-holdout-") as tmp:
            local = self.client.download_artifacts(self._run_of(version), HOLDOUT_ARTIFACT, tmp)
            return pd.read_parquet(Path(local))

    def _baseline_check(self, version: str) -> list[str]:
        metrics = self.client.get_run(self._run_of(version)).data.metrics
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


def _info(name: str, version: str | None, estimator: SSIEstimator) -> ModelInfo:
    return ModelInfo.of(estimator.meta, name=name, version=version)


def _maes(estimator: SSIEstimator, holdout: pd.DataFrame) -> dict[str, float]:
    metrics, _ = holdout_metrics(estimator, holdout)
    return {t: metrics[f"{t}_mae"] for t in (TOTAL, *PILLARS)}


def load_estimator(ref: str | None = None, settings: Settings | None = None) -> SSIEstimator:
    """The estimator ``ref`` names (see ``Registry.load``), in the store of ``settings``
    (default: the environment's). For notebooks and tests; commands hold a Registry."""
    return Registry(settings or get_settings()).load(ref)[0]
