"""Peer statistics from the training population: the comparison a coach makes.

Peers are members of the same industry and role family; when fewer than ``min_peers`` of them were
in training, the industry, then the whole population, stands in. Stored as plain JSON with the
model: medians of the behaviour columns (the peer profile drivers are measured against), mean
reported pillars, and per-industry quantiles of the reported total (for the "Top X %" estimate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from ssi_model.contract import CONTRACT, PILLAR_LABELS, PILLARS, TOTAL_LABEL

ALL = "*"


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def group_key(industry: object, role_family: object) -> str:
    ind = ALL if _missing(industry) else str(industry)
    role = ALL if _missing(role_family) else str(role_family)
    return f"{ind}|{role}"


@dataclass
class PeerGroup:
    n: int
    medians: dict[str, float]
    pillar_means: dict[str, float]


@dataclass
class PeerStats:
    min_peers: int
    groups: dict[str, PeerGroup]
    industry_quantiles: dict[str, list[float]]

    def resolve(self, industry: object, role_family: object) -> str:
        """The most specific group with enough members: industry+role, industry, everyone."""
        for key in (
            group_key(industry, role_family),
            group_key(industry, None),
            group_key(None, None),
        ):
            group = self.groups.get(key)
            if group is not None and group.n >= self.min_peers:
                return key
        return group_key(None, None)

    def top_pct(self, industry: object, total: np.ndarray | float) -> np.ndarray:
        """Estimated 'Top X %' in the industry: the share of that industry scoring higher."""
        key = ALL if _missing(industry) else str(industry)
        q, levels = self._quantiles(key if key in self.industry_quantiles else ALL)
        below = np.interp(np.asarray(total, dtype=float), q, levels, left=0.0, right=100.0)
        # np.minimum/np.maximum rather than np.clip: the same values, a third of the cost
        return np.minimum(np.maximum(100.0 - below, 0.5), 100.0).round(1)

    def _quantiles(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """An industry's quantiles and their levels as arrays, made once (per request before)."""
        cache: dict[str, tuple[np.ndarray, np.ndarray]] = self.__dict__.setdefault(
            "_quantile_arrays", {})
        if key not in cache:
            q = np.asarray(self.industry_quantiles[key])
            cache[key] = q, np.linspace(0, 100, len(q))
        return cache[key]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PeerStats:
        groups = {k: PeerGroup(**v) for k, v in data["groups"].items()}  # type: ignore[attr-defined]
        return cls(
            min_peers=int(data["min_peers"]),  # type: ignore[call-overload]
            groups=groups,
            industry_quantiles={
                k: list(v) for k, v in data["industry_quantiles"].items()  # type: ignore[attr-defined]
            },
        )


def build_peer_stats(train: pd.DataFrame, *, min_peers: int = 30) -> PeerStats:
    """Peer statistics from the typed training rows (with labels), vectorised per grouping."""
    behaviour = [c for c in CONTRACT.behaviour_columns if c in train.columns]
    labels = list(PILLAR_LABELS.values())
    numeric = pd.DataFrame(
        CONTRACT.to_numeric(train, behaviour + labels), columns=behaviour + labels,
        index=train.index,
    )
    industry = train["industry"].astype("string")
    role = train["role_family"].astype("string")
    groupings: list[tuple[pd.Series | None, pd.Series | None]] = [
        (None, None), (industry, None), (industry, role)]
    groups: dict[str, PeerGroup] = {}
    for ind, rol in groupings:
        keys = [k for k in (ind, rol) if k is not None]
        grouped = numeric.groupby(keys, dropna=True) if keys else numeric.groupby(
            np.zeros(len(numeric)))
        sizes, medians, means = grouped.size(), grouped[behaviour].median(), grouped[
            labels].mean()
        for raw_key, size in sizes.items():
            key = cast(Any, raw_key)
            if size < min_peers:
                continue
            parts = key if isinstance(key, tuple) else (key,)
            name = group_key(parts[0] if ind is not None else None,
                             parts[1] if rol is not None else None)
            groups[name] = PeerGroup(
                n=int(size),
                medians={c: float(v) for c, v in medians.loc[key].items() if not pd.isna(v)},
                pillar_means={p: float(means.loc[key, PILLAR_LABELS[p]]) for p in PILLARS
                              if not pd.isna(means.loc[key, PILLAR_LABELS[p]])},
            )

    levels = np.linspace(0, 1, 101)
    totals = train[TOTAL_LABEL].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    quantiles = {ALL: np.nanquantile(totals, levels).round(3).tolist()}
    for name, values in pd.Series(totals, index=train.index).groupby(industry):
        known = values.dropna().to_numpy()
        if len(known) >= min_peers:
            quantiles[str(name)] = np.quantile(known, levels).round(3).tolist()
    return PeerStats(min_peers=min_peers, groups=groups, industry_quantiles=quantiles)
