"""Lever variants: every member's row with each applicable catalogue lever applied.

A lever's gain is the model's prediction for the changed row minus the member's own prediction,
per pillar (never a SHAP value). This module only builds the changed rows; the caller scores them
in one batch with whatever else it scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssi_model.batch import ProfileBatch
from ssi_model.contract import CONTRACT
from ssi_model.explain.catalogue import Catalogue, apply_lever

MIN_GAIN = 0.05  # points; smaller estimated gains are noise, not advice

Value = bool | int | float


@dataclass
class LeverVariants:
    """Every applicable (member, lever) pair: the member's row with the lever applied."""

    rows: ProfileBatch  # (m,) stacked changed rows, to be scored with the members' own
    member: np.ndarray  # (m,) member index
    lever: np.ndarray  # (m,) lever index in the catalogue
    changes: list[dict[str, Value]]  # (m,) the changed values


_KINDS = {c.name: c.kind for c in CONTRACT.columns}  # read per changed value: one lookup


def as_value(column: str, value: float) -> Value:
    """A table value as the contract column's Python type (the documents' ``changes``)."""
    kind = _KINDS[column]
    if kind == "bool":
        return bool(value)
    return int(value) if kind == "int" else float(value)


def lever_variants(table: ProfileBatch, catalogue: Catalogue) -> LeverVariants:
    """Apply every lever to every member; the caller scores the rows (in one batch with whatever
    else it scores) and subtracts the members' own predictions: those are the gains."""
    members, levers = [], []
    changed: list[dict[str, np.ndarray]] = []
    changes: list[dict[str, Value]] = []
    for j, lever in enumerate(catalogue.levers):
        # apply_lever writes only the columns the lever changes: copy those, share the rest
        work = table.with_values({c: table[c].copy() for c in lever.columns})
        idx = np.flatnonzero(apply_lever(lever, work))
        if not len(idx):
            continue
        members.append(idx)
        levers.append(np.full(len(idx), j))
        changed.append({c: work[c][idx] for c in lever.columns})
        for i in idx:
            changes.append({c: as_value(c, work[c][i]) for c in lever.columns})
    if not members:
        empty = np.zeros(0, dtype=int)
        return LeverVariants(table.take(empty), empty, empty, [])
    member = np.concatenate(members)
    stacked = table.take(member)
    offset = 0
    for idx, values in zip(members, changed, strict=True):
        for column, v in values.items():
            stacked[column][offset:offset + len(idx)] = v
        offset += len(idx)
    return LeverVariants(rows=stacked, member=member, lever=np.concatenate(levers),
                         changes=changes)
