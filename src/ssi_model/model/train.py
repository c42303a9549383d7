"""Training: four monotone pillar boosters, cross-validated rounds, conformal intervals.

Pure with respect to I/O: typed contract rows and a config in, an ``SSIEstimator`` and its
out-of-fold diagnostics out. MLflow logging lives in ``ssi_model.tracking``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, GroupShuffleSplit

from ssi_model.contract import CONTRACT, PILLAR_LABELS, PILLARS, TOTAL_LABEL
from ssi_model.features import PillarFeatureBuilder
from ssi_model.model.config import ExperimentConfig
from ssi_model.model.estimator import TOTAL, SSIEstimator, make_builder
from ssi_model.model.intervals import calibrate
from ssi_model.model.peers import build_peer_stats
from ssi_model.progress import task

Progress = Callable[[str], None]


def holdout_mask(member_ids: pd.Series, share: float) -> np.ndarray:
    """True for held-out members: a hash of member_id, so the split never depends on the seed."""

    def unit(member_id: str) -> float:
        digest = hashlib.sha256(f"ssi-holdout:{member_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    return np.array([unit(str(m)) < share for m in member_ids], dtype=bool)


def labels_frame(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {p: rows[label].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
         for p, label in PILLAR_LABELS.items()},
        index=rows.index,
    )


@dataclass
class FitResult:
    estimator: SSIEstimator
    oof: np.ndarray  # (n, 4) out-of-fold pillar predictions on the training rows
    best_rounds: dict[str, list[int]] = field(default_factory=dict)
    cv_mae: dict[str, float] = field(default_factory=dict)


def _lgb_params(config: ExperimentConfig, pillar: str, block: list[str],
                builder: PillarFeatureBuilder) -> dict[str, Any]:
    params = {**config.model.pillar_params(pillar), "seed": config.seed}
    if config.features.monotone:
        params["monotone_constraints"] = [builder.monotone_[f] for f in block]
        params["monotone_constraints_method"] = config.features.monotone_method
    return params


def _categorical(block: list[str], builder: PillarFeatureBuilder) -> list[int]:
    return [i for i, f in enumerate(block) if f in builder.categorical_features_]


def _train_booster(params: dict[str, Any], x: np.ndarray, y: np.ndarray, cats: list[int],
                   rounds: int, valid: tuple[np.ndarray, np.ndarray] | None = None,
                   early_stopping: int | None = None) -> lgb.Booster:
    train_set = lgb.Dataset(x, y, categorical_feature=cats, free_raw_data=True)
    callbacks: list[Callable[..., Any]] = []
    valid_sets = []
    if valid is not None:
        valid_sets = [lgb.Dataset(valid[0], valid[1], categorical_feature=cats,
                                  reference=train_set)]
        callbacks.append(lgb.early_stopping(early_stopping or 50, verbose=False))
    return lgb.train(params, train_set, num_boost_round=rounds, valid_sets=valid_sets,
                     callbacks=callbacks)


def fit_estimator(
    train: pd.DataFrame,
    config: ExperimentConfig,
    *,
    progress: Progress | None = None,
) -> FitResult:
    """Fit the four pillar boosters and their intervals on typed, labelled training rows."""
    say = progress or (lambda _msg: None)
    builder = make_builder(config.features.exclude)
    features = builder.transform(train)
    x_all = features.to_numpy(dtype=float)
    labels = labels_frame(train)
    names = list(builder.feature_names_out_)
    pos = {n: i for i, n in enumerate(names)}
    m = config.model
    # Integer codes: GroupKFold compares groups with np.isin, which is slow on strings.
    members = pd.factorize(train["member_id"].astype(str))[0]

    oof = np.full((len(train), len(PILLARS)), np.nan)
    boosters: dict[str, lgb.Booster] = {}
    best_rounds: dict[str, list[int]] = {}
    # Every fold booster and the final one of each pillar: the steps of a fit.
    with task("train", total=len(PILLARS) * (m.cv_folds + 1), unit="boosters") as bar:
        for j, pillar in enumerate(PILLARS):
            block = builder.feature_blocks_[pillar]
            x = x_all[:, [pos[f] for f in block]]
            y = labels[pillar].to_numpy()
            rows = np.flatnonzero(~np.isnan(y))
            params = _lgb_params(config, pillar, block, builder)
            cats = _categorical(block, builder)
            # Folds and the early-stopping split keep each member's rows together, so repeated
            # snapshots (or bootstrap copies) of one member never sit on both sides of a split.
            groups = members[rows]
            folds = GroupKFold(m.cv_folds, shuffle=True, random_state=config.seed)
            best_rounds[pillar] = []
            for k, (fit_idx, held_idx) in enumerate(folds.split(rows, groups=groups)):
                fit_rows, held_rows = rows[fit_idx], rows[held_idx]
                inner = GroupShuffleSplit(1, test_size=m.validation_share,
                                          random_state=config.seed + k)
                inner_fit_idx, inner_valid_idx = next(inner.split(fit_rows,
                                                                  groups=members[fit_rows]))
                inner_fit, inner_valid = fit_rows[inner_fit_idx], fit_rows[inner_valid_idx]
                booster = _train_booster(params, x[inner_fit], y[inner_fit], cats,
                                         m.num_boost_round, (x[inner_valid], y[inner_valid]),
                                         m.early_stopping_rounds)
                best_rounds[pillar].append(int(booster.best_iteration or m.num_boost_round))
                oof[held_rows, j] = booster.predict(x[held_rows],
                                                    num_iteration=booster.best_iteration)
                bar.advance()
            rounds = max(1, int(np.median(best_rounds[pillar])))
            say(f"{pillar}: final booster, {rounds} rounds on {len(rows)} rows")
            boosters[pillar] = _train_booster(params, x[rows], y[rows], cats, rounds)
            bar.advance()
    oof = np.clip(oof, 0.0, CONTRACT.pillar_max)

    iv = config.intervals
    intervals = {
        p: calibrate(oof[:, j], labels[p].to_numpy(), level=iv.level, bins=iv.bins,
                     low=0.0, high=CONTRACT.pillar_max)
        for j, p in enumerate(PILLARS)
    }
    total_observed = train[TOTAL_LABEL].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    intervals[TOTAL] = calibrate(oof.sum(axis=1), total_observed, level=iv.level, bins=iv.bins,
                                 low=0.0, high=CONTRACT.total_max)

    peers = build_peer_stats(train)
    meta = {
        "experiment": config.name,
        "seed": config.seed,
        "monotone": config.features.monotone,
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "n_train": len(train),
        "rounds": {p: b.current_iteration() for p, b in boosters.items()},
    }
    estimator = SSIEstimator(builder=builder, boosters=boosters, intervals=intervals,
                             peers=peers, meta=meta)
    cv_mae = {
        p: float(np.nanmean(np.abs(oof[:, j] - labels[p].to_numpy())))
        for j, p in enumerate(PILLARS)
    }
    return FitResult(estimator=estimator, oof=oof, best_rounds=best_rounds, cv_mae=cv_mae)
