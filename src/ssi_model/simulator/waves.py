"""Later snapshots of a simulated cohort, for the demo's member history.

``history_waves`` (the demo's history): each member of a cohort gets one *trajectory* and, per
later wave, its behaviour moves along it; the labels are re-simulated from the new behaviour
through the structural function, keeping each member's own hidden offset. ``followup_waves``
(below) is the longitudinal simulator: the same, with a plan issued at every snapshot and
adopted or not.

- Trajectories: ``grow`` (posts, comments, searches and invitations up, connections and followers
  grow, sometimes a new background photo), ``steady`` (counts wobble a little, the network grows
  slowly) and ``decay`` (activity falls off; cumulative counts stay).
- Drift is per week: the factors above are for ``WAVE_WEEKS`` weeks and compound over the weeks
  between two snapshots (``factor ** (weeks / WAVE_WEEKS)``), so snapshots further apart differ
  more.
- Labels: ``true`` pillars of the new behaviour plus the member's offset at the first wave
  (reported minus structural: LinkedIn's hidden inputs, which do not reset between readings)
  after a random walk over the weeks since (the calibration's ``drift_sd_30d`` per 30 days),
  plus fresh drift for the days between snapshot and reading; rounded as the dashboard rounds.
- Reporting faults as in the first wave: every later wave carries the calibration's typing
  faults (``reporting.apply_faults``) in a share of rows, which validation quarantines; the
  member goes on from what they really had (the fault is in the typing, not in the profile).
- Unknown cells stay unknown; the contract's ranges and ``child <= parent`` rules still hold;
  ``account_age_months`` grows with the calendar.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ssi_model.contract import CONTRACT, PILLAR_LABELS, PILLARS, TOTAL_LABEL
from ssi_model.simulator.calibration import Calibration, load_calibration
from ssi_model.simulator.cohort import (
    DEFAULT_SNAPSHOT,
    FAULT_COLUMN,
    LABEL_COLUMNS,
    _industry_reference,
    simulate_cohort,
)
from ssi_model.simulator.reporting import (
    apply_faults,
    draw_faults,
    industry_top_pct,
    round_pillars,
    round_total,
)
from ssi_model.simulator.structural import structural_arrays

WAVE_WEEKS = 6
TRAJECTORIES = ("grow", "steady", "decay")
_SHARES = (0.4, 0.3, 0.3)
# Per trajectory and WAVE_WEEKS weeks, the factor on 90-day activity counts: (low, high) of a
# uniform draw; compounded over the weeks between two snapshots.
_ACTIVITY = {"grow": (1.3, 2.2), "steady": (0.85, 1.15), "decay": (0.35, 0.8)}
# Per WAVE_WEEKS weeks, the relative growth of cumulative network counts (compounded too).
_NETWORK = {"grow": (0.04, 0.12), "steady": (0.0, 0.03), "decay": (0.0, 0.01)}
# Per WAVE_WEEKS weeks: mean new posts etc. of a growing member starting from little, and the
# chance that a growing member finishes their profile (a banner, a custom URL).
_BUMP, _FINISH = 2.0, 0.3
_INVITATIONS = ("invitations_sent_90d", "invitations_accepted_90d")
_WINDOW = ("_90d",)
_NETWORK_COLUMNS = ("connections_count", "followers_count", "vp_plus_connections",
                    "coworker_connections", "endorsements_received")
_GROW_FROM_ZERO = ("posts_90d", "comments_given_90d", "searches_90d", "invitations_sent_90d")


def _float(frame: pd.DataFrame, column: str) -> np.ndarray:
    return np.asarray(frame[column].astype("Float64").to_numpy(dtype=float, na_value=np.nan))


def _enforce_rules(values: dict[str, np.ndarray]) -> None:
    """Contract ranges and ``child <= parent`` (keeps unknown cells unknown)."""
    for col in values:
        spec = CONTRACT[col]
        lo, hi = spec.numeric_bound("min"), spec.numeric_bound("max")
        if spec.kind == "bool":
            continue
        x = values[col]
        if lo is not None:
            x = np.where(np.isnan(x), x, np.maximum(x, lo))
        if hi is not None:
            x = np.where(np.isnan(x), x, np.minimum(x, hi))
        if spec.kind == "int":
            x = np.round(x)
        values[col] = x
    for col, which, other in CONTRACT.cross_rules():
        if col in values and other in values:
            x, bound = values[col], values[other]
            both = ~np.isnan(x) & ~np.isnan(bound)
            values[col] = np.where(both, np.minimum(x, bound) if which == "max"
                                   else np.maximum(x, bound), x)


def _next_wave(frame: pd.DataFrame, trajectory: np.ndarray, rng: np.random.Generator,
               weeks: int = WAVE_WEEKS) -> dict[str, np.ndarray]:
    """Each member's behaviour ``weeks`` weeks later along their trajectory."""
    n = len(frame)
    scale = weeks / WAVE_WEEKS  # per-WAVE_WEEKS rates compound over the weeks between
    values = {c: _float(frame, c) for c in CONTRACT.behaviour_columns}
    for kind in TRAJECTORIES:
        rows = trajectory == kind
        if not rows.any():
            continue
        lo, hi = _ACTIVITY[kind]
        for col in CONTRACT.behaviour_columns:
            x = values[col][rows]
            if col.endswith(_WINDOW):
                factor = rng.uniform(lo, hi, size=rows.sum()) ** scale
                bump = rng.poisson(_BUMP * scale, size=rows.sum()) if (
                    kind == "grow" and col in _GROW_FROM_ZERO) else 0
                values[col][rows] = np.round(x * factor + bump)
            elif col in _NETWORK_COLUMNS:
                g_lo, g_hi = _NETWORK[kind]
                growth = (1 + rng.uniform(g_lo, g_hi, size=rows.sum())) ** scale
                values[col][rows] = np.round(x * growth)
        if kind == "grow":
            # Some growing members finish their profile on the way.
            finish = 1 - (1 - _FINISH) ** scale
            for col in ("has_banner", "custom_url"):
                x = values[col]
                add = rows & (x == 0) & (rng.random(n) < finish)
                values[col] = np.where(add, 1.0, x)
    _enforce_rules(values)  # e.g. days_active_90d stays within the window
    return values


def history_waves(n: int, seed: int, *, waves: int = 3, calibration: str = "linkedin",
                  last_snapshot: date | None = None) -> pd.DataFrame:
    """``n`` simulated members, each seen at ``waves`` snapshot dates ``WAVE_WEEKS`` apart.

    The last wave falls on ``last_snapshot`` (default ``DEFAULT_SNAPSHOT``, so a seed gives the
    same file whatever today's date); the first wave is ``simulate_cohort`` at the first date.
    Members whose first row carries an injected typing fault keep only that row (it goes to
    quarantine on import). Returns typed contract rows, oldest wave first.
    """
    if waves < 1:
        raise ValueError("waves must be >= 1")
    last = last_snapshot or DEFAULT_SNAPSHOT
    first = last - timedelta(weeks=WAVE_WEEKS * (waves - 1))
    cal = load_calibration(calibration)
    base = simulate_cohort(n, seed, calibration=calibration, with_truth=True, snapshot_date=first)
    faulty = base[FAULT_COLUMN].to_numpy(dtype=bool)
    extra = [c for c in base.columns if c not in CONTRACT.names]
    frames = [base.drop(columns=extra)]
    if waves == 1:
        return frames[0]
    rng = np.random.default_rng([seed, 20])
    trajectory = rng.choice(TRAJECTORIES, size=n, p=_SHARES)
    # The member's persistent hidden offset: reported minus structural at the first wave.
    behaviour = {c: _float(base, c) for c in CONTRACT.behaviour_columns}
    true0 = structural_arrays(behaviour, cal)
    offset = np.column_stack([_float(base, PILLAR_LABELS[p]) - true0[p] for p in PILLARS])
    previous = frames[0].loc[~faulty].reset_index(drop=True)
    offset = offset[~faulty]
    trajectory = trajectory[~faulty]
    reference = _industry_reference(calibration)
    typing = np.random.default_rng([seed, 22])  # its own stream: faults change nothing else
    for w in range(1, waves):
        snapshot = first + timedelta(weeks=WAVE_WEEKS * w)
        values = _next_wave(previous, trajectory, rng)
        wave = _labelled_wave(previous, values, snapshot, offset, WAVE_WEEKS, cal, reference, rng)
        frames.append(_typed_with_faults(wave, cal, typing)[0])
        previous = wave
    return CONTRACT.to_typed(pd.concat(frames, ignore_index=True))


def _typed_with_faults(wave: pd.DataFrame, cal: Calibration, rng: np.random.Generator
                       ) -> tuple[pd.DataFrame, np.ndarray]:
    """The wave as the members type it: the calibration's typing faults (those of the first
    wave, ``reporting.apply_faults``) in a share of rows. Returns the rows and which carry a
    fault; the simulation goes on from the faultless ``wave``."""
    m = len(wave)
    faults = draw_faults(m, cal, rng)
    if not faults.rows.any():
        return wave, faults.rows
    labels = np.column_stack([_float(wave, c) for c in LABEL_COLUMNS])
    invitations = {c: _float(wave, c) for c in _INVITATIONS}
    swap = faults.kind == "accepted_exceeds_sent"
    for c in _INVITATIONS:  # an unknown count is typed as 0 by the member making the typo
        invitations[c] = np.where(swap & np.isnan(invitations[c]), 0.0, invitations[c])
    masks = {c: np.zeros(m, dtype=bool) for c in _INVITATIONS}
    snapshots = np.array([pd.Timestamp(d).date() for d in wave["snapshot_date"]], dtype=object)
    apply_faults(faults, labels, invitations, masks, snapshots, date.today())
    typed = wave.copy()
    for j, col in enumerate(LABEL_COLUMNS):
        typed[col] = labels[:, j]
    for col, x in invitations.items():
        typed[col] = x
    typed["snapshot_date"] = pd.to_datetime(pd.Series(snapshots, dtype=object)).to_numpy()
    return CONTRACT.to_typed(typed), faults.rows


def _labelled_wave(previous: pd.DataFrame, values: dict[str, np.ndarray], snapshot: date,
                   offset: np.ndarray, weeks: int, cal: Calibration,
                   reference: dict[str, np.ndarray], rng: np.random.Generator) -> pd.DataFrame:
    """The next snapshot of ``previous``'s members with behaviour ``values``: labels are the
    structural pillars plus each member's offset (moved in place by a random walk over the
    ``weeks`` since) plus drift for the reading's lag."""
    true = structural_arrays(values, cal)
    m = len(previous)
    drift_sd = float(cal["reporting"]["drift_sd_30d"])
    offset += drift_sd * np.sqrt(weeks * 7 / 30.0) * rng.standard_normal(offset.shape)
    lag_max = int(cal["reporting"]["lag_days_max"])
    lag = rng.integers(0, max(0, min(lag_max, (date.today() - snapshot).days)) + 1, size=m)
    drift = drift_sd * np.sqrt(lag / 30.0)[:, None] * rng.standard_normal((m, len(PILLARS)))
    pillars = np.clip(np.column_stack([true[p] for p in PILLARS]) + offset + drift,
                      0.0, CONTRACT.pillar_max)
    wave = previous.copy()
    for col, x in values.items():
        wave[col] = x
    wave["snapshot_date"] = pd.Timestamp(snapshot)
    wave["reported_on"] = [pd.Timestamp(snapshot + timedelta(days=int(d))) for d in lag]
    age = _float(previous, "account_age_months") + round(weeks * 7 / 30.44)
    wave["account_age_months"] = np.minimum(
        age, CONTRACT["account_age_months"].numeric_bound("max") or np.inf)
    for j, p in enumerate(PILLARS):
        wave[PILLAR_LABELS[p]] = round_pillars(pillars[:, j])
    total = round_total(pillars.sum(axis=1))
    wave[TOTAL_LABEL] = total
    known = previous["industry_rank_top_pct"].notna().to_numpy()
    top = industry_top_pct(total, previous["industry"].astype(object).to_numpy(), reference)
    wave["industry_rank_top_pct"] = np.where(known, top, np.nan)
    return CONTRACT.to_typed(wave)


# -- the longitudinal simulator: members given plans, some follow them ---------------------------

PLAN_COLUMNS = ("plan_levers", "plan_changes", "plan_effort_minutes",
                *(f"plan_gain_{p}" for p in (*PILLARS, "total")))
"""Per row of ``followup_waves``: the plan issued on that snapshot (levers comma-separated,
``plan_changes`` as JSON ``{lever: {column: value}}``, the predicted gains)."""
EFFECT_COLUMNS = tuple(f"true_effect_{p}" for p in (*PILLARS, "total"))
"""With truth, per later row: the structural effect of what the member adopted since the
previous snapshot (behaviour with the adopted levers minus the same behaviour without them)."""
ADOPTED_COLUMN = "true_adopted"
DRIVE_COLUMN = "true_drive"

# Adoption: logit = _ADOPT_BASE + _ADOPT_DRIVE * drive + commitment - _ADOPT_EFFORT *
# log(effort / 15 min); commitment ~ N(0, _COMMITMENT_SD) per member and wave (time to spare
# this season), shared by the plan's levers and unrelated to drift, so members tend to take all
# of a plan or none of it.
_ADOPT_BASE, _ADOPT_DRIVE, _ADOPT_EFFORT, _COMMITMENT_SD = 0.3, 0.8, 0.5, 2.0
# Drift: P(grow) and P(decay) rise and fall with drive (logits), the rest stay steady.
_GROW_DRIVE, _DECAY_DRIVE = 1.6, -1.6
# How well the first snapshot shows drive: the noise sd on a standardised activity score.
_DRIVE_NOISE = 0.3


Advise = Callable[[pd.DataFrame], Sequence[Mapping[str, Any] | None]]
"""Plans for contract rows, one per row (None: no plan), each a mapping ``{"levers": [{"id",
"changes", "effort_minutes_per_week"}, ...], "gain": {pillar or "total": points}}``: the levers
of an explanation's plan. The caller brings the model (``explain.advice.advisor``); the
simulator never imports it."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _drive(frame: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """A member trait behind both their own drift and their adoption, visible (with noise) in
    the first snapshot's activity: the more active are the ones getting more active."""
    score = np.zeros(len(frame))
    for col in ("posts_90d", "comments_given_90d", "days_active_90d", "searches_90d"):
        x = np.log1p(_float(frame, col))
        x = np.where(np.isnan(x), np.nanmean(x) if np.isfinite(x).any() else 0.0, x)
        score += (x - x.mean()) / (x.std() or 1.0)
    score = (score - score.mean()) / (score.std() or 1.0)
    return np.asarray(score + _DRIVE_NOISE * rng.standard_normal(len(frame)))


def _plans(advise: Advise, rows: pd.DataFrame, faulty: np.ndarray
           ) -> list[Mapping[str, Any] | None]:
    """A plan per member; none for a row typed with a fault (quarantined, never explained)."""
    plans = list(advise(rows))
    if len(plans) != len(rows):
        raise ValueError(f"advise returned {len(plans)} plans for {len(rows)} members")
    return [None if bad else plan for plan, bad in zip(plans, faulty, strict=True)]


def _plan_cells(plans: Sequence[Mapping[str, Any] | None]) -> dict[str, Any]:
    cells: dict[str, list[Any]] = {c: [] for c in PLAN_COLUMNS}
    for plan in plans:
        levers = plan["levers"] if plan else ()
        cells["plan_levers"].append(",".join(lv["id"] for lv in levers) if plan else None)
        cells["plan_changes"].append(json.dumps({lv["id"]: dict(lv["changes"]) for lv in levers})
                                     if plan else None)
        cells["plan_effort_minutes"].append(
            sum(lv["effort_minutes_per_week"] for lv in levers) if plan else np.nan)
        for p in (*PILLARS, "total"):
            cells[f"plan_gain_{p}"].append(float(plan["gain"][p]) if plan else np.nan)
    return cells


def _adopt(values: dict[str, np.ndarray], plans: Sequence[Mapping[str, Any] | None],
           drive: np.ndarray, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each lever of each plan taken with its probability; a taken lever's values are reached
    (never lowered: drift may already have got there). Returns the adopted behaviour and, per
    member, the ids taken."""
    adopted = {c: v.copy() for c, v in values.items()}
    taken: list[str] = []
    commitment = _COMMITMENT_SD * rng.standard_normal(len(plans))
    for i, plan in enumerate(plans):
        ids = []
        for lever in plan["levers"] if plan else ():
            effort = max(float(lever["effort_minutes_per_week"]), 1.0)
            p = _sigmoid(np.array(_ADOPT_BASE + _ADOPT_DRIVE * drive[i] + commitment[i]
                                  - _ADOPT_EFFORT * np.log(effort / 15.0)))
            if rng.random() >= float(p):
                continue
            ids.append(lever["id"])
            for col, target in lever["changes"].items():
                x = adopted[col][i]
                adopted[col][i] = float(target) if np.isnan(x) else max(x, float(target))
        taken.append(",".join(ids))
    _enforce_rules(adopted)
    return adopted, taken


def followup_waves(n: int, seed: int, advise: Advise, *, waves: int = 3,
                   weeks_between: int = WAVE_WEEKS, calibration: str = "linkedin",
                   with_truth: bool = False, last_snapshot: date | None = None) -> pd.DataFrame:
    """``n`` members over ``waves`` snapshots ``weeks_between`` weeks apart, each given a plan.

    At every snapshot ``advise`` issues a plan per member (recorded in ``PLAN_COLUMNS``). Before
    the next snapshot each member drifts on their own (``grow``/``steady``/``decay`` as in
    ``history_waves``, over ``weeks_between`` weeks) and takes each lever of their plan with a
    probability that falls with its effort and rises with the member's *drive*. Drive also makes
    growth more likely and decay less, and it shows (noisily) in the first snapshot's activity:
    adopters would have gained more than non-adopters even without the plan, so their raw change
    overstates the plan's effect. Labels are re-simulated as in ``history_waves``; members with
    a typing fault at the first wave keep only that row, a later row with one gets no plan (it
    would be quarantined) and the member adopts nothing from it. ``with_truth`` adds
    ``EFFECT_COLUMNS``, ``true_adopted`` (ids taken) and ``true_drive``. Rows oldest wave first.
    """
    if waves < 2:
        raise ValueError("a follow-up needs waves >= 2")
    if weeks_between < 1:
        raise ValueError("weeks_between must be >= 1")
    last = last_snapshot or DEFAULT_SNAPSHOT
    first = last - timedelta(weeks=weeks_between * (waves - 1))
    cal = load_calibration(calibration)
    base = simulate_cohort(n, seed, calibration=calibration, with_truth=True, snapshot_date=first)
    faulty = base[FAULT_COLUMN].to_numpy(dtype=bool)
    behaviour = {c: _float(base, c) for c in CONTRACT.behaviour_columns}
    true0 = structural_arrays(behaviour, cal)
    offset = np.column_stack([_float(base, PILLAR_LABELS[p]) - true0[p]
                              for p in PILLARS])[~faulty]
    extra = [c for c in base.columns if c not in CONTRACT.names]
    previous = base.drop(columns=extra).loc[~faulty].reset_index(drop=True)
    rng = np.random.default_rng([seed, 21])
    drive = _drive(previous, rng)
    m = len(previous)
    grow = _sigmoid(_GROW_DRIVE * drive - 0.4)
    decay = (1 - grow) * _sigmoid(_DECAY_DRIVE * drive - 0.4)
    u = rng.random(m)
    trajectory = np.where(u < grow, "grow", np.where(u < grow + decay, "decay", "steady"))
    reference = _industry_reference(calibration)
    typing = np.random.default_rng([seed, 22])  # its own stream: faults change nothing else
    typed, faulty_now = previous, np.zeros(m, dtype=bool)
    frames = []
    for w in range(1, waves):
        plans = _plans(advise, previous, faulty_now)
        frames.append(typed.assign(**_plan_cells(plans)))
        values = _next_wave(previous, trajectory, rng, weeks_between)
        adopted, taken = _adopt(values, plans, drive, rng)
        snapshot = first + timedelta(weeks=weeks_between * w)
        wave = _labelled_wave(previous, adopted, snapshot, offset, weeks_between, cal,
                              reference, rng)
        if with_truth:
            with_plan = structural_arrays(adopted, cal)
            without = structural_arrays(values, cal)
            effect = {f"true_effect_{p}": with_plan[p] - without[p] for p in PILLARS}
            effect["true_effect_total"] = sum(effect.values(), start=np.zeros(m))
            blank: dict[str, Any] = {c: np.nan for c in EFFECT_COLUMNS}
            frames[-1] = frames[-1].assign(**blank, **{ADOPTED_COLUMN: None, DRIVE_COLUMN: drive})
            truth: dict[str, Any] = {**effect, ADOPTED_COLUMN: taken, DRIVE_COLUMN: drive}
            wave = wave.assign(**truth)
        previous = wave
        typed, faulty_now = _typed_with_faults(wave, cal, typing)
    frames.append(typed.assign(**_plan_cells(_plans(advise, previous, faulty_now))))
    if faulty.any():
        faults = base.drop(columns=extra).loc[faulty]
        frames.insert(0, faults)
    out = pd.concat(frames, ignore_index=True)
    return CONTRACT.to_typed(out)
