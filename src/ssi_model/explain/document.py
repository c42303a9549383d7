"""Document assembly: the scored drivers, levers and plans of one member as an ``Explanation``.

Nothing here scores or searches; it rounds, orders and words what ``explain.explain`` computed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ssi_model.batch import ProfileBatch
from ssi_model.contract import CONTRACT, PILLARS
from ssi_model.explain.catalogue import Catalogue
from ssi_model.explain.plans import Bundle, BundleScores, TargetSearch
from ssi_model.explain.schema import (
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
from ssi_model.explain.variants import MIN_GAIN, LeverVariants, Value
from ssi_model.model.estimator import SSIEstimator
from ssi_model.model.peers import ALL

CONTEXT_COLUMNS = CONTRACT.context_categories


def gain_doc(values: list[float], total: float) -> Gain:
    """The 4 pillar gains and their total (as numpy sums them), rounded."""
    v = [round(x, 2) for x in values]
    return Gain(brand=v[0], people=v[1], insights=v[2], relationships=v[3],
                total=round(total, 2))


def peers_doc(estimator: SSIEstimator, key: str) -> Peers:
    """The peer group a member was compared with: its level, size and pillar means."""
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


def plan_doc(bundle: Bundle, gain: np.ndarray, changes: dict[str, Value], base_total: float,
             budget: float | None, catalogue: Catalogue) -> Plan:
    return Plan(
        levers=[catalogue.levers[j].id for j in bundle.levers],
        changes=changes,
        gain=gain_doc(gain.tolist(), float(gain.sum())),
        effort_minutes_per_week=round(bundle.effort, 1),
        budget_minutes=budget,
        total_after=round(base_total + float(gain.sum()), 2),
    )


def lever_docs(variants: LeverVariants, gains: np.ndarray, member: int, catalogue: Catalogue,
               lang: str) -> list[Lever]:
    """The member's levers that gain more than noise, best first (ties: less effort, then id)."""
    levers = []
    rows = np.flatnonzero(variants.member == member)
    mine = gains[rows]
    for r, g, total in zip(rows.tolist(), mine.tolist(), mine.sum(axis=1).tolist(), strict=True):
        if total <= MIN_GAIN:
            continue  # a lever that gains nothing is left out
        spec = catalogue.levers[variants.lever[r]]
        levers.append(Lever(
            id=spec.id,
            pillar=spec.pillar,
            pillars=list(spec.pillars),
            changes=variants.changes[r],
            gain=gain_doc(g, total),
            effort_minutes_per_week=round(spec.effort_per_week(catalogue.window_weeks), 1),
            one_off=spec.one_off,
            text=spec.text[lang],
        ))
    levers.sort(key=lambda lv: (-lv.gain.total, lv.effort_minutes_per_week, lv.id))
    return levers


def budget_plan_doc(bundles: list[Bundle], scores: BundleScores, best: int | None,
                    base_total: float, budget_minutes: float | None,
                    catalogue: Catalogue) -> Plan | None:
    if best is None:
        return None
    return plan_doc(bundles[best], scores.gain[best],
                    scores.changes(best, bundles[best], catalogue), base_total, budget_minutes,
                    catalogue)


def target_doc(bundles: list[Bundle], scores: BundleScores, search: TargetSearch,
               base_total: float, target: float, catalogue: Catalogue) -> TargetPlan:
    k = search.bundle
    plan = (None if k is None else
            plan_doc(bundles[k], scores.gain[k], scores.changes(k, bundles[k], catalogue),
                     base_total, None, catalogue))
    return TargetPlan(target=target, reachable=search.reachable, plan=plan,
                      best_total=round(search.best_total, 2))


def _unknown(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def explanation(
    *,
    table: ProfileBatch,
    member: int,
    prediction: dict[str, Any],
    peers: Peers,
    drivers: dict[str, PillarDrivers],
    levers: list[Lever],
    plan: Plan | None,
    target: TargetPlan | None,
    model: ModelInfo,
    lang: str,
    catalogue: Catalogue,
) -> Explanation:
    """One member's document: context, prediction, peers, drivers, levers, plans, tips."""
    i = member
    context = {c: None if _unknown(table[c][i]) else str(table[c][i]) for c in CONTEXT_COLUMNS}
    return Explanation(
        member_id=str(prediction["member_id"]),
        model=model,
        lang=lang,
        context=context,
        prediction=Prediction(**{c: prediction[c] for c in Prediction.model_fields}),
        peers=peers,
        unknown=[c for c in CONTRACT.input_columns
                 if c not in ("member_id", "snapshot_date") and _unknown(table[c][i])],
        drivers=drivers,
        levers=levers,
        plan=plan,
        target=target,
        tips=[Tip(id=t.id, pillar=t.pillar, text=t.text[lang]) for t in catalogue.tips],
        caveat=catalogue.caveat[lang],
    )


def translate(doc: Explanation, lang: str, catalogue: Catalogue) -> Explanation:
    """The same explanation with the catalogue's texts (levers, tips, caveat) in ``lang``.

    Numbers, drivers and plans stay as they are: only the wording depends on the language.
    """
    if doc.lang == lang:
        return doc
    levers = [lv.model_copy(update={"text": catalogue[lv.id].text[lang]}) for lv in doc.levers]
    tips = {t.id: t for t in catalogue.tips}
    return doc.model_copy(update={
        "lang": lang,
        "levers": levers,
        "tips": [t.model_copy(update={"text": tips[t.id].text[lang]}) if t.id in tips else t
                 for t in doc.tips],
        "caveat": catalogue.caveat[lang],
    })
