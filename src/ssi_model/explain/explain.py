"""Drivers, levers and plans for each member: what would raise each pillar most.

- Drivers: SHAP contributions (LightGBM's exact tree SHAP) of the member minus those of a peer
  profile — the member's own context with the peer group's median behaviour — rolled up from
  features to the contract columns they are computed from. They say why a pillar is where it is.
- Levers: catalogue actions applied to the member's row; the gain is the model's prediction after
  the change minus before, per pillar and for the total (never a SHAP value).
- Plan: bundles of up to three levers re-scored jointly (a bundle's gain is not the sum of its
  parts), the most gain within a weekly time budget; and the least-effort plan reaching a target.
Everything is batched: one prediction call for all members' levers, one for all bundles.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ssi_model.contract import CONTRACT, PILLARS, languages
from ssi_model.explain.catalogue import (
    Catalogue,
    Table,
    apply_lever,
    load_catalogue,
    take,
    to_table,
)
from ssi_model.explain.schema import (
    Driver,
    Explanation,
    Gain,
    Lever,
    ModelInfo,
    Peers,
    PillarDrivers,
    Plan,
    Prediction,
    TargetPlan,
    Tip,
)
from ssi_model.model.estimator import SSIEstimator
from ssi_model.model.peers import ALL

MIN_GAIN = 0.05  # points; smaller estimated gains are noise, not advice
MIN_DRIVER = 0.05
PEER_LEVELS = {"industry_role": 2, "industry": 1, "everyone": 0}


@dataclass
class LeverVariants:
    """Every applicable (member, lever) pair: the member's row with the lever applied."""

    rows: Table  # (m,) stacked changed rows, to be scored with the members' own
    member: np.ndarray  # (m,) member index
    lever: np.ndarray  # (m,) lever index in the catalogue
    changes: list[dict[str, bool | int | float]]  # (m,) the changed values


def _as_value(column: str, value: float) -> float | bool:
    if CONTRACT[column].kind == "bool":
        return bool(value)
    return int(value) if CONTRACT[column].kind == "int" else float(value)


def lever_variants(table: Table, catalogue: Catalogue) -> LeverVariants:
    """Apply every lever to every member; the caller scores the rows (in one batch with whatever
    else it scores) and subtracts the members' own predictions: those are the gains."""
    members, levers = [], []
    changed: list[dict[str, np.ndarray]] = []
    changes: list[dict[str, bool | int | float]] = []
    for j, lever in enumerate(catalogue.levers):
        # apply_lever writes only the columns the lever changes: copy those, share the rest
        work = dict(table)
        for column in lever.columns:
            work[column] = table[column].copy()
        idx = np.flatnonzero(apply_lever(lever, work))
        if not len(idx):
            continue
        members.append(idx)
        levers.append(np.full(len(idx), j))
        changed.append({c: work[c][idx] for c in lever.columns})
        for i in idx:
            changes.append({c: _as_value(c, work[c][i]) for c in lever.columns})
    if not members:
        empty = np.zeros(0, dtype=int)
        return LeverVariants(take(table, empty), empty, empty, [])
    member = np.concatenate(members)
    stacked = take(table, member)
    offset = 0
    for idx, values in zip(members, changed, strict=True):
        for column, v in values.items():
            stacked[column][offset:offset + len(idx)] = v
        offset += len(idx)
    return LeverVariants(rows=stacked, member=member, lever=np.concatenate(levers),
                         changes=changes)


# -- plans ---------------------------------------------------------------------------------------

@dataclass
class Bundle:
    member: int
    levers: tuple[int, ...]
    effort: float


def _candidate_bundles(variants: LeverVariants, gains: np.ndarray, n: int, catalogue: Catalogue,
                       size: int, max_levers: int = 3) -> list[Bundle]:
    """``gains``: (m, 4) pillar gains of the variants."""
    bundles = []
    total = gains.sum(axis=1)
    for i in range(n):
        rows = np.flatnonzero((variants.member == i) & (total > MIN_GAIN))
        best = rows[np.argsort(-total[rows], kind="stable")][:size]
        ids = [int(variants.lever[r]) for r in best]
        for k in range(1, max_levers + 1):
            for combo in itertools.combinations(ids, k):
                specs = [catalogue.levers[c] for c in combo]
                primaries = {s.primary for s in specs}
                if len(primaries) < k:
                    continue  # two levers on the same behaviour are alternatives, not a bundle
                effort = sum(s.effort_per_week(catalogue.window_weeks) for s in specs)
                bundles.append(Bundle(member=i, levers=combo, effort=effort))
    return bundles


def _score_bundles(estimator: SSIEstimator, table: Table, base: np.ndarray,
                   bundles: list[Bundle], catalogue: Catalogue
                   ) -> tuple[np.ndarray, np.ndarray, list[dict[str, bool | int | float]]]:
    """Joint re-scoring: levers applied in sequence to each member's row, one predict call."""
    if not bundles:
        return np.zeros((0, 4)), np.zeros(0, bool), []
    member = np.array([b.member for b in bundles])
    work = take(table, member)
    valid = np.ones(len(bundles), dtype=bool)
    for position in range(3):
        lever_at = np.array([b.levers[position] if len(b.levers) > position else -1
                             for b in bundles])
        for j in np.unique(lever_at[lever_at >= 0]):
            rows = np.flatnonzero(lever_at == j)
            ok = apply_lever(catalogue.levers[j], work, rows)
            valid[rows] &= ok[rows]
    after = estimator.predict_matrix(estimator.builder.transform_columns(work))
    changes = []
    for k, b in enumerate(bundles):
        cols = dict.fromkeys(c for j in b.levers for c in catalogue.levers[j].columns)
        changes.append({c: _as_value(c, work[c][k]) for c in cols})
    return after - base[member], valid, changes


def _gain(values: np.ndarray) -> Gain:
    v = [round(float(x), 2) for x in values]
    return Gain(brand=v[0], people=v[1], insights=v[2], relationships=v[3],
                total=round(float(np.sum(values)), 2))


# -- drivers -------------------------------------------------------------------------------------

def _peer_table(estimator: SSIEstimator, table: Table, keys: list[str]) -> Table:
    """The member's context with the peer group's median behaviour."""
    peer = {k: v.copy() for k, v in table.items()}
    for i, key in enumerate(keys):
        medians = estimator.peers.groups[key].medians
        for column in CONTRACT.behaviour_columns:
            value = medians.get(column, np.nan)
            if CONTRACT[column].kind == "bool" and not np.isnan(value):
                value = float(value >= 0.5)
            peer[column][i] = value
    return peer


def _roll_up_matrix(features: list[str], sources: dict[str, list[str]],
                    columns: list[str]) -> np.ndarray:
    """(features × columns) weights: a feature's contribution shared evenly among its sources."""
    position = {c: k for k, c in enumerate(columns)}
    matrix = np.zeros((len(features), len(columns)))
    for i, feature in enumerate(features):
        cols = [c for c in sources[feature] if c in position]
        for c in cols:
            matrix[i, position[c]] = 1.0 / len(sources[feature])
    return matrix


def _drivers(estimator: SSIEstimator, table: Table, peer: Table,
             contributions: dict[str, np.ndarray], base: np.ndarray, peer_pred: np.ndarray,
             top: int) -> list[dict[str, PillarDrivers]]:
    """``contributions``: per pillar, SHAP values of the members' rows then their peers' rows."""
    n = len(base)
    names = list(CONTRACT.behaviour_columns)
    # A column on which the member equals the peer profile is not a driver, even if tree
    # interactions hand it a share of the gap.
    mine = np.column_stack([table[c] for c in names])
    theirs = np.column_stack([peer[c] for c in names])
    same = (mine == theirs) | (np.isnan(mine) & np.isnan(theirs))
    result: list[dict[str, PillarDrivers]] = [{} for _ in range(n)]
    for j, pillar in enumerate(PILLARS):
        block = estimator.blocks[pillar]
        weights = _roll_up_matrix(block, estimator.builder.sources_, names)
        shap = contributions[pillar][:, :len(block)]  # the last column is the base value
        values = np.where(same, 0.0, (shap[:n] - shap[n:]) @ weights)
        for i in range(n):
            order = np.argsort(-values[i])
            up = [k for k in order[:top] if values[i, k] > MIN_DRIVER]
            down = [k for k in order[::-1][:top] if values[i, k] < -MIN_DRIVER]
            result[i][pillar] = PillarDrivers(
                estimate=round(float(base[i, j]), 2),
                peer_estimate=round(float(peer_pred[i, j]), 2),
                up=[_driver(names[k], values[i, k], table, peer, i) for k in up],
                down=[_driver(names[k], values[i, k], table, peer, i) for k in down],
            )
    return result


def _plain(column: str, value: float) -> float | bool | None:
    if np.isnan(value):
        return None
    if CONTRACT[column].kind == "bool":
        return bool(value)
    return round(float(value), 2)


def _driver(column: str, contribution: float, table: Table, peer: Table, i: int) -> Driver:
    peer_value = _plain(column, peer[column][i])
    return Driver(
        column=column,
        contribution=round(float(contribution), 2),
        value=_plain(column, table[column][i]),
        peer_median=float(peer_value) if peer_value is not None else None,
    )


# -- documents -----------------------------------------------------------------------------------

def _peers_doc(estimator: SSIEstimator, key: str) -> Peers:
    industry, role = key.split("|")
    group = estimator.peers.groups[key]
    level = ("everyone" if industry == ALL else "industry" if role == ALL else "industry_role")
    means = {p: round(group.pillar_means.get(p, float("nan")), 2) for p in PILLARS}
    return Peers(
        level=level,
        industry=None if industry == ALL else industry,
        role_family=None if role == ALL else role,
        n=group.n,
        pillar_means=means,
        total_mean=round(sum(means.values()), 2),
    )


def _plan_doc(bundle: Bundle, gain: np.ndarray, changes: dict[str, bool | int | float],
              base_total: float, budget: float | None, catalogue: Catalogue) -> Plan:
    return Plan(
        levers=[catalogue.levers[j].id for j in bundle.levers],
        changes=changes,
        gain=_gain(gain),
        effort_minutes_per_week=round(bundle.effort, 1),
        budget_minutes=budget,
        total_after=round(base_total + float(gain.sum()), 2),
    )


def explain_rows(
    estimator: SSIEstimator,
    rows: pd.DataFrame | Sequence[Mapping[str, Any]],
    *,
    budget_minutes: float | None = None,
    target: float | None = None,
    lang: str = "en",
    model_info: ModelInfo | None = None,
    catalogue: Catalogue | None = None,
    top_drivers: int = 3,
) -> list[Explanation]:
    """One explanation document per row of (validated) contract rows, a frame or records."""
    catalogue = catalogue or load_catalogue()
    if lang not in languages():
        raise ValueError(f"lang must be one of {', '.join(languages())}, not {lang!r}")
    table = to_table(rows)
    n = len(table["member_id"])
    if n == 0:
        return []
    keys = [estimator.peers.resolve(i, r) for i, r in
            zip(table["industry"], table["role_family"], strict=True)]
    peer = _peer_table(estimator, table, keys)
    variants = lever_variants(table, catalogue)
    # One feature matrix and one pass of the four boosters for the members, their peer profiles
    # and every lever variant; SHAP values for the members and peers only.
    stacked = {k: np.concatenate([table[k], peer[k], variants.rows[k]]) for k in table}
    x = estimator.builder.transform_columns(stacked)
    scored = estimator.predict_matrix(x)
    base, peer_pred = scored[:n], scored[n:2 * n]
    gains = scored[2 * n:] - base[variants.member]
    drivers = _drivers(estimator, table, peer, estimator.contribution_arrays(x[:2 * n]), base,
                       peer_pred, top_drivers)
    predictions = estimator.prediction_records(table["member_id"], table["industry"], base)

    budget = catalogue.default_budget_minutes if budget_minutes is None else budget_minutes
    bundles = _candidate_bundles(variants, gains, n, catalogue, catalogue.plan_candidates)
    bundle_gain, bundle_ok, bundle_changes = _score_bundles(estimator, table, base, bundles,
                                                            catalogue)

    info = model_info or ModelInfo(name="ssi-estimator", run_id=estimator.meta.get("run_id"),
                                   trained_at=estimator.meta.get("trained_at"))
    docs = []
    by_member: dict[int, list[int]] = {}
    for k, b in enumerate(bundles):
        by_member.setdefault(b.member, []).append(k)
    for i in range(n):
        pair_rows = np.flatnonzero(variants.member == i)
        levers = []
        for r in pair_rows:
            g = gains[r]
            spec = catalogue.levers[int(variants.lever[r])]
            if g.sum() <= MIN_GAIN:
                continue  # a lever that gains nothing is left out
            levers.append(Lever(
                id=spec.id,
                pillar=spec.pillar,
                pillars=list(spec.pillars),
                changes=variants.changes[r],
                gain=_gain(g),
                effort_minutes_per_week=round(spec.effort_per_week(catalogue.window_weeks), 1),
                one_off=spec.one_off,
                text=spec.text[lang],
            ))
        levers.sort(key=lambda lv: (-lv.gain.total, lv.effort_minutes_per_week, lv.id))

        mine = [k for k in by_member.get(i, []) if bundle_ok[k]]
        base_total = float(base[i].sum())
        plan = None
        in_budget = [k for k in mine if bundles[k].effort <= budget + 1e-9]
        if in_budget:
            best = max(in_budget, key=lambda k: (round(bundle_gain[k].sum(), 6),
                                                 -bundles[k].effort))
            if bundle_gain[best].sum() > MIN_GAIN:
                plan = _plan_doc(bundles[best], bundle_gain[best], bundle_changes[best],
                                 base_total, budget_minutes, catalogue)
        target_doc = None
        if target is not None:
            totals = {k: base_total + float(bundle_gain[k].sum()) for k in mine}
            reaching = [k for k in mine if totals[k] >= target]
            best_total = max([base_total, *totals.values()])
            if base_total >= target:
                target_doc = TargetPlan(target=target, reachable=True, plan=None,
                                        best_total=round(best_total, 2))
            elif reaching:
                k = min(reaching, key=lambda k: (bundles[k].effort, -totals[k]))
                target_doc = TargetPlan(
                    target=target, reachable=True,
                    plan=_plan_doc(bundles[k], bundle_gain[k], bundle_changes[k], base_total,
                                   None, catalogue),
                    best_total=round(best_total, 2))
            else:
                target_doc = TargetPlan(target=target, reachable=False, plan=None,
                                        best_total=round(best_total, 2))

        pred = predictions[i]
        context = {c: (None if table[c][i] is None or (isinstance(table[c][i], float)
                                                       and np.isnan(table[c][i]))
                       else str(table[c][i]))
                   for c in CONTRACT.context_categories}
        docs.append(Explanation(
            member_id=str(pred["member_id"]),
            model=info,
            lang=lang,
            context=context,
            prediction=Prediction(**{c: pred[c] for c in Prediction.model_fields}),
            peers=_peers_doc(estimator, keys[i]),
            unknown=[c for c in CONTRACT.input_columns
                     if c not in ("member_id", "snapshot_date") and _unknown(table[c][i])],
            drivers=drivers[i],
            levers=levers,
            plan=plan,
            target=target_doc,
            tips=[Tip(id=t.id, pillar=t.pillar, text=t.text[lang])
                  for t in catalogue.tips],
            caveat=catalogue.caveat[lang],
        ))
    return docs


def _unknown(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
