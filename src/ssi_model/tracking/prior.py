"""The prior an experiment names (``prior.source``), made ready for training.

``simulate``: boosters fitted on the simulated cohort ``prior.simulate`` describes (a few seconds
for 20,000 members). Anything else names a registered model (``models:/NAME/3``, ``champion``, a
version number, ``runs:/ID/ssi-estimator``), whose boosters are used as they are.
"""

from __future__ import annotations

from ssi_model.model.config import ExperimentConfig
from ssi_model.model.prior import PriorModel, prior_from_boosters
from ssi_model.model.train import fit_prior
from ssi_model.settings import get_settings
from ssi_model.tracking.data import simulated_rows
from ssi_model.tracking.registry import Registry


def load_prior(config: ExperimentConfig, registry: Registry | None = None) -> PriorModel | None:
    prior = config.prior
    if not prior.enabled:
        return None
    if prior.source == "simulate":
        validated, source = simulated_rows(prior.simulate)
        return fit_prior(validated.clean, config, source=source)
    registry = registry or Registry(get_settings())
    estimator, info = registry.load(prior.source)
    source = f"models:/{info.name}/{info.version}" if info.version else info.name
    provenance = estimator.meta.get("provenance") or {}
    return prior_from_boosters(estimator.boosters, source=source,
                               n_rows=int(estimator.meta.get("n_train", 0)),
                               trained_on=str(provenance.get("trained_on", "unknown")))
