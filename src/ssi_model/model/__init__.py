"""The estimator: one LightGBM booster per pillar, conformal intervals, peer statistics."""

from ssi_model.model.config import ExperimentConfig, load_config
from ssi_model.model.estimator import SSIEstimator

__all__ = ["ExperimentConfig", "SSIEstimator", "load_config"]
