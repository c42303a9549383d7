"""Later snapshots of a simulated cohort, for the demo's member history.

Not a longitudinal simulator (a later issue brings one): each member of a cohort gets one
*trajectory* and, per later wave, its behaviour moves along it; the labels are re-simulated from
the new behaviour through the structural function, keeping each member's own hidden offset.

- Trajectories: ``grow`` (posts, comments, searches and invitations up, connections and followers
  grow, sometimes a new background photo), ``steady`` (counts wobble a little, the network grows
  slowly) and ``decay`` (activity falls off; cumulative counts stay).
- Labels: ``true`` pillars of the new behaviour plus the member's offset at the first wave
  (reported minus structural: LinkedIn's hidden inputs, which do not reset between readings),
  plus fresh drift for the days between snapshot and reading; rounded as the dashboard rounds.
- Unknown cells stay unknown; the contract's ranges and ``child <= parent`` rules still hold;
  ``account_age_months`` grows with the calendar.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from ssi_model.contract import CONTRACT, PILLAR_LABELS, PILLARS, TOTAL_LABEL
from ssi_model.simulator.calibration import load_calibration
from ssi_model.simulator.cohort import (
    DEFAULT_SNAPSHOT,
    FAULT_COLUMN,
    _industry_reference,
    simulate_cohort,
)
from ssi_model.simulator.reporting import industry_top_pct, round_pillars, round_total
from ssi_model.simulator.structural import structural_arrays

WAVE_WEEKS = 6
TRAJECTORIES = ("grow", "steady", "decay")
_SHARES = (0.4, 0.3, 0.3)
# Per trajectory and wave, the factor on 90-day activity counts: (low, high) of a uniform draw.
_ACTIVITY = {"grow": (1.3, 2.2), "steady": (0.85, 1.15), "decay": (0.35, 0.8)}
# Per wave, the relative growth of cumulative network counts.
_NETWORK = {"grow": (0.04, 0.12), "steady": (0.0, 0.03), "decay": (0.0, 0.01)}
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


def _next_wave(frame: pd.DataFrame, trajectory: np.ndarray, rng: np.random.Generator
               ) -> dict[str, np.ndarray]:
    n = len(frame)
    values = {c: _float(frame, c) for c in CONTRACT.behaviour_columns}
    for kind in TRAJECTORIES:
        rows = trajectory == kind
        if not rows.any():
            continue
        lo, hi = _ACTIVITY[kind]
        for col in CONTRACT.behaviour_columns:
            x = values[col][rows]
            if col.endswith(_WINDOW):
                factor = rng.uniform(lo, hi, size=rows.sum())
                bump = rng.poisson(2.0, size=rows.sum()) if (
                    kind == "grow" and col in _GROW_FROM_ZERO) else 0
                values[col][rows] = np.round(x * factor + bump)
            elif col in _NETWORK_COLUMNS:
                g_lo, g_hi = _NETWORK[kind]
                values[col][rows] = np.round(x * (1 + rng.uniform(g_lo, g_hi, size=rows.sum())))
        if kind == "grow":
            # Some growing members finish their profile on the way.
            for col in ("has_banner", "custom_url"):
                x = values[col]
                add = rows & (x == 0) & (rng.random(n) < 0.3)
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
    drift_sd = float(cal["reporting"]["drift_sd_30d"])
    lag_max = int(cal["reporting"]["lag_days_max"])
    previous = frames[0].loc[~faulty].reset_index(drop=True)
    offset = offset[~faulty]
    trajectory = trajectory[~faulty]
    reference = _industry_reference(calibration)
    today = date.today()
    for w in range(1, waves):
        snapshot = first + timedelta(weeks=WAVE_WEEKS * w)
        values = _next_wave(previous, trajectory, rng)
        true = structural_arrays(values, cal)
        m = len(previous)
        lag = rng.integers(0, max(0, min(lag_max, (today - snapshot).days)) + 1, size=m)
        drift = drift_sd * np.sqrt(lag / 30.0)[:, None] * rng.standard_normal((m, len(PILLARS)))
        pillars = np.clip(np.column_stack([true[p] for p in PILLARS]) + offset + drift,
                          0.0, CONTRACT.pillar_max)
        wave = previous.copy()
        for col, x in values.items():
            wave[col] = x
        wave["snapshot_date"] = pd.Timestamp(snapshot)
        wave["reported_on"] = [pd.Timestamp(snapshot + timedelta(days=int(d))) for d in lag]
        age = _float(previous, "account_age_months") + round(WAVE_WEEKS * 7 / 30.44)
        wave["account_age_months"] = np.minimum(
            age, CONTRACT["account_age_months"].numeric_bound("max") or np.inf)
        for j, p in enumerate(PILLARS):
            wave[PILLAR_LABELS[p]] = round_pillars(pillars[:, j])
        total = round_total(pillars.sum(axis=1))
        wave[TOTAL_LABEL] = total
        known = previous["industry_rank_top_pct"].notna().to_numpy()
        top = industry_top_pct(total, previous["industry"].astype(object).to_numpy(), reference)
        wave["industry_rank_top_pct"] = np.where(known, top, np.nan)
        wave = CONTRACT.to_typed(wave)
        frames.append(wave)
        previous = wave
    return CONTRACT.to_typed(pd.concat(frames, ignore_index=True))
