"""SSIEstimator: contract rows in, the four pillars and the total out, with 90 % intervals.

One native LightGBM booster per pillar, each reading its pillar's feature block; the total is the
sum of the pillars, so every explanation adds up. Everything prediction needs is saved in one
folder: the boosters in LightGBM's own text format and a JSON bundle (feature settings, interval
calibration, peer statistics, metadata). No pickle.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from ssi_model.batch import ProfileBatch, as_batch
from ssi_model.contract import CONTRACT, PILLARS
from ssi_model.features import PillarFeatureBuilder
from ssi_model.model.fast_predict import FastPredictor
from ssi_model.model.intervals import IntervalCalibration, IntervalSet
from ssi_model.model.peers import PeerStats
from ssi_model.model.trees import CompiledTrees, LightGBMTrees, trees_for

TOTAL = "total"
PREDICTION_COLUMNS = [
    "member_id",
    *[f"ssi_{t}{s}" for t in (TOTAL, *PILLARS) for s in ("", "_lo", "_hi")],
    "industry_top_pct",
]
BUNDLE = "bundle.json"
_TARGETS = (TOTAL, *PILLARS)
FAST_ROWS = 64
"""Up to this many rows' SHAP values go through LightGBM's single-row fast path, row by row,
instead of ``Booster.predict(pred_contrib=True)`` (its set-up is paid per call). On the bench's
20k model the two cost the same per row between 64 and 128 rows. (Predictions, of any number of
rows, go through the compiled trees: ``model.trees``.)"""
PIPELINE_ROWS = 8_192
"""Rows per chunk when ``SSIEstimator.predict`` pipelines a large batch over two threads."""
PEER_CACHE_ROWS = 20_000
"""Peer profiles whose SHAP values an estimator remembers (about 1 KB each)."""
Rows = pd.DataFrame | Sequence[Mapping[str, Any]] | ProfileBatch


@dataclass(frozen=True)
class Predictions:
    """What ``SSIEstimator.predict`` returns: per member, total and pillars with their 90 %
    intervals (rounded to 2 decimals) and the industry rank, as numpy arrays.

    ``values``: every column of ``PREDICTION_COLUMNS`` but ``member_id``, float64, in that order.
    """

    member_id: np.ndarray  # object: str (None when a row had none)
    values: Mapping[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.member_id)

    def __getitem__(self, column: str) -> np.ndarray:
        return self.member_id if column == "member_id" else self.values[column]

    @classmethod
    def concat(cls, parts: Sequence[Predictions]) -> Predictions:
        """The parts' rows one after the other."""
        return cls(member_id=np.concatenate([p.member_id for p in parts]),
                   values={c: np.concatenate([p.values[c] for p in parts])
                           for c in PREDICTION_COLUMNS[1:]})

    def to_frame(self) -> pd.DataFrame:
        """The prediction table: columns ``PREDICTION_COLUMNS``, a row per member."""
        return pd.DataFrame({"member_id": self.member_id, **self.values},
                            columns=PREDICTION_COLUMNS)

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per member (the keys of ``PREDICTION_COLUMNS``; plain Python values), as the
        API and the explanation documents answer."""
        columns = [self.values[c].tolist() for c in PREDICTION_COLUMNS[1:]]
        return [{"member_id": member, **dict(zip(PREDICTION_COLUMNS[1:], row, strict=True))}
                for member, *row in zip(self.member_id.tolist(), *columns, strict=True)]


def _chunk(rows: Rows, start: int, stop: int) -> ProfileBatch:
    """Rows ``start`` to ``stop - 1`` of a frame, records or batch, as a batch."""
    if isinstance(rows, pd.DataFrame):
        batch = ProfileBatch.from_frame(rows.iloc[start:stop])
        if "member_id" in rows.columns:
            return batch
        # numbered as the whole frame numbers its rows without ids, not from 0 in each chunk
        ids = np.arange(start, start + len(batch)).astype(str).astype(object)
        return ProfileBatch(batch.columns, ids)
    if isinstance(rows, ProfileBatch):
        return rows.take(np.arange(start, min(stop, len(rows))))
    return ProfileBatch.from_records(rows[start:stop])


def make_builder(exclude: Sequence[str] = ()) -> PillarFeatureBuilder:
    """The feature builder learns nothing from data; fitting records its metadata."""
    return PillarFeatureBuilder(exclude=tuple(exclude)).fit(
        CONTRACT.empty_frame(CONTRACT.input_columns)
    )


def _clip_pillars(out: np.ndarray) -> np.ndarray:
    """Pillar predictions clipped to 0–25, in place (np.clip's wrapper costs more than these
    two ufuncs for a row; the same values)."""
    np.maximum(out, 0.0, out=out)
    return np.minimum(out, CONTRACT.pillar_max, out=out)


@dataclass
class SSIEstimator:
    builder: PillarFeatureBuilder
    boosters: dict[str, lgb.Booster]
    intervals: dict[str, IntervalCalibration]
    peers: PeerStats
    meta: dict[str, Any] = field(default_factory=dict)

    # -- features --------------------------------------------------------------------------------

    @property
    def feature_names(self) -> list[str]:
        return list(self.builder.feature_names_out_)

    @property
    def blocks(self) -> dict[str, list[str]]:
        return self.builder.feature_blocks_

    def features(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The feature frame of contract rows (training, baselines and plots read it)."""
        return self.builder.transform(rows)

    def _block_index(self) -> dict[str, np.ndarray]:
        if not hasattr(self, "_index_cache"):
            pos = {n: i for i, n in enumerate(self.feature_names)}
            self._index_cache = {p: np.array([pos[f] for f in self.blocks[p]]) for p in PILLARS}
        return self._index_cache

    # -- prediction ------------------------------------------------------------------------------

    def predict_matrix(self, features: np.ndarray | pd.DataFrame) -> np.ndarray:
        """Pillar predictions (n, 4) in PILLARS order from a feature matrix, clipped to 0–25."""
        x = features.to_numpy(dtype=float) if isinstance(features, pd.DataFrame) else features
        if not len(x):  # no rows, no predictions
            return np.empty((0, len(PILLARS)))
        return _clip_pillars(self._compiled_trees().predict(x))

    def _fast_predictors(self) -> dict[str, FastPredictor]:
        """One SHAP fast-path handle per booster, made on first use and remade if a booster is
        replaced (the handle belongs to the booster object it was made from). LightGBM computes
        the same values as ``Booster.predict(pred_contrib=True)``."""
        cache: dict[str, FastPredictor] = self.__dict__.get("_fast_cache", {})
        if any(p not in cache or cache[p].booster is not self.boosters[p] for p in PILLARS):
            cache = self.__dict__["_fast_cache"] = {
                p: FastPredictor(self.boosters[p], contributions=True) for p in PILLARS}
        return cache

    def _compiled_trees(self) -> CompiledTrees | LightGBMTrees:
        """The four boosters' trees compiled (``model.trees``), each reading its block of a
        feature row; made on first use and remade if a booster is replaced. Their predictions
        are the boosters' own, bit for bit (boosters the compiled walk does not reproduce, such
        as a Poisson objective's, are scored by LightGBM itself)."""
        compiled: CompiledTrees | LightGBMTrees | None = self.__dict__.get("_trees_cache")
        if compiled is None or any(a is not b for a, b in zip(
                compiled.boosters, (self.boosters[p] for p in PILLARS), strict=True)):
            idx = self._block_index()
            compiled = self.__dict__["_trees_cache"] = trees_for(
                [self.boosters[p] for p in PILLARS], [idx[p].tolist() for p in PILLARS])
        return compiled

    def predict_sharing(self, features: np.ndarray, reference: np.ndarray,
                        known: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """:meth:`predict_matrix` of rows of which many differ from a reference row in a few
        features only (a member's lever variants and plans: its row, changed).

        ``reference[i]``: the row that row ``i`` was made from, or -1: a row of ``features``
        (one with no reference itself) or, given ``known`` (rows of features and their
        predictions), one of those. A pillar's booster reads only its block of features, and
        LightGBM scores each row on its own: where a row's block is bit for bit its
        reference's, the pillar's prediction is copied; only the other (row, pillar) pairs are
        scored.
        """
        idx = self._block_index()
        compiled = self._compiled_trees()
        out = np.empty((len(features), len(PILLARS)))
        derived = np.flatnonzero(reference >= 0)
        for j, p in enumerate(PILLARS):
            block = np.ascontiguousarray(features[:, idx[p]], dtype=float)
            origin = block if known is None else np.ascontiguousarray(known[0][:, idx[p]],
                                                                      dtype=float)
            same = np.zeros(len(block), dtype=bool)
            same[derived] = (block[derived].view(np.uint64)
                             == origin[reference[derived]].view(np.uint64)).all(axis=1)
            scored = np.flatnonzero(~same)
            if len(scored):
                out[scored, j] = compiled.predict(features[scored], j)
            out[same, j] = (out if known is None else known[1])[reference[same], j]
        return _clip_pillars(out)

    def predict_pillars(self, rows: Rows) -> np.ndarray:
        """Unrounded pillar predictions (n, 4) in PILLARS order, clipped to 0–25."""
        return self.predict_matrix(self.builder.features(as_batch(rows)))

    def predict(self, rows: Rows) -> Predictions:
        """The prediction table of PRODUCT.md: per member, total and pillars with intervals.

        ``rows``: a frame (typed or raw), plain records (as the API gets them) or a batch.

        A large batch (from ``2 * PIPELINE_ROWS`` rows) is scored in chunks of ``PIPELINE_ROWS``
        as a pipeline over two threads: while the compiled trees walk one chunk on a worker
        thread (without the GIL), this thread reads the next chunk and computes its features,
        then the finished chunk's table. The trees' work is the same, row for row, and so is
        every value: only the reading and the tables no longer wait for it.
        """
        if len(rows) < 2 * PIPELINE_ROWS:
            batch = as_batch(rows)
            return self.predictions(batch, self.predict_matrix(self.builder.features(batch)))
        parts: list[Predictions] = []
        pending: list[tuple[ProfileBatch, Future[np.ndarray]]] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ssi-trees") as trees:
            for start in range(0, len(rows), PIPELINE_ROWS):
                batch = _chunk(rows, start, start + PIPELINE_ROWS)
                pending.append((batch, trees.submit(self.predict_matrix,
                                                    self.builder.features(batch))))
                if len(pending) == 2:  # the previous chunk's table while this one is walked
                    done, walked = pending.pop(0)
                    parts.append(self.predictions(done, walked.result()))
            parts += [self.predictions(done, walked.result()) for done, walked in pending]
        return Predictions.concat(parts)

    def predictions(self, batch: ProfileBatch, pillars: np.ndarray) -> Predictions:
        """The typed result for pillars already predicted for ``batch`` (the explanations score a
        member together with its lever variants in one pass, then summarise the member here)."""
        return Predictions(member_id=batch.member_id,
                           values=self._prediction_columns(batch["industry"], pillars))

    def _prediction_columns(self, industries: Iterable[Any],
                            pillars: np.ndarray) -> dict[str, np.ndarray]:
        """Total and pillars with their intervals (rounded to 2 decimals) and the industry rank,
        vectorised over the batch; ``industries``: one per row, ``None`` when unknown."""
        n = len(pillars)
        values = np.empty((len(_TARGETS), n))  # total, then the pillars (_TARGETS order)
        values[1:] = pillars.T
        values[0] = pillars.sum(axis=1)
        table = np.empty((len(_TARGETS), 3, n))  # per target: value, _lo, _hi
        table[:, 0] = values
        table[:, 1:] = self._interval_set.intervals(values)
        # One rounding for the 15 columns: for a single profile, each numpy call costs more
        # than its arithmetic.
        rounded = table.reshape(3 * len(_TARGETS), n).round(2)
        out: dict[str, np.ndarray] = dict(zip(PREDICTION_COLUMNS[1:16], rounded, strict=True))
        groups: dict[Any, list[int]] = {}
        for i, industry in enumerate(industries):
            groups.setdefault(industry, []).append(i)
        top = np.empty(n)
        for industry, rows in groups.items():  # one lookup per industry in the batch
            top[rows] = self.peers.top_pct(industry, values[0][rows])
        out["industry_top_pct"] = top
        return out

    @property
    def _interval_set(self) -> IntervalSet:
        """The five calibrations in ``_TARGETS`` order, scored together (made once)."""
        current = tuple(self.intervals[t] for t in _TARGETS)
        cached: IntervalSet | None = self.__dict__.get("_intervals_cache")
        if cached is None or any(a is not b for a, b in zip(cached.calibrations, current,
                                                            strict=True)):
            cached = self.__dict__["_intervals_cache"] = IntervalSet(current)
        return cached

    def contribution_arrays(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Per pillar, SHAP values (n, block + 1): the block's features in order, then the base."""
        idx = self._block_index()
        out: dict[str, np.ndarray] = {}
        if len(features) <= FAST_ROWS:  # a few members explained: no per-call predictor set-up
            fast = self._fast_predictors()
            return {p: fast[p].contributions(features[:, idx[p]]) for p in PILLARS}
        for p in PILLARS:
            contrib = self.boosters[p].predict(features[:, idx[p]], pred_contrib=True,
                                               num_threads=1)
            out[p] = np.asarray(contrib)  # dense input: always one (n, block + 1) array
        return out

    def member_contribution_arrays(self, members: np.ndarray,
                                   peers: np.ndarray) -> dict[str, np.ndarray]:
        """``contribution_arrays`` of the members' rows then their peer profiles' rows, in one
        LightGBM call per pillar; a peer row is computed once per model and then remembered.

        A peer profile is a member's context with the peer group's median behaviour, so it stays
        the same while the member changes behaviour (a form re-explained as the member types)
        and is shared by members of one group and context. SHAP is the dearest part of an
        explanation; LightGBM scores each row on its own, so a remembered row's values are the
        ones a new call would give. At most ``PEER_CACHE_ROWS`` rows are kept (then the memory
        starts over).
        """
        cache: dict[bytes, dict[str, np.ndarray]] = self.__dict__.setdefault("_peer_shap", {})
        keys = [row.tobytes() for row in np.ascontiguousarray(peers, dtype=float)]
        if len(cache) + len(keys) > PEER_CACHE_ROWS:
            cache.clear()
        # This call's rows are looked up once and kept here: explanations on other threads may
        # clear or fill the shared memory meanwhile.
        rows = {k: known for k in keys if (known := cache.get(k)) is not None}
        new = [k for k in dict.fromkeys(keys) if k not in rows]
        fresh = np.frombuffer(b"".join(new), dtype=float).reshape(len(new), peers.shape[1])
        n = len(members)
        arrays = self.contribution_arrays(np.vstack([members, fresh]))
        for i, key in enumerate(new):
            rows[key] = cache[key] = {p: a[n + i] for p, a in arrays.items()}
        return {p: np.vstack([a[:n], *[rows[k][p] for k in keys]]) if keys else a[:n]
                for p, a in arrays.items()}

    def contributions(self, features: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """Per pillar, SHAP values (tree path-dependent, from LightGBM) per feature + ``base``."""
        arrays = self.contribution_arrays(features.to_numpy(dtype=float))
        return {p: pd.DataFrame(a, columns=[*self.blocks[p], "base"], index=features.index)
                for p, a in arrays.items()}

    # -- persistence -----------------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for p, booster in self.boosters.items():
            booster.save_model(str(folder / f"booster_{p}.txt"))
        bundle = {
            "format": 1,
            "pillars": list(PILLARS),
            "feature_exclude": list(self.builder.exclude),
            "feature_names": self.feature_names,
            "intervals": {k: v.to_dict() for k, v in self.intervals.items()},
            "peers": self.peers.to_dict(),
            "meta": self.meta,
        }
        (folder / BUNDLE).write_text(json.dumps(bundle, indent=1), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> SSIEstimator:
        folder = Path(folder)
        bundle = json.loads((folder / BUNDLE).read_text(encoding="utf-8"))
        builder = make_builder(bundle["feature_exclude"])
        if list(builder.feature_names_out_) != bundle["feature_names"]:
            raise ValueError(
                f"{folder}: the model was trained with other features than this code builds; "
                "retrain it or use the code version it was logged with"
            )
        boosters = {p: lgb.Booster(model_file=str(folder / f"booster_{p}.txt")) for p in PILLARS}
        estimator = cls(
            builder=builder,
            boosters=boosters,
            intervals={k: IntervalCalibration.from_dict(v) for k, v in bundle["intervals"].items()},
            peers=PeerStats.from_dict(bundle["peers"]),
            meta=bundle.get("meta", {}),
        )
        estimator.prepare()
        return estimator

    def prepare(self) -> None:
        """Make what predictions build on first use: the compiled trees, their kernel loaded (a
        few tenths of a second). Loading a model does it, so a first prediction costs what the
        next ones do."""
        self.predict_matrix(np.zeros((1, len(self.feature_names))))
