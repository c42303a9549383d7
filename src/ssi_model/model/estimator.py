"""SSIEstimator: contract rows in, the four pillars and the total out, with 90 % intervals.

One native LightGBM booster per pillar, each reading its pillar's feature block; the total is the
sum of the pillars, so every explanation adds up. Everything prediction needs is saved in one
folder: the boosters in LightGBM's own text format and a JSON bundle (feature settings, interval
calibration, peer statistics, metadata). No pickle.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from ssi_model.contract import CONTRACT, PILLARS
from ssi_model.features import PillarFeatureBuilder
from ssi_model.model.intervals import IntervalCalibration
from ssi_model.model.peers import PeerStats

TOTAL = "total"
PREDICTION_COLUMNS = [
    "member_id",
    *[f"ssi_{t}{s}" for t in (TOTAL, *PILLARS) for s in ("", "_lo", "_hi")],
    "industry_top_pct",
]
BUNDLE = "bundle.json"
_TARGETS = (TOTAL, *PILLARS)
_VALUE_COLUMNS = [c for c in PREDICTION_COLUMNS if c.startswith("ssi_")]  # value, lo, hi


def make_builder(exclude: Sequence[str] = ()) -> PillarFeatureBuilder:
    """The feature builder learns nothing from data; fitting records its metadata."""
    return PillarFeatureBuilder(exclude=tuple(exclude)).fit(
        CONTRACT.empty_frame(CONTRACT.input_columns)
    )


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
        idx = self._block_index()
        out = np.column_stack(
            [self.boosters[p].predict(x[:, idx[p]], num_threads=1) for p in PILLARS]
        )
        return np.clip(out, 0.0, CONTRACT.pillar_max)

    def predict_pillars(self, rows: pd.DataFrame) -> np.ndarray:
        return self.predict_matrix(self.features(rows))

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The prediction table of PRODUCT.md: per member, total and pillars with intervals."""
        pillars = self.predict_pillars(rows)
        return self.prediction_frame(rows, pillars)

    def prediction_frame(self, rows: pd.DataFrame, pillars: np.ndarray) -> pd.DataFrame:
        if "industry" in rows:
            known = rows["industry"].notna()
            industries = rows["industry"].astype(object).where(known, None).tolist()
        else:
            industries = [None] * len(rows)
        out: dict[str, Any] = {
            "member_id": rows["member_id"].astype("string").to_numpy()
            if "member_id" in rows else np.arange(len(rows)).astype(str),
            **self._prediction_columns(industries, pillars),
        }
        return pd.DataFrame(out, columns=PREDICTION_COLUMNS)

    def prediction_records(self, member_ids: Iterable[Any], industries: Iterable[Any],
                           pillars: np.ndarray) -> list[dict[str, Any]]:
        """``prediction_frame`` without pandas, for a few rows: one dict per member.

        The same numbers; the API and single-member explanations answer this way.
        """
        columns = self._prediction_columns(industries, pillars)
        table = np.column_stack([columns[c] for c in _VALUE_COLUMNS]).tolist()
        return [
            {"member_id": str(member), **dict(zip(_VALUE_COLUMNS, row, strict=True)),
             "industry_top_pct": rank}
            for member, row, rank in zip(member_ids, table, columns["industry_top_pct"].tolist(),
                                         strict=True)
        ]

    def _prediction_columns(self, industries: Iterable[Any],
                            pillars: np.ndarray) -> dict[str, np.ndarray]:
        """Total and pillars with their intervals (rounded to 2 decimals) and the industry rank,
        vectorised over the batch; ``industries``: one per row, ``None`` when unknown."""
        values = {TOTAL: pillars.sum(axis=1), **dict(zip(PILLARS, pillars.T, strict=True))}
        out: dict[str, np.ndarray] = {}
        for name in _TARGETS:
            lo, hi = self.intervals[name].interval(values[name])
            out[f"ssi_{name}"] = values[name].round(2)
            out[f"ssi_{name}_lo"] = lo.round(2)
            out[f"ssi_{name}_hi"] = hi.round(2)
        groups: dict[Any, list[int]] = {}
        for i, industry in enumerate(industries):
            groups.setdefault(industry, []).append(i)
        top = np.empty(len(pillars))
        for industry, rows in groups.items():  # one lookup per industry in the batch
            top[rows] = self.peers.top_pct(industry, values[TOTAL][rows])
        out["industry_top_pct"] = top
        return out

    def contribution_arrays(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Per pillar, SHAP values (n, block + 1): the block's features in order, then the base."""
        idx = self._block_index()
        out: dict[str, np.ndarray] = {}
        for p in PILLARS:
            contrib = self.boosters[p].predict(features[:, idx[p]], pred_contrib=True,
                                               num_threads=1)
            out[p] = np.asarray(contrib)  # dense input: always one (n, block + 1) array
        return out

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
        return cls(
            builder=builder,
            boosters=boosters,
            intervals={k: IntervalCalibration.from_dict(v) for k, v in bundle["intervals"].items()},
            peers=PeerStats.from_dict(bundle["peers"]),
            meta=bundle.get("meta", {}),
        )
