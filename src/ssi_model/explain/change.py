"""What changed between two snapshots of a member, and what each change did to the estimate.

``explain_change(estimator, before, after)`` returns a :class:`ChangeExplanation`: per pillar the
estimated change (the model's prediction for ``after`` minus its prediction for ``before``, both
clipped to 0–25 as the model reports them) and, per contract column that changed, the points of
that change credited to the column. Per pillar the contributions add up *exactly* to the change
(to float rounding), columns that did not change get nothing, and the total's contributions are
the sum of the pillars'.

Method: a Shapley value over the changed columns ("path" between the two rows). The players are
the k contract columns whose value differs; a coalition S is the ``before`` row with the columns
in S set to their ``after`` values; its worth is the model's prediction for that hybrid row. A
column's contribution is its average marginal effect over all orders of switching the columns
from their old to their new values.

- k ≤ ``EXACT_MAX``: exact, from the 2^k hybrid rows scored in one batch.
- larger k: sampled orders (``PERMUTATIONS`` random orders and their reverses, a fixed seed, so the
  same rows always give the same answer). Every order telescopes from ``before`` to ``after``, so
  the average is still exactly additive; only the split between columns is an estimate.

Why not SHAP(after) − SHAP(before), rolled up to columns? It adds up to the change as well, but
tree interactions hand non-zero shares to columns that did not move, which reads as "your photo
cost you 0.3 points" to a member whose photo never changed. The Shapley value over the changed
columns credits only what changed, and needs only predictions (no SHAP), so the clipping of the
model's output is honoured. Hybrid rows can break a cross-column rule for a moment (accepted
invitations above those sent); the model scores them as it would any row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ssi_model.batch import ProfileBatch
from ssi_model.contract import CONTRACT, PILLARS
from ssi_model.explain.schema import Pillar
from ssi_model.model.estimator import SSIEstimator

EXACT_MAX = 10  # 2^10 = 1024 hybrid rows: one quick batch
PERMUTATIONS = 64  # sampled orders (each also taken in reverse) above EXACT_MAX changed columns
SEED = 20  # fixed: the same two rows always get the same split
_NOT_INPUTS = ("member_id", "snapshot_date")
Method = Literal["none", "exact_shapley", "sampled_shapley"]
Value = float | bool | str | None


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnChange(_Doc):
    """One contract column that changed, and the estimated points its change moved."""

    column: str = Field(description="Contract column, e.g. posts_90d")
    before: Value = Field(description="Value at the earlier snapshot (None = unknown)")
    after: Value = Field(description="Value at the later snapshot (None = unknown)")
    pillars: dict[Pillar, float] = Field(description="Points of each pillar's change credited "
                                                     "to this column (Shapley value)")
    total: float = Field(description="Points of the total's change: the sum over the pillars")


class PillarChange(_Doc):
    before: float = Field(description="Estimated pillar at the earlier snapshot")
    after: float = Field(description="Estimated pillar at the later snapshot")
    change: float = Field(description="after - before; the columns' contributions add up to it")


class ChangeExplanation(_Doc):
    """Why the estimate moved between two snapshots. Estimates of our model, not LinkedIn's."""

    member_id: str | None
    before_date: str | None = Field(description="snapshot_date of the earlier row (ISO)")
    after_date: str | None = Field(description="snapshot_date of the later row (ISO)")
    method: Method = Field(description="exact_shapley, sampled_shapley, or none (nothing changed)")
    pillars: dict[Pillar, PillarChange]
    total_before: float
    total_after: float
    total_change: float = Field(description="The sum of the pillars' changes")
    columns: list[ColumnChange] = Field(description="Every changed input column, largest "
                                                    "effect on the total first; unchanged "
                                                    "columns are not listed (they get 0)")

    def contribution(self, column: str, pillar: str | None = None) -> float:
        """Points credited to ``column`` (for one pillar, or the total); 0 if it did not change."""
        for c in self.columns:
            if c.column == column:
                return c.total if pillar is None else c.pillars[pillar]  # type: ignore[index]
        return 0.0


def _date(row: Mapping[str, Any]) -> str | None:
    value = row.get("snapshot_date")
    if value is None:
        return None
    iso = getattr(value, "isoformat", None)
    return str(iso()[:10]) if iso else str(value)[:10]


def changed_columns(before: ProfileBatch, after: ProfileBatch) -> list[str]:
    """Input columns whose value differs between row 0 of each table (unknown = unknown)."""
    out = []
    for name in CONTRACT.input_columns:
        if name in _NOT_INPUTS:
            continue
        a, b = before[name][0], after[name][0]
        if isinstance(a, float) and isinstance(b, float):
            if (math.isnan(a) and math.isnan(b)) or a == b:
                continue
        elif a == b:
            continue
        out.append(name)
    return out


def _plain(column: str, value: Any) -> Value:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    kind = CONTRACT[column].kind
    if kind == "bool":
        return bool(value)
    if kind in ("int", "float"):
        return float(value)
    return str(value)


def _hybrids(before: ProfileBatch, after: ProfileBatch, columns: list[str],
             switched: np.ndarray) -> ProfileBatch:
    """Rows of ``before`` with ``columns[j]`` taken from ``after`` where ``switched[:, j]``."""
    n = len(switched)
    rows: dict[str, np.ndarray] = {}
    for name, values in before.columns.items():
        rows[name] = np.repeat(values[:1], n)
    for j, name in enumerate(columns):
        rows[name] = np.where(switched[:, j], after[name][0], before[name][0])
        if before[name].dtype == object:
            rows[name] = rows[name].astype(object)
    return ProfileBatch.from_columns(rows, member_id=np.repeat(before.member_id[:1], n))


def _exact(k: int, worth: np.ndarray) -> np.ndarray:
    """(k, 4) Shapley values from the worth (2^k, 4) of every coalition (bit j = column j)."""
    masks = np.arange(1 << k)
    size = np.array([bin(m).count("1") for m in masks])
    weight = np.array([math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k)
                       for s in range(k)])
    phi = np.zeros((k, worth.shape[1]))
    for j in range(k):
        without = masks[(masks >> j) & 1 == 0]
        marginal = worth[without | (1 << j)] - worth[without]
        phi[j] = weight[size[without]] @ marginal
    return phi


def _orders(k: int) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    orders = np.array([rng.permutation(k) for _ in range(PERMUTATIONS)])
    return np.concatenate([orders, orders[:, ::-1]])  # antithetic: halves the variance


def explain_change(estimator: SSIEstimator, before: Mapping[str, Any],
                   after: Mapping[str, Any]) -> ChangeExplanation:
    """Per pillar, the estimated change from ``before`` to ``after`` split over changed columns.

    ``before`` and ``after`` are contract rows as records (a stored snapshot's ``row``; a missing
    key or None is unknown). See the module docstring for the method and its guarantees.
    """
    old, new = ProfileBatch.from_records([before]), ProfileBatch.from_records([after])
    columns = changed_columns(old, new)
    k = len(columns)
    if k == 0:
        switched = np.zeros((1, 0), dtype=bool)
        method: Method = "none"
    elif k <= EXACT_MAX:
        masks = np.arange(1 << k)
        switched = ((masks[:, None] >> np.arange(k)) & 1).astype(bool)
        method = "exact_shapley"
    else:
        orders = _orders(k)
        # Row t of an order: its first t columns switched (t = 0 … k).
        rank = np.argsort(orders, axis=1)  # position of each column in the order
        steps = np.arange(k + 1)
        switched = (rank[:, None, :] < steps[None, :, None]).reshape(-1, k)
        method = "sampled_shapley"
    rows = _hybrids(old, new, columns, switched)
    worth = estimator.predict_matrix(estimator.builder.features(rows))

    if method == "exact_shapley":
        phi = _exact(k, worth)
        first, last = worth[0], worth[-1]
    elif method == "sampled_shapley":
        path = worth.reshape(len(orders), k + 1, len(PILLARS))
        steps_gain = np.diff(path, axis=1)  # (orders, k, 4): gain of the t-th switched column
        phi = np.zeros((k, len(PILLARS)))
        for o, order in enumerate(orders):
            phi[order] += steps_gain[o]
        phi /= len(orders)
        first, last = path[0, 0], path[0, -1]
    else:
        phi = np.zeros((0, len(PILLARS)))
        first = last = worth[0]

    change = last - first
    # The contributions sum to the change up to float rounding; hand the residue (~1e-15) to the
    # largest contribution so that the sums are exact to the last bit a reader could check.
    if k:
        residue = change - phi.sum(axis=0)
        phi[np.abs(phi).argmax(axis=0), np.arange(len(PILLARS))] += residue

    changes = [
        ColumnChange(
            column=name,
            before=_plain(name, old[name][0]),
            after=_plain(name, new[name][0]),
            pillars={p: float(phi[j, i]) for i, p in enumerate(PILLARS)},
            total=float(phi[j].sum()),
        )
        for j, name in enumerate(columns)
    ]
    changes.sort(key=lambda c: (-abs(c.total), c.column))
    member = after.get("member_id") or before.get("member_id")
    return ChangeExplanation(
        member_id=str(member) if member is not None else None,
        before_date=_date(before),
        after_date=_date(after),
        method=method,
        pillars={p: PillarChange(before=float(first[i]), after=float(last[i]),
                                 change=float(change[i])) for i, p in enumerate(PILLARS)},
        total_before=float(first.sum()),
        total_after=float(last.sum()),
        total_change=float(change.sum()),
        columns=changes,
    )
