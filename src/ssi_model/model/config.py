"""Experiments as data: ``experiments/*.yaml`` parsed into a typed, validated config.

A config may ``extends: other.yaml`` (a path relative to itself) and override any key; the merged
result is what a run logs, so every run records the full settings it used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ssi_model.contract import PILLARS
from ssi_model.errors import UserError

Origin = Literal["auto", "simulated", "reported"]
ORIGINS: tuple[str, ...] = get_args(Origin)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimulateSource(_Strict):
    n: int = Field(25_000, ge=100)
    seed: int = 0
    calibration: str = "linkedin"


class DataConfig(_Strict):
    simulate: SimulateSource = SimulateSource()
    holdout_share: float = Field(0.2, gt=0, lt=1)
    # Whether the training rows' reported scores are real (see tracking.data): auto decides by
    # the member ids, simulated/reported say so for every row.
    origin: Origin = "auto"


class FeatureConfig(_Strict):
    monotone: bool = True
    monotone_method: str = "intermediate"
    exclude: tuple[str, ...] = ()


def _no_overrides() -> dict[str, dict[str, Any]]:
    return {p: {} for p in PILLARS}


class ModelConfig(_Strict):
    cv_folds: int = Field(5, ge=2)
    early_stopping_rounds: int = Field(50, ge=1)
    validation_share: float = Field(0.1, gt=0, lt=0.5)
    num_boost_round: int = Field(2000, ge=1)
    params: dict[str, Any] = Field(default_factory=dict)
    pillars: dict[str, dict[str, Any]] = Field(default_factory=lambda: _no_overrides())

    def pillar_params(self, pillar: str) -> dict[str, Any]:
        return {**self.params, **(self.pillars.get(pillar) or {})}


class IntervalConfig(_Strict):
    level: float = Field(0.9, gt=0.5, lt=1)
    bins: int = Field(5, ge=1)


class PriorConfig(_Strict):
    """A prior model that the reported scores correct, instead of learning from nothing.

    ``source``: ``none``; ``simulate`` (boosters fitted on the simulated cohort ``simulate``
    describes, with this experiment's ``model.params``); or a registered model (``models:/NAME/3``,
    ``models:/NAME@champion``, ``runs:/ID/model``), whose boosters are used as they are. The
    reported scores are then fitted on top of the prior: per pillar the prior is first refitted
    to them as ``a + shrink * k * prior`` (``PriorModel.rescaled``; one candidate per ``shrink``),
    then LightGBM continues boosting from those trees (``init_model``) with the model's parameters
    and the ``correction`` overrides, the number of added trees chosen by early stopping in each
    CV fold. ``choose: cv`` keeps, per pillar, whichever candidate (each shrink, or training from
    scratch) has the lowest grouped-CV MAE on the reported scores, so the prior's weight fades as
    labels grow; ``always`` never trains from scratch.
    """

    source: str = "none"
    simulate: SimulateSource = SimulateSource(n=20_000, seed=1)
    correction: dict[str, Any] = Field(default_factory=dict)
    shrink: tuple[float, ...] = Field((0.3, 0.6, 1.0), min_length=1)
    choose: Literal["cv", "always"] = "cv"

    @property
    def enabled(self) -> bool:
        return self.source != "none"


class SearchRange(_Strict):
    low: float
    high: float
    log: bool = False
    integer: bool = False


class SearchConfig(_Strict):
    """Hyperparameters chosen by grouped cross-validation on the data given (Optuna's TPE sampler,
    seeded by the experiment's seed, so a rerun picks the same settings).

    Each pillar gets ``trials`` candidates; the configured settings (and, with a prior, both
    prior-plus-correction and scratch) are always among them, so the search cannot end worse in
    CV than not searching. ``trials: 0`` turns the search off.
    """

    trials: int = Field(0, ge=0)
    space: dict[str, SearchRange] = Field(default_factory=dict)


class BaselineConfig(_Strict):
    linear_alpha: float = Field(1.0, gt=0)


class ExperimentConfig(_Strict):
    name: str
    mlflow_experiment: str = "ssi-model"
    seed: int = 42
    data: DataConfig = DataConfig()
    features: FeatureConfig = FeatureConfig()
    model: ModelConfig = ModelConfig()
    intervals: IntervalConfig = IntervalConfig()
    prior: PriorConfig = PriorConfig()
    search: SearchConfig = SearchConfig()
    baselines: BaselineConfig = BaselineConfig()

    def with_seed(self, seed: int) -> ExperimentConfig:
        return self.model_copy(update={"seed": seed})


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _load_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path in seen:
        raise UserError(f"{path}: `extends` loops back to itself")
    if not path.is_file():
        raise UserError(f"{path}: no such experiment config")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: an experiment config must be a mapping")
    parent = raw.pop("extends", None)
    if parent:
        raw = _merge(_load_raw((path.parent / parent).resolve(), (*seen, path)), raw)
    return raw


def load_config(path: str | Path) -> ExperimentConfig:
    path = Path(path).resolve()
    raw = _load_raw(path)
    if "registered_model" in raw:  # an experiment no longer names the model: one name, one place
        raise UserError(f"{path}: registered_model is not an experiment key; the registered "
                        "model's name is SSI_MODEL_NAME (default ssi-estimator)")
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise UserError(f"{path}: {problems}") from None
