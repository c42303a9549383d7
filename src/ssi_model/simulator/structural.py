"""The simulator's stand-in for LinkedIn's formula: behaviour counts in, four noiseless pillars out.

Each pillar is a sum of *terms*, one per input LinkedIn names for it (reference ssi-domain.md §3.1,
points weighted by §3.2), softly capped at 25::

    z      = sum(points_k * g_k(x_k))             each g_k in [0, 1]
    pillar = 25 * (1 - exp(-z / s)) / (1 - exp(-z_max / s))    s = the pillar's ``saturation``

Term kinds (``structural`` section of a calibration):

* ``flag``: g = x for a boolean (True = 1).
* ``hill``: g = x' / (x' + half) with x' = max(x - from, 0); saturating, so the first posts or
  connections are worth most.
* ``rate``: g = min(x, per) / (per + prior), a quality rate such as invitations accepted per
  invitation sent, shrunk towards 0 while ``per`` is small. It rises with the numerator, falls when
  only ``per`` rises (quality matters), and never falls when both rise at the member's own rate.

Every other term is non-decreasing in its input, so more of a good behaviour never lowers a pillar.
Context columns (industry, region, ...) do not enter: they shape behaviour, not the formula.

Unknown cells are imputed before scoring: a cross-rule parent (e.g. ``invitations_sent_90d``) gets
the calibration's typical value, raised to at least its known children; an unknown child (e.g.
``invitations_accepted_90d``) gets the typical share of its parent; any other column gets its
typical value (booleans: the typical share of members with the flag). Inputs are clipped to the
contract's ranges and children to their parents, so edited ("lever") rows are safe to score.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ssi_model.contract import CONTRACT, PILLARS
from ssi_model.simulator.calibration import Calibration, load_calibration


def _cross_rules() -> list[tuple[str, str]]:
    """``(child, parent)`` for the behaviour columns' ``child <= parent`` rules."""
    behaviour = set(CONTRACT.behaviour_columns)
    return [(col, other) for col, which, other in CONTRACT.cross_rules()
            if which == "max" and col in behaviour]


def impute_and_clip(values: Mapping[str, np.ndarray], cal: Calibration) -> dict[str, np.ndarray]:
    """Fill unknown (NaN) behaviour cells with typical values and clip to the contract's ranges."""
    typical = cal["structural"]["impute"]
    shares = cal["structural"].get("impute_share", {})
    out: dict[str, np.ndarray] = {}
    n = len(next(iter(values.values()))) if values else 0
    for col in CONTRACT.behaviour_columns:
        x = np.asarray(values[col], dtype=float) if col in values else np.full(n, np.nan)
        lo, hi = CONTRACT[col].numeric_bound("min"), CONTRACT[col].numeric_bound("max")
        if CONTRACT[col].kind == "bool":
            lo, hi = 0.0, 1.0
        out[col] = np.clip(x, lo, hi)
    rules = _cross_rules()
    children = {child for child, _ in rules}
    for col in CONTRACT.behaviour_columns:
        if col in children:
            continue
        x = out[col]
        fill = np.full_like(x, float(typical[col]))
        for child, parent in rules:
            if parent == col:
                fill = np.fmax(fill, out[child])  # fmax ignores the child's NaN
        out[col] = np.where(np.isnan(x), fill, x)
    for child, parent in rules:
        x = out[child]
        share = shares.get(child)
        fill = (out[parent] * float(share) if share is not None
                else np.fmin(float(typical[child]), out[parent]))
        out[child] = np.fmin(np.where(np.isnan(x), fill, x), out[parent])
    return out


def _term(term: Mapping[str, object], x: Mapping[str, np.ndarray]) -> np.ndarray:
    kind = term["kind"]
    v = x[str(term["column"])]
    if kind == "flag":
        g = v
    elif kind == "hill":
        shifted = np.maximum(v - float(term.get("from", 0.0)), 0.0)  # type: ignore[arg-type]
        g = shifted / (shifted + float(term["half"]))  # type: ignore[arg-type]
    else:  # rate
        per = x[str(term["per"])]
        g = np.minimum(v, per) / (per + float(term["prior"]))  # type: ignore[arg-type]
    return float(term["points"]) * g  # type: ignore[arg-type]


def structural_arrays(values: Mapping[str, np.ndarray], cal: Calibration
                      ) -> dict[str, np.ndarray]:
    """The structural function on float arrays (NaN = unknown); one array per pillar."""
    x = impute_and_clip(values, cal)
    cap = CONTRACT.pillar_max
    pillars: dict[str, np.ndarray] = {}
    for pillar in PILLARS:
        spec = cal["structural"]["pillars"][pillar]
        z = sum((_term(t, x) for t in spec["terms"]),
                start=np.zeros(len(x[CONTRACT.behaviour_columns[0]])))
        z_max = sum(float(t["points"]) for t in spec["terms"])
        s = float(spec["saturation"])
        score = cap * (-np.expm1(-z / s)) / (-np.expm1(-z_max / s))
        pillars[pillar] = np.clip(score, 0.0, cap)
    return pillars


def _as_float(column: pd.Series) -> np.ndarray:
    """A contract column as float64 with NaN for unknown (nullable, numpy or object dtypes)."""
    try:
        return np.asarray(column.to_numpy(dtype=float, na_value=np.nan))
    except (TypeError, ValueError):
        return np.asarray(pd.to_numeric(column.astype("Float64")).to_numpy(
            dtype=float, na_value=np.nan))


def structural_pillars(df: pd.DataFrame, calibration: str = "linkedin") -> pd.DataFrame:
    """Noiseless pillars (0–25 each) of contract rows, as the simulator's LinkedIn computes them.

    Works on any contract rows, including rows a lever has edited, so a lever's true gain is
    ``structural_pillars(after) - structural_pillars(before)``. Absent columns and unknown cells
    are imputed as the module docstring describes. Returns columns ``brand, people, insights,
    relationships`` on ``df``'s index.
    """
    cal = load_calibration(calibration)
    values = {c: _as_float(df[c]) if c in df.columns else np.full(len(df), np.nan)
              for c in CONTRACT.behaviour_columns}
    pillars = structural_arrays(values, cal)
    return pd.DataFrame(pillars, index=df.index, columns=list(PILLARS))
