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
from ssi_model.model.prior import PriorModel
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
    # Per pillar: what was chosen ("start": prior or scratch, the parameters, the CV MAE) and
    # every candidate the choice weighed (the configured ones and the search's trials).
    choices: dict[str, dict[str, Any]] = field(default_factory=dict)
    candidates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


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
                   early_stopping: int | None = None,
                   init: lgb.Booster | None = None) -> lgb.Booster:
    """One booster; with ``init``, boosting continues from its trees (the result holds both)."""
    train_set = lgb.Dataset(x, y, categorical_feature=cats, free_raw_data=True)
    callbacks: list[Callable[..., Any]] = []
    valid_sets = []
    if valid is not None:
        valid_sets = [lgb.Dataset(valid[0], valid[1], categorical_feature=cats,
                                  reference=train_set)]
        callbacks.append(lgb.early_stopping(early_stopping or 50, verbose=False))
    return lgb.train(params, train_set, num_boost_round=rounds, valid_sets=valid_sets,
                     callbacks=callbacks, init_model=init)


@dataclass(frozen=True)
class _Design:
    """Labelled rows as the boosters read them: features, labels and members as integer codes
    (GroupKFold compares groups with np.isin, which is slow on strings)."""

    builder: PillarFeatureBuilder
    x: np.ndarray
    labels: pd.DataFrame
    members: np.ndarray

    @classmethod
    def of(cls, rows: pd.DataFrame, config: ExperimentConfig) -> _Design:
        builder = make_builder(config.features.exclude)
        return cls(builder=builder, x=builder.transform(rows).to_numpy(dtype=float),
                   labels=labels_frame(rows),
                   members=pd.factorize(rows["member_id"].astype(str))[0])

    def block(self, pillar: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The pillar's feature names, its columns of the feature matrix and its labels."""
        names = self.builder.feature_blocks_[pillar]
        pos = {n: i for i, n in enumerate(self.builder.feature_names_out_)}
        return names, self.x[:, [pos[f] for f in names]], self.labels[pillar].to_numpy()


@dataclass(frozen=True)
class _Candidate:
    """A way to fit one pillar: its LightGBM parameters, and ``shrink`` when it starts from the
    prior (rescaled with that shrink, see ``PriorModel.rescaled``), None from scratch."""

    label: str
    params: dict[str, Any]
    shrink: float | None = None

    @property
    def start(self) -> str:
        return "scratch" if self.shrink is None else "prior"


@dataclass
class _CV:
    """A candidate's grouped cross-validation: out-of-fold predictions and trees added per fold."""

    oof: np.ndarray
    added: list[int]
    mae: float


@dataclass(frozen=True)
class _PillarData:
    pillar: str
    x: np.ndarray
    y: np.ndarray
    rows: np.ndarray  # rows with a label
    cats: list[int]
    # (fit rows, early-stopping rows, held-out rows) per fold: every candidate sees the same folds
    folds: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    prior: PriorModel | None = None
    prior_pred: np.ndarray | None = None  # the prior's prediction for every row

    def start(self, cand: _Candidate, rows: np.ndarray) -> lgb.Booster | None:
        """The booster ``cand`` continues from, rescaled on ``rows`` only (no held-out label)."""
        if cand.shrink is None:
            return None
        assert self.prior is not None and self.prior_pred is not None
        return self.prior.rescaled(self.pillar, self.prior_pred[rows], self.y[rows], cand.shrink)

    def fit(self, cand: _Candidate, rounds: int) -> lgb.Booster:
        """The final booster on every labelled row."""
        return _train_booster(cand.params, self.x[self.rows], self.y[self.rows], self.cats,
                              rounds, init=self.start(cand, self.rows))

    def cross_validate(self, cand: _Candidate, m: Any, bar: Any = None) -> _CV:
        oof = np.full(len(self.rows), np.nan)
        added = []
        for fit_rows, valid_rows, held_rows in self.folds:
            init = self.start(cand, fit_rows)
            booster = _train_booster(cand.params, self.x[fit_rows], self.y[fit_rows], self.cats,
                                     m.num_boost_round,
                                     (self.x[valid_rows], self.y[valid_rows]),
                                     m.early_stopping_rounds, init=init)
            best = int(booster.best_iteration or booster.current_iteration())
            base = 0 if init is None else int(init.current_iteration())
            added.append(max(1, best - base))
            # ``rows`` is sorted (np.flatnonzero), so each held-out row's place is a search
            oof[np.searchsorted(self.rows, held_rows)] = booster.predict(self.x[held_rows],
                                                                         num_iteration=best)
            if bar is not None:
                bar.advance()
        mae = float(np.mean(np.abs(np.clip(oof, 0.0, CONTRACT.pillar_max) - self.y[self.rows])))
        return _CV(oof=oof, added=added, mae=mae)


def _pillar_data(pillar: str, x: np.ndarray, y: np.ndarray, cats: list[int],
                 members: np.ndarray, m: Any, seed: int,
                 prior: PriorModel | None) -> _PillarData:
    rows = np.flatnonzero(~np.isnan(y))
    # Folds and the early-stopping split keep each member's rows together, so repeated
    # snapshots (or bootstrap copies) of one member never sit on both sides of a split.
    groups = members[rows]
    folds = []
    splitter = GroupKFold(m.cv_folds, shuffle=True, random_state=seed)
    for k, (fit_idx, held_idx) in enumerate(splitter.split(rows, groups=groups)):
        fit_rows, held_rows = rows[fit_idx], rows[held_idx]
        inner = GroupShuffleSplit(1, test_size=m.validation_share, random_state=seed + k)
        inner_fit, inner_valid = next(inner.split(fit_rows, groups=members[fit_rows]))
        folds.append((fit_rows[inner_fit], fit_rows[inner_valid], held_rows))
    prior_pred = (None if prior is None
                  else np.asarray(prior.boosters[pillar].predict(x, num_threads=1)))
    return _PillarData(pillar=pillar, x=x, y=y, rows=rows, cats=cats, folds=folds,
                       prior=prior, prior_pred=prior_pred)


def _candidates(config: ExperimentConfig, params: dict[str, Any],
                with_prior: bool) -> list[_Candidate]:
    """The configured ways to fit a pillar: from scratch, and with a prior, from the prior
    rescaled with each configured shrink, plus the correction's trees."""
    if not with_prior:
        return [_Candidate("scratch", params)]
    corrected = [_Candidate(f"prior x{s:g}", {**params, **config.prior.correction}, s)
                 for s in config.prior.shrink]
    if config.prior.choose == "always":
        return corrected
    return [*corrected, _Candidate("scratch", params)]


def _choose(data: _PillarData, configured: list[_Candidate], config: ExperimentConfig,
            pillar: str, bar: Any) -> tuple[_Candidate, _CV, list[dict[str, Any]]]:
    """The candidate with the lowest grouped-CV MAE among the configured ones and the search's."""
    m = config.model
    tried: list[tuple[_Candidate, _CV]] = []

    def run(cand: _Candidate) -> float:
        cv = data.cross_validate(cand, m, bar)
        tried.append((cand, cv))
        return cv.mae

    for cand in configured:
        run(cand)
    if config.search.trials:
        from ssi_model.model.search import search

        search(configured, config.search, seed=config.seed + PILLARS.index(pillar),
               evaluate=run)
    best_cand, best_cv = min(tried, key=lambda t: t[1].mae)  # first of equals: the configured
    table = [{"label": c.label, "start": c.start, "shrink": c.shrink, "cv_mae": cv.mae,
              "added_rounds": int(np.median(cv.added)),
              **{k: c.params[k] for k in config.search.space if k in c.params}}
             for c, cv in tried]
    return best_cand, best_cv, table


def fit_estimator(
    train: pd.DataFrame,
    config: ExperimentConfig,
    *,
    prior: PriorModel | None = None,
    progress: Progress | None = None,
) -> FitResult:
    """Fit the four pillar boosters and their intervals on typed, labelled training rows.

    With ``prior`` (the config's ``prior`` section says how it is used) each pillar may start
    from the prior's booster and fit the labels on top of its predictions.
    """
    say = progress or (lambda _msg: None)
    design = _Design.of(train, config)
    builder, labels = design.builder, design.labels
    m = config.model
    if prior is not None:
        prior.check_blocks(builder.feature_blocks_)

    oof = np.full((len(train), len(PILLARS)), np.nan)
    boosters: dict[str, lgb.Booster] = {}
    best_rounds: dict[str, list[int]] = {}
    choices: dict[str, dict[str, Any]] = {}
    candidates: dict[str, list[dict[str, Any]]] = {}
    candidates_per_pillar = (len(_candidates(config, {}, prior is not None))
                             + config.search.trials)
    # Every fold booster of every candidate and the final booster of each pillar.
    with task("train", total=len(PILLARS) * (candidates_per_pillar * m.cv_folds + 1),
              unit="boosters") as bar:
        for j, pillar in enumerate(PILLARS):
            block, x, y = design.block(pillar)
            data = _pillar_data(pillar, x, y, _categorical(block, builder), design.members, m,
                                config.seed, prior)
            configured = _candidates(config, _lgb_params(config, pillar, block, builder),
                                     prior is not None)
            chosen, cv, candidates[pillar] = _choose(data, configured, config, pillar, bar)
            oof[data.rows, j] = cv.oof
            best_rounds[pillar] = cv.added
            rounds = max(1, int(np.median(cv.added)))
            say(f"{pillar}: final booster ({chosen.start}, {chosen.label}), {rounds} rounds "
                f"on {len(data.rows)} rows")
            boosters[pillar] = data.fit(chosen, rounds)
            choices[pillar] = {"start": chosen.start, "label": chosen.label,
                               "shrink": chosen.shrink,
                               "cv_mae": cv.mae, "added_rounds": rounds,
                               "params": {k: v for k, v in chosen.params.items()
                                          if k != "monotone_constraints"}}
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
        "start": {p: c["start"] for p, c in choices.items()},
    }
    if prior is not None and any(c["start"] == "prior" for c in choices.values()):
        meta["prior"] = prior.describe()
    estimator = SSIEstimator(builder=builder, boosters=boosters, intervals=intervals,
                             peers=peers, meta=meta)
    cv_mae = {
        p: float(np.nanmean(np.abs(oof[:, j] - labels[p].to_numpy())))
        for j, p in enumerate(PILLARS)
    }
    return FitResult(estimator=estimator, oof=oof, best_rounds=best_rounds, cv_mae=cv_mae,
                     choices=choices, candidates=candidates)


def fit_prior(rows: pd.DataFrame, config: ExperimentConfig, *, source: str,
              trained_on: str = "simulated") -> PriorModel:
    """A prior from labelled rows (typically a simulated cohort): per pillar, one booster with the
    experiment's ``model.params``, its rounds chosen by early stopping on a group split, and cut
    at the best round."""
    design = _Design.of(rows, config)
    builder, m = design.builder, config.model
    boosters = {}
    with task("prior", total=len(PILLARS), unit="boosters") as bar:
        for pillar in PILLARS:
            block, x, y = design.block(pillar)
            known = np.flatnonzero(~np.isnan(y))
            split = GroupShuffleSplit(1, test_size=m.validation_share, random_state=config.seed)
            fit_idx, valid_idx = next(split.split(known, groups=design.members[known]))
            fit_rows, valid_rows = known[fit_idx], known[valid_idx]
            booster = _train_booster(_lgb_params(config, pillar, block, builder), x[fit_rows],
                                     y[fit_rows], _categorical(block, builder),
                                     m.num_boost_round, (x[valid_rows], y[valid_rows]),
                                     m.early_stopping_rounds)
            best = int(booster.best_iteration or booster.current_iteration())
            boosters[pillar] = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
            bar.advance()
    return PriorModel(boosters=boosters, source=source, n_rows=len(rows), trained_on=trained_on)
