"""Simulated cohorts: contract rows with user-reported SSI labels, and their noiseless truth."""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from ssi_model.contract import CONTRACT, PILLAR_LABELS, PILLARS, TOTAL_LABEL
from ssi_model.simulator.behaviour import draw_behaviour, draw_context, draw_traits
from ssi_model.simulator.calibration import Calibration, load_calibration
from ssi_model.simulator.reporting import (
    apply_faults,
    best_labels,
    draw_faults,
    draw_reading,
    industry_top_pct,
    reading_dates,
    round_pillars,
    round_total,
    unknown_mask,
)
from ssi_model.simulator.structural import structural_arrays

DEFAULT_SNAPSHOT = date(2026, 9, 30)
"""Fixed default snapshot, so a seed gives the same cohort whatever today's date is."""
MEMBER_ID_PREFIX = "sim-"
"""Every simulated member's id starts so: training tells simulated rows from reported ones by it
(``tracking.data``), also after a demo snapshot was imported into the store."""

TRUE_COLUMNS = [f"true_{p}" for p in PILLARS]
BEST_COLUMNS = [f"best_{PILLAR_LABELS[p]}" for p in PILLARS] + [f"best_{TOTAL_LABEL}"]
FAULT_COLUMN = "typing_fault"
LABEL_COLUMNS = [*PILLAR_LABELS.values(), TOTAL_LABEL]

# Independent random streams, so that e.g. asking for the truth never changes the cohort itself.
_STREAMS = ("context", "traits", "behaviour", "reading", "unknown", "faults", "truth")


def _streams(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(_STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(_STREAMS, children, strict=True)}


def _members(n: int, cal: Calibration, rng: dict[str, np.random.Generator]
             ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Context, full (unmasked) behaviour and the (n, 4) noiseless pillars."""
    context = draw_context(n, cal, rng["context"])
    traits = draw_traits(context, cal, rng["traits"])
    behaviour = draw_behaviour(context, traits, cal, rng["behaviour"])
    pillars = structural_arrays(behaviour, cal)
    true = np.column_stack([pillars[p] for p in PILLARS]) if n else np.empty((0, len(PILLARS)))
    return context, behaviour, true


@cache
def _industry_reference(calibration: str) -> dict[str, np.ndarray]:
    """Sorted precise totals per industry of a large reference cohort (for "Top X%" ranks)."""
    cal = load_calibration(calibration)
    spec = cal["reporting"]["industry_reference"]
    rng = _streams(int(spec["seed"]))
    context, _, true = _members(int(spec["members"]), cal, rng)
    reading = draw_reading(true, cal, rng["reading"], DEFAULT_SNAPSHOT, DEFAULT_SNAPSHOT)
    totals = reading.total
    return {ind: np.sort(totals[context["industry"] == ind])
            for ind in CONTRACT["industry"].values}


def simulate_cohort(n: int, seed: int, calibration: str = "linkedin", with_truth: bool = False,
                    snapshot_date: date | None = None) -> pd.DataFrame:
    """A synthetic cohort of ``n`` members as typed contract rows with user-reported labels.

    Every row shares ``snapshot_date`` (default 2026-09-30); members read their dashboard 0–30
    days later, but never after today. About 1–2 % of rows carry a typing fault that breaks a
    contract rule; every other row passes all contract rules. With ``with_truth`` the frame also
    holds ``true_<pillar>`` (the structural pillars of the full, unmasked behaviour),
    ``best_ssi_<pillar>`` / ``best_ssi_total`` (per member, the medians of the reported labels
    over ``truth_draws`` draws of hidden factors and reporting noise given the member's full
    behaviour: the noise floor; a model that sees unknown cells can do a little worse) and
    ``typing_fault`` (the rows carrying an injected fault).
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    today = date.today()
    snapshot = pd.Timestamp(snapshot_date or DEFAULT_SNAPSHOT).date()
    if snapshot > today:
        raise ValueError(f"snapshot_date {snapshot} is in the future")
    cal = load_calibration(calibration)
    rng = _streams(seed)

    context, full, true = _members(n, cal, rng)
    reading = draw_reading(true, cal, rng["reading"], snapshot, today)
    top_pct = industry_top_pct(reading.total, context["industry"], _industry_reference(calibration))
    labels = np.column_stack([round_pillars(reading.pillars), round_total(reading.total)])

    masks = unknown_mask(n, cal, rng["unknown"])
    faults = draw_faults(n, cal, rng["faults"])
    observed = {col: values.copy() for col, values in full.items()}
    snapshots = np.full(n, snapshot, dtype=object)
    apply_faults(faults, labels, observed, masks, snapshots, today)

    columns: dict[str, Any] = {
        "member_id": [f"{MEMBER_ID_PREFIX}{i + 1:06d}" for i in range(n)],
        "snapshot_date": pd.to_datetime(pd.Series(snapshots, dtype=object)),
        **context,
    }
    for col, values in observed.items():
        values = np.where(masks.get(col, np.zeros(n, dtype=bool)), np.nan, values)
        if CONTRACT[col].kind == "bool":
            columns[col] = pd.arrays.BooleanArray(np.nan_to_num(values).astype(bool),
                                                  np.isnan(values))
        else:
            columns[col] = pd.array(values, dtype="Float64")
    columns["reported_on"] = pd.to_datetime(pd.Series(reading_dates(snapshot, reading.lag_days),
                                                      dtype=object))
    for j, col in enumerate(LABEL_COLUMNS):
        columns[col] = labels[:, j]
    columns["industry_rank_top_pct"] = np.where(masks["industry_rank_top_pct"], np.nan, top_pct)
    columns["source"] = "simulated"
    if with_truth:
        best = best_labels(true, cal, rng["truth"], snapshot, today)
        columns.update({c: true[:, j] for j, c in enumerate(TRUE_COLUMNS)})
        columns.update({c: best[:, j] for j, c in enumerate(BEST_COLUMNS)})
        columns[FAULT_COLUMN] = faults.rows
    frame = pd.DataFrame({k: (v.to_numpy() if isinstance(v, pd.Series) else v)
                          for k, v in columns.items()})
    return CONTRACT.to_typed(frame)


def _valid_label_rows(df: pd.DataFrame) -> pd.Series:
    """Rows whose reported labels are known, in range and add up (typing faults excluded)."""
    labels = df[LABEL_COLUMNS].astype("Float64")
    pillars = labels[list(PILLAR_LABELS.values())]
    ok = labels.notna().all(axis=1)
    ok &= ((pillars >= 0) & (pillars <= CONTRACT.pillar_max)).all(axis=1)
    ok &= (labels[TOTAL_LABEL] >= 0) & (labels[TOTAL_LABEL] <= CONTRACT.total_max)
    ok &= (pillars.sum(axis=1) - labels[TOTAL_LABEL]).abs() <= CONTRACT.label_sum_tolerance
    if FAULT_COLUMN in df.columns:
        ok &= ~df[FAULT_COLUMN].astype(bool)
    return ok.fillna(False).astype(bool)


def calibration_summary(df: pd.DataFrame) -> dict[str, Any]:
    """The calibration figures of a cohort's reported labels (rows with faulty labels left out).

    Keys: ``members`` (rows used), ``mean_total``, ``share_total_ge_70``, ``share_total_le_20``,
    ``pillar_means`` (per pillar), ``percentiles`` (``P15, P25, P50, P63, P90, P99`` of the total)
    and ``role_family_means`` (mean total per role family present).
    """
    rows = df.loc[_valid_label_rows(df)]
    total = rows[TOTAL_LABEL].astype(float)
    pct = (15, 25, 50, 63, 90, 99)
    quantiles = np.percentile(total, pct) if len(total) else np.full(len(pct), np.nan)
    by_role = total.groupby(rows["role_family"].astype(str)).mean()
    return {
        "members": len(rows),
        "mean_total": float(total.mean()),
        "share_total_ge_70": float((total >= 70).mean()),
        "share_total_le_20": float((total <= 20).mean()),
        "pillar_means": {p: float(rows[PILLAR_LABELS[p]].astype(float).mean()) for p in PILLARS},
        "percentiles": {f"P{q}": float(v) for q, v in zip(pct, quantiles, strict=True)},
        "role_family_means": {str(k): float(v) for k, v in by_role.items()},
    }
