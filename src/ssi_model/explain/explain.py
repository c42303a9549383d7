"""Drivers, levers and plans for each member: what would raise each pillar most.

This module orchestrates; each job lives in its own module:
- ``drivers``: SHAP contributions of the member minus those of a peer profile, rolled up to the
  contract columns. They say why a pillar is where it is.
- ``variants``: catalogue levers applied to the member's row; a lever's gain is the model's
  prediction after the change minus before, per pillar and for the total (never a SHAP value).
- ``plans``: bundles of up to three levers re-scored jointly, the most gain within a weekly time
  budget and the least-effort plan reaching a target.
- ``document``: the results as one ``Explanation`` per member.
Everything is batched: one pass of the boosters for the members, their peer profiles and every
lever variant, and one for all bundles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ssi_model.batch import ProfileBatch, as_batch
from ssi_model.contract import languages
from ssi_model.explain import document, plans
from ssi_model.explain.catalogue import Catalogue, load_catalogue
from ssi_model.explain.drivers import peer_table, pillar_drivers
from ssi_model.explain.schema import Explanation, ModelInfo
from ssi_model.explain.variants import lever_variants
from ssi_model.model.estimator import SSIEstimator


def explain_rows(
    estimator: SSIEstimator,
    rows: pd.DataFrame | Sequence[Mapping[str, Any]] | ProfileBatch,
    *,
    budget_minutes: float | None = None,
    target: float | None = None,
    lang: str = "en",
    model_info: ModelInfo | None = None,
    catalogue: Catalogue | None = None,
    top_drivers: int = 3,
) -> list[Explanation]:
    """One explanation document per row of (validated) contract rows: a frame, records or a
    batch."""
    catalogue = catalogue or load_catalogue()
    if lang not in languages():
        raise ValueError(f"lang must be one of {', '.join(languages())}, not {lang!r}")
    table = as_batch(rows)
    n = len(table)
    if n == 0:
        return []
    keys = [estimator.peers.resolve(i, r) for i, r in
            zip(table["industry"], table["role_family"], strict=True)]
    peer = peer_table(estimator, table, keys)
    variants = lever_variants(table, catalogue)
    # One feature matrix and one pass of the four boosters for the members, their peer profiles
    # and every lever variant; SHAP values for the members and peers only.
    x = estimator.builder.features(ProfileBatch.concat([table, peer, variants.rows]))
    scored = estimator.predict_matrix(x)
    base, peer_pred = scored[:n], scored[n:2 * n]
    gains = scored[2 * n:] - base[variants.member]
    drivers = pillar_drivers(estimator, table, peer, estimator.contribution_arrays(x[:2 * n]),
                             base, peer_pred, top_drivers)
    predictions = estimator.predictions(table, base).to_records()

    budget = catalogue.default_budget_minutes if budget_minutes is None else budget_minutes
    bundles = plans.candidate_bundles(variants, gains, n, catalogue, catalogue.plan_candidates)
    scores = plans.score_bundles(estimator, table, base, bundles, catalogue)
    candidates = plans.valid_bundles_by_member(bundles, scores)

    info = model_info or ModelInfo(name="ssi-estimator", run_id=estimator.meta.get("run_id"),
                                   trained_at=estimator.meta.get("trained_at"))
    docs = []
    for i in range(n):
        mine = candidates.get(i, [])
        base_total = float(base[i].sum())
        best = plans.best_in_budget(bundles, scores, mine, budget)
        target_plan = None
        if target is not None:
            search = plans.least_effort_to_target(bundles, scores, mine, base_total, target)
            target_plan = document.target_doc(bundles, scores, search, base_total, target,
                                              catalogue)
        docs.append(document.explanation(
            table=table,
            member=i,
            prediction=predictions[i],
            peers=document.peers_doc(estimator, keys[i]),
            drivers=drivers[i],
            levers=document.lever_docs(variants, gains, i, catalogue, lang),
            plan=document.budget_plan_doc(bundles, scores, best, base_total, budget_minutes,
                                          catalogue),
            target=target_plan,
            model=info,
            lang=lang,
            catalogue=catalogue,
        ))
    return docs
