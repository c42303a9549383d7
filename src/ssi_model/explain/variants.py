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
from ssi_model.explain.catalogue import Catalogue

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
    else it scores) and subtracts the members' own predictions: those are the gains.

    One engine call over every (lever, member) pair, lever by lever as the catalogue lists them.
    """
    n, levers = len(table), catalogue.levers
    member = np.tile(np.arange(n), len(levers))
    lever = np.repeat(np.arange(len(levers)), n)
    ok, new = catalogue.engine.apply(table, lever, member)
    applied = np.flatnonzero(ok)
    # Columns a lever does not write hold the member's own values: replace them whole.
    rows = table.take(member[applied]).with_values({c: v[applied] for c, v in new.items()})
    changes = [{c: as_value(c, new[c][r]) for c in levers[j].columns}
               for r, j in zip(applied.tolist(), lever[applied].tolist(), strict=True)]
    return LeverVariants(rows=rows, member=member[applied], lever=lever[applied],
                         changes=changes)
