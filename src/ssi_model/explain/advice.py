"""Did the advice work? Issued plans followed up against the member's next snapshot.

For every plan followed by a later snapshot of the same member (a *follow-up*):

- **Adoption**: a lever counts as taken when every value its ``changes`` ask for is reached in
  the later snapshot (a flag set, a count at least the value). Members who took every lever of
  their plan are *adopters*, those who took none *non-adopters*; partial adopters are counted but
  left out of the effect, which compares following the plan with not following it.
- **Realised against predicted**, for adopters: the change in the reported labels regressed on
  the plan's predicted gain (slope and intercept; a well-calibrated plan has slope near 1).
- **The effect of following the plan**: a difference in differences. The adopters' change minus
  the change of non-adopters weighted to look like the adopters on the first snapshot (inverse
  propensity weights for the effect on the treated, ``p / (1 - p)``, from a logistic regression
  of adopting on the first snapshot's behaviour, labels and plan). Members who were getting more
  active anyway adopt more; their raw change (the *naive* figure, reported alongside) mixes that
  drift with the plan's effect, the weighted comparison removes the part visible in the first
  snapshot. It stays observational: drive that the first snapshot does not show is not removed.

Intervals are percentile bootstraps over follow-ups (the propensity model refitted each time).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from ssi_model.contract import CONTRACT, PILLAR_LABELS, PILLARS, TOTAL_LABEL
from ssi_model.explain.explain import explain_rows
from ssi_model.explain.schema import Explanation
from ssi_model.model.estimator import SSIEstimator
from ssi_model.validation import validate

OUTCOMES = (*PILLARS, "total")
LABELS = {**PILLAR_LABELS, "total": TOTAL_LABEL}
LEVEL = 0.90
# Propensities are clipped so one member that looks exactly like an adopter cannot carry the
# control group alone (the usual trimming for weights p / (1 - p)).
_CLIP = (0.01, 0.95)
CAVEAT = ("Observational: adopters are compared with non-adopters who looked alike on the first "
          "snapshot. What the snapshot does not show (motivation, a new job) can still bias the "
          "effect; only randomising which plan a member is shown would make it causal.")

Value = bool | int | float


# -- issuing plans --------------------------------------------------------------------------------


def plan_offer(doc: Explanation) -> dict[str, Any] | None:
    """An explanation's plan as the levers it asks for (their own ``changes`` and effort) and
    its predicted gain; None when the document has no plan."""
    if doc.plan is None:
        return None
    by_id = {lever.id: lever for lever in doc.levers}
    levers = [{"id": i, "changes": dict(by_id[i].changes),
               "effort_minutes_per_week": by_id[i].effort_minutes_per_week}
              for i in doc.plan.levers if i in by_id]
    return {"levers": levers, "gain": doc.plan.gain.model_dump()}


def advisor(estimator: SSIEstimator, *, budget_minutes: float | None = None
            ) -> Callable[[pd.DataFrame], list[dict[str, Any] | None]]:
    """A function issuing each contract row its plan with ``estimator`` (for the simulator)."""
    def advise(rows: pd.DataFrame) -> list[dict[str, Any] | None]:
        return [plan_offer(d) for d in explain_rows(estimator, rows,
                                                    budget_minutes=budget_minutes)]
    return advise


# -- follow-ups ------------------------------------------------------------------------------------


@dataclass
class FollowUps:
    """Issued plans, each with the snapshot it explained and the member's next snapshot."""

    before: pd.DataFrame  # contract rows the plans explained
    after: pd.DataFrame  # the same members' next snapshots, aligned with ``before``
    plans: list[dict[str, dict[str, Value]]]  # per follow-up: lever id -> the values it asks
    predicted: pd.DataFrame  # predicted gain per pillar and "total"
    effort: np.ndarray  # weekly minutes of each plan
    truth: pd.DataFrame | None = None  # simulated: true_effect_<pillar|total> per follow-up
    model_versions: list[str | None] | None = None

    def __len__(self) -> int:
        return len(self.before)


def followups_from_waves(frame: pd.DataFrame) -> FollowUps:
    """Follow-ups of a ``followup_waves`` frame (``ssi simulate --weeks-between``): each row
    with a plan, paired with the member's next valid row (rows failing the contract are left
    out, as on import to the store); ``true_effect_*`` columns become the truth when present."""
    need = {"member_id", "snapshot_date", "plan_levers", "plan_changes", "plan_gain_total"}
    missing = need - set(frame.columns)
    if missing:
        raise ValueError(f"not a follow-up file (missing {', '.join(sorted(missing))}); "
                         "make one with `ssi simulate --waves K --weeks-between W`")
    # Rows with a typing fault are left out, as a store import quarantines them.
    typed = validate(frame).quarantine["row"].to_numpy(dtype=int) - 1
    df = frame.drop(index=frame.index[typed])
    df = df.assign(snapshot_date=pd.to_datetime(df["snapshot_date"]))
    df = df.sort_values(["member_id", "snapshot_date"], kind="stable").reset_index(drop=True)
    has_next = df["member_id"].shift(-1).eq(df["member_id"]).fillna(False).to_numpy(dtype=bool)
    plan = df["plan_changes"].map(lambda s: isinstance(s, str) and s not in ("", "{}"))
    first = np.flatnonzero(has_next & plan.to_numpy(dtype=bool))
    before, after = df.iloc[first].reset_index(drop=True), df.iloc[first + 1].reset_index(
        drop=True)
    truth = None
    effect_cols = [f"true_effect_{o}" for o in OUTCOMES]
    if set(effect_cols) <= set(df.columns):
        truth = after[effect_cols].astype(float).set_axis(list(OUTCOMES), axis=1)
    return FollowUps(
        before=before,
        after=after,
        plans=[json.loads(str(s)) for s in before["plan_changes"]],
        predicted=before[[f"plan_gain_{o}" for o in OUTCOMES]].astype(float).set_axis(
            list(OUTCOMES), axis=1),
        effort=before.get("plan_effort_minutes", pd.Series(np.nan, index=before.index))
        .astype(float).to_numpy(),
        truth=truth,
    )


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    s = frame[column]
    try:
        return np.asarray(s.astype("Float64").to_numpy(dtype=float, na_value=np.nan))
    except (TypeError, ValueError):  # a CSV's flags as text
        flags = s.map({"True": 1.0, "False": 0.0, "true": 1.0, "false": 0.0, True: 1.0,
                       False: 0.0})
        return np.asarray(flags.fillna(pd.to_numeric(s, errors="coerce")), dtype=float)


def plan_levers(doc: Mapping[str, Any]) -> dict[str, dict[str, Value]]:
    """An issued document's plan (a stored JSON document) as lever id -> the values it asks
    for, best lever first; empty without a plan."""
    plan = doc.get("plan") or {}
    levers = {lv["id"]: lv for lv in doc.get("levers", [])}
    return {i: dict(levers[i]["changes"]) for i in plan.get("levers", []) if i in levers}


def _taken(plan: Mapping[str, Mapping[str, Value]], after: Mapping[str, float]
           ) -> dict[str, bool]:
    """Lever id -> every value it asks for reached in ``after`` (numbers; NaN or absent: not
    reached)."""
    def reached(col: str, target: Value) -> bool:
        x = after.get(col, np.nan)
        return bool(not np.isnan(x) and x >= float(target) - 1e-9)

    return {lever: all([reached(c, v) for c, v in changes.items()])
            for lever, changes in plan.items()}


def adoption(f: FollowUps) -> list[dict[str, bool]]:
    """Per follow-up, lever id -> taken (every value it asks for reached in the later snapshot;
    unknown later values count as not reached)."""
    after = {c: _numeric(f.after, c) for c in CONTRACT.behaviour_columns}
    return [_taken(plan, {c: float(x[k]) for c, x in after.items()})
            for k, plan in enumerate(f.plans)]


def levers_taken(plan: Mapping[str, Mapping[str, Value]], later: Mapping[str, Any]
                 ) -> dict[str, bool]:
    """``adoption`` of one plan against one later contract row (a stored snapshot's JSON)."""
    frame = pd.DataFrame([dict(later)])
    return _taken(plan, {c: float(_numeric(frame, c)[0]) for c in CONTRACT.behaviour_columns})


# -- estimation ------------------------------------------------------------------------------------


def _design(f: FollowUps) -> np.ndarray:
    """First-snapshot covariates: behaviour, labels, the plan's predicted gain and effort;
    unknown cells as the median plus an indicator; standardised."""
    # Counts on a log scale: activity is skewed, and 2 posts against 0 says more about a member
    # than 202 against 200.
    cols = [np.log1p(np.maximum(_numeric(f.before, c), 0.0)) for c in CONTRACT.behaviour_columns]
    cols += [_numeric(f.before, c) for c in LABELS.values()]
    cols += [f.predicted[o].to_numpy(dtype=float) for o in OUTCOMES] + [f.effort]
    out = []
    for x in cols:
        missing = np.isnan(x)
        if missing.all():
            continue
        filled = np.where(missing, np.nanmedian(x), x)
        for c in ((filled, missing.astype(float)) if missing.any() else (filled,)):
            sd = c.std()
            if sd > 0:
                out.append((c - c.mean()) / sd)
    return np.column_stack(out) if out else np.zeros((len(f), 0))


def _effects(x: np.ndarray, treated: np.ndarray, dy: np.ndarray,
             model: LogisticRegression | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(weighted DiD effect on the treated, naive treated change), each per outcome.

    ``model``: a propensity model to refit (bootstrap replicates warm-start from the full fit).
    """
    model = model or LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=200)
    model.fit(x, treated)
    p = np.clip(model.predict_proba(x)[:, 1], *_CLIP)
    w = p[~treated] / (1 - p[~treated])
    naive = dy[treated].mean(axis=0)
    return naive - np.average(dy[~treated], axis=0, weights=w), naive


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if len(x) < 3 or np.ptp(x) == 0:
        return float("nan"), float("nan")
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def _ci(samples: np.ndarray, level: float) -> list[list[float]]:
    """Percentile intervals per column of (b, k) bootstrap samples."""
    a = (1 - level) / 2
    lo, hi = np.nanquantile(samples, [a, 1 - a], axis=0)
    return [[round(float(u), 3), round(float(v), 3)] for u, v in zip(lo, hi, strict=True)]


def _r(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 3)


def evaluate_advice(f: FollowUps, *, n_boot: int = 300, seed: int = 0,
                    level: float = LEVEL) -> dict[str, Any]:
    """Adoption, realised against predicted, and the effect of following the plan (module
    docstring), as the ``advice.json`` document; with truth, how far the estimate is from it."""
    taken = adoption(f)
    n_taken = np.array([sum(t.values()) for t in taken])
    n_levers = np.array([len(t) for t in taken])
    adopter = (n_levers > 0) & (n_taken == n_levers)
    none = n_taken == 0
    levers: dict[str, dict[str, Any]] = {}
    for t in taken:
        for lever, ok in t.items():
            row = levers.setdefault(lever, {"offered": 0, "taken": 0})
            row["offered"] += 1
            row["taken"] += int(ok)
    for row in levers.values():
        row["share"] = round(row["taken"] / row["offered"], 3)

    dy = np.column_stack([_numeric(f.after, LABELS[o]) - _numeric(f.before, LABELS[o])
                          for o in OUTCOMES])
    pred = f.predicted[list(OUTCOMES)].to_numpy(dtype=float)
    ok = ~np.isnan(dy).any(axis=1) & ~np.isnan(pred).any(axis=1)
    use = ok & (adopter | none)
    x, d, y = _design(f)[use], adopter[use], dy[use]
    doc: dict[str, Any] = {
        "members": int(f.before["member_id"].nunique()),
        "followups": len(f),
        "adopters": int(adopter.sum()),
        "partial_adopters": int((~adopter & ~none).sum()),
        "non_adopters": int(none.sum()),
        "levers": dict(sorted(levers.items())),
        "level": level,
        "method": "difference in differences, inverse-propensity weighted (effect on the "
                  "adopters); propensity: logistic regression on the first snapshot",
        "caveat": CAVEAT,
    }
    if d.sum() < 2 or (~d).sum() < 2:
        doc["note"] = "too few adopters or non-adopters to estimate the plan's effect"
        return doc

    rng = np.random.default_rng(seed)
    propensity = LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=200,
                                    warm_start=True)
    effect, naive = _effects(x, d, y, propensity)
    adopters_pred = pred[use][d]
    lines = [_line(adopters_pred[:, j], y[d][:, j]) for j in range(len(OUTCOMES))]
    boot_effect, boot_naive, boot_lines = [], [], []
    treated_idx, control_idx = np.flatnonzero(d), np.flatnonzero(~d)
    for _ in range(n_boot):
        # Resampled within groups, so every replicate keeps adopters and non-adopters.
        idx = np.concatenate([rng.choice(treated_idx, len(treated_idx)),
                              rng.choice(control_idx, len(control_idx))])
        e, nv = _effects(x[idx], d[idx], y[idx], propensity)
        boot_effect.append(e)
        boot_naive.append(nv)
        t = idx[d[idx]]
        boot_lines.append([v for j in range(len(OUTCOMES))
                           for v in _line(pred[use][t, j], y[t, j])])
    effect_ci, naive_ci = _ci(np.array(boot_effect), level), _ci(np.array(boot_naive), level)
    line_ci = _ci(np.array(boot_lines), level)
    per: dict[str, dict[str, Any]] = {}
    for j, o in enumerate(OUTCOMES):
        per[o] = {
            "predicted_gain": _r(adopters_pred[:, j].mean()),
            "plan_effect": _r(effect[j]),
            "plan_effect_ci": effect_ci[j],
            "naive_change": _r(naive[j]),
            "naive_change_ci": naive_ci[j],
            "realised_vs_predicted": {"slope": _r(lines[j][0]), "slope_ci": line_ci[2 * j],
                                      "intercept": _r(lines[j][1]),
                                      "intercept_ci": line_ci[2 * j + 1]},
        }
    doc.update({
        "compared_adopters": int(d.sum()),
        "compared_non_adopters": int((~d).sum()),
        "predicted_gain_total": per["total"]["predicted_gain"],
        "plan_effect_total": per["total"]["plan_effect"],
        "plan_effect_total_ci": per["total"]["plan_effect_ci"],
        "naive_change_total": per["total"]["naive_change"],
        "naive_change_total_ci": per["total"]["naive_change_ci"],
        "pillars": {p: per[p] for p in PILLARS},
        "total": per["total"],
    })
    if f.truth is not None:
        doc["truth"] = _against_truth(f.truth[use][d], per)
    return doc


def _against_truth(truth: pd.DataFrame, per: Mapping[str, Mapping[str, Any]]
                   ) -> dict[str, Any]:
    """The simulator's true effect of what the adopters adopted, and each estimate's error."""
    out: dict[str, Any] = {}
    for o in OUTCOMES:
        true = float(truth[o].mean())
        lo, hi = per[o]["plan_effect_ci"]
        out[o] = {
            "true_effect": _r(true),
            "plan_effect_error": _r(per[o]["plan_effect"] - true),
            "naive_error": _r(per[o]["naive_change"] - true),
            "plan_effect_ci_covers_truth": bool(lo <= true <= hi),
            "naive_within_plan_effect_ci": bool(lo <= per[o]["naive_change"] <= hi),
        }
    return out


def advice_metrics(doc: Mapping[str, Any]) -> dict[str, float]:
    """Flat ``advice_*`` metrics of an ``advice.json`` document (for MLflow)."""
    out: dict[str, float] = {}
    for key in ("members", "adopters", "predicted_gain_total", "plan_effect_total",
                "naive_change_total"):
        value = doc.get(key)
        if isinstance(value, int | float):
            out[f"advice_{key}"] = float(value)
    if "plan_effect_total_ci" in doc:
        out["advice_plan_effect_total_lo"], out["advice_plan_effect_total_hi"] = (
            float(v) for v in doc["plan_effect_total_ci"])
    true = ((doc.get("truth") or {}).get("total") or {}).get("true_effect")
    if true is not None:
        out["advice_true_effect_total"] = float(true)
    slope = (doc.get("total") or {}).get("realised_vs_predicted", {}).get("slope")
    if slope is not None:
        out["advice_total_slope"] = float(slope)
    return out


def plans_as_offers(docs: Sequence[Explanation]) -> list[dict[str, Any] | None]:
    """``plan_offer`` of each document."""
    return [plan_offer(d) for d in docs]


# -- plans that outlive retraining -----------------------------------------------------------------


def rescore_plans(estimator: SSIEstimator,
                  issued: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]
                  ) -> dict[str, Any]:
    """Re-score issued plans with another model: ``issued`` holds (document, the contract row it
    explained). A plan is *invalidated* when its total gain under the new model changed sign
    or lost more than half of what was promised (Rawal et al.; ROAR).

    Returns ``plans``, ``sign_changed``, ``lost_half`` (counts), their ``*_share`` and
    ``invalidated_share``; shares are None without plans.
    """
    pairs = [(doc, row) for doc, row in issued if doc.get("plan")]
    out: dict[str, Any] = {"plans": len(pairs), "sign_changed": 0, "lost_half": 0}
    if pairs:
        before = [dict(row) for _, row in pairs]
        after = [{**dict(row), **doc["plan"]["changes"]} for doc, row in pairs]
        scored = estimator.predict_pillars(before + after).sum(axis=1)
        new = scored[len(pairs):] - scored[:len(pairs)]
        old = np.array([float(doc["plan"]["gain"]["total"]) for doc, _ in pairs])
        flipped = np.sign(new) != np.sign(old)
        halved = ~flipped & (np.abs(new) < np.abs(old) / 2)
        out.update(sign_changed=int(flipped.sum()), lost_half=int(halved.sum()))
    n = out["plans"]
    for key in ("sign_changed", "lost_half"):
        out[f"{key}_share"] = round(out[key] / n, 4) if n else None
    out["invalidated_share"] = round((out["sign_changed"] + out["lost_half"]) / n, 4) if n \
        else None
    return out
