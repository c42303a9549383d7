"""From noiseless pillars to what a member types into a questionnaire.

1. *Hidden factors*: per member and pillar, LinkedIn's unpublished inputs and recalibrations,
   Normal(0, hidden_sd[pillar]) with a share ``hidden_shared`` of the variance common to all four
   pillars, added before clipping to [0, 25].
2. *Stale reading*: the member reads the dashboard 0–``lag_days_max`` days after the snapshot (never
   after today); the score drifts meanwhile, Normal(0, drift_sd_30d * sqrt(lag / 30)) per pillar.
3. *Rounding*: pillars to 2 decimals, the total (the sum of the precise pillars) to a whole number.
4. *Unknown cells* as a questionnaire or export leaves them, and *typing faults* that break a
   contract rule so that validation can catch them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from ssi_model.contract import CONTRACT, PILLARS
from ssi_model.simulator.calibration import FAULT_KINDS, Calibration

_PILLAR_DECIMALS = 2


@dataclass(frozen=True)
class Reading:
    """Precise dashboard values at the reading and the day they were read."""

    pillars: np.ndarray  # (n, 4) in PILLARS order, clipped to [0, 25]
    lag_days: np.ndarray  # (n,) whole days after the snapshot

    @property
    def total(self) -> np.ndarray:
        return np.asarray(self.pillars.sum(axis=-1))


def _max_lag(cal: Calibration, snapshot: date, today: date) -> int:
    return max(0, min(int(cal["reporting"]["lag_days_max"]), (today - snapshot).days))


def draw_reading(true: np.ndarray, cal: Calibration, rng: np.random.Generator,
                 snapshot: date, today: date) -> Reading:
    """Hidden factors, lag and drift for one reading per member; ``true`` is (n, 4) or (n, d, 4)."""
    rep = cal["reporting"]
    sd = np.array([float(rep["hidden_sd"][p]) for p in PILLARS])
    shared = float(rep.get("hidden_shared", 0.0))
    shape = true.shape
    common = rng.standard_normal((*shape[:-1], 1))
    own = rng.standard_normal(shape)
    hidden = sd * (np.sqrt(shared) * common + np.sqrt(1.0 - shared) * own)
    lag = rng.integers(0, _max_lag(cal, snapshot, today) + 1, size=shape[:-1])
    drift_sd = float(rep["drift_sd_30d"]) * np.sqrt(lag / 30.0)
    drift = drift_sd[..., None] * rng.standard_normal(shape)
    pillars = np.clip(true + hidden + drift, 0.0, CONTRACT.pillar_max)
    return Reading(pillars=pillars, lag_days=lag)


def round_pillars(pillars: np.ndarray) -> np.ndarray:
    return np.asarray(np.round(pillars, _PILLAR_DECIMALS))


def round_total(total: np.ndarray) -> np.ndarray:
    """The gauge's whole number (half up, as a dashboard shows it)."""
    return np.asarray(np.floor(total + 0.5))


def best_labels(true: np.ndarray, cal: Calibration, rng: np.random.Generator, snapshot: date,
                today: date, chunk: int = 2_000) -> np.ndarray:
    """Per-member medians of the reported pillars and total over ``truth_draws`` readings.

    Given the member's full behaviour, the hidden factors and reporting noise are all that is left
    unexplained, so these medians are the best any model can predict (under absolute error).
    Returns (n, 5): the four pillars then the total.
    """
    draws = int(cal["reporting"]["truth_draws"])
    out = np.empty((len(true), len(PILLARS) + 1))
    for start in range(0, len(true), chunk):
        block = true[start:start + chunk]
        tiled = np.broadcast_to(block[:, None, :], (len(block), draws, len(PILLARS)))
        reading = draw_reading(tiled, cal, rng, snapshot, today)
        out[start:start + chunk, :4] = np.median(round_pillars(reading.pillars), axis=1)
        out[start:start + chunk, 4] = np.median(round_total(reading.total), axis=1)
    return out


def industry_top_pct(total: np.ndarray, industry: np.ndarray,
                     reference: Mapping[str, np.ndarray]) -> np.ndarray:
    """"Top X%" in the industry: share of the reference population scoring at least as high.

    ``reference`` maps each industry to the sorted precise totals of a large reference cohort, so a
    member's rank does not depend on the size of the cohort it was simulated in. LinkedIn shows
    whole percentages, at best "Top 1%".
    """
    out = np.full(len(total), np.nan)
    for ind, scores in reference.items():
        rows = np.flatnonzero(industry == ind)
        if rows.size and scores.size:
            at_least = scores.size - np.searchsorted(scores, total[rows], side="left")
            out[rows] = np.clip(np.ceil(100.0 * at_least / scores.size), 1.0, 100.0)
    return out


def unknown_mask(n: int, cal: Calibration, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Which behaviour and rank cells a member leaves empty (True = unknown)."""
    spec = cal["unknown"]
    skipped = float(spec.get("skipped_question", 0.0))
    masks = {}
    for col in [*CONTRACT.behaviour_columns, "industry_rank_top_pct"]:
        p = float(spec.get("columns", {}).get(col, 0.0))
        if col in CONTRACT.behaviour_columns:
            p = 1.0 - (1.0 - p) * (1.0 - skipped)
        masks[col] = rng.random(n) < p
    return masks


@dataclass
class Faults:
    """The rows carrying an injected typing fault and which kind each one is."""

    rows: np.ndarray  # bool (n,)
    kind: np.ndarray  # object (n,), "" where no fault


def draw_faults(n: int, cal: Calibration, rng: np.random.Generator) -> Faults:
    spec = cal["faults"]
    rows = rng.random(n) < float(spec["share"])
    kinds = [k for k in FAULT_KINDS if float(spec["kinds"].get(k, 0.0)) > 0]
    kind = np.full(n, "", dtype=object)
    if kinds and rows.any():
        p = np.array([float(spec["kinds"][k]) for k in kinds])
        kind[rows] = rng.choice(np.array(kinds, dtype=object), size=int(rows.sum()), p=p / p.sum())
    else:
        rows[:] = False
    return Faults(rows=rows, kind=kind)


def _typo_total(t: float) -> float:
    """A mistyped whole-number total: digits swapped, a zero added, or ten off."""
    t = int(t)
    if 0 < t < 10:
        return float(t * 10)
    if 10 <= t < 100 and t // 10 != t % 10:
        return float((t % 10) * 10 + t // 10)
    return float(t + 10 if t <= 90 else t - 10)


def _future_year(d: date, today: date) -> date:
    """The snapshot with its year's last two digits swapped (2026 -> 2062), always in the future."""
    swapped = d.year // 100 * 100 + (d.year % 10) * 10 + (d.year // 10) % 10
    year = swapped if swapped > today.year else d.year + 10 * (1 + (today.year - d.year) // 10)
    return d.replace(year=year, day=min(d.day, 28) if d.month == 2 else d.day)


def apply_faults(faults: Faults, labels: np.ndarray, behaviour: dict[str, np.ndarray],
                 masks: dict[str, np.ndarray], snapshots: np.ndarray, today: date) -> None:
    """Inject each row's fault in place; every fault breaks at least one contract rule.

    ``labels`` is (n, 5): rounded pillars then the rounded total; ``snapshots`` holds ``date``s.
    A fault in the total or a pillar that would not break a rule (an all-zero reading) falls back
    to a typo in the total, which always does.
    """
    tolerance = CONTRACT.label_sum_tolerance
    for i in np.flatnonzero(faults.rows):
        kind = faults.kind[i]
        if kind == "pillar_decimal_shift":
            j = int(np.argmax(labels[i, :4]))
            shifted = round(labels[i, j] * 10.0, _PILLAR_DECIMALS)
            if shifted > CONTRACT.pillar_max or shifted - labels[i, j] > tolerance + 0.05:
                labels[i, j] = shifted
            else:
                kind = faults.kind[i] = "total_digit_typo"
        if kind == "total_digit_typo":
            labels[i, 4] = _typo_total(labels[i, 4])
        elif kind == "accepted_exceeds_sent":
            sent = behaviour["invitations_sent_90d"][i]
            accepted = behaviour["invitations_accepted_90d"][i]
            if accepted < sent:
                behaviour["invitations_sent_90d"][i], behaviour["invitations_accepted_90d"][i] = (
                    accepted, sent)
            else:
                behaviour["invitations_accepted_90d"][i] = sent + 10
            masks["invitations_sent_90d"][i] = masks["invitations_accepted_90d"][i] = False
        elif kind == "future_snapshot_year":
            snapshots[i] = _future_year(snapshots[i], today)


def reading_dates(snapshot: date, lag_days: np.ndarray) -> np.ndarray:
    return np.array([snapshot + timedelta(days=int(d)) for d in lag_days], dtype=object)
