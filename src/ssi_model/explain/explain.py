"""Drivers, levers and plans for each member: what would raise each pillar most.

This module orchestrates; each job lives in its own module:
- ``drivers``: SHAP contributions of the member minus those of a peer profile, rolled up to the
  contract columns. They say why a pillar is where it is.
- ``variants``: catalogue levers applied to the member's row; a lever's gain is the model's
  prediction after the change minus before, per pillar and for the total (never a SHAP value).
- ``plans``: bundles of up to three levers re-scored jointly, the most gain within a weekly time
  budget and the least-effort plan reaching a target.
- ``document``: the results as one ``Explanation`` per member.
Everything is batched: per chunk of ``CHUNK_MEMBERS`` members, one pass of the boosters for the
members, their peer profiles and every lever variant (SHAP values beside it, on another thread),
and one per bundle size for the bundles. Each member's document depends on its own row only, so
the chunks change neither a document nor their order; they bound memory and let a long run
report progress (``ssi_model.progress``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from ssi_model.batch import ProfileBatch, as_batch
from ssi_model.contract import languages
from ssi_model.explain import document, plans
from ssi_model.explain.catalogue import Catalogue, load_catalogue
from ssi_model.explain.drivers import peer_table, pillar_drivers
from ssi_model.explain.schema import Explanation, ModelInfo
from ssi_model.explain.variants import lever_variants
from ssi_model.model.estimator import SSIEstimator
from ssi_model.progress import task

# Large enough that the boosters' per-call overhead is negligible, small enough that a chunk's
# variants and bundles stay in a few hundred MB and progress moves every second or so.
CHUNK_MEMBERS = 256


_POOL: tuple[int, ThreadPoolExecutor] | None = None


def _background() -> ThreadPoolExecutor:
    """The threads that compute SHAP values beside explanations, one pool per process (a forked
    worker, as Spark's Python workers are, makes its own: threads do not survive a fork). More
    threads than cores, so that one member's SHAP values (the API explaining a form) never wait
    in line behind a batch's (a chunk of 256 members takes about half a second)."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=4, thread_name_prefix="ssi-shap"))
    return _POOL[1]


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
    info = model_info or ModelInfo.of(estimator.meta, name="ssi-estimator")
    docs: list[Explanation] = []
    with task("explain", total=n, unit="members") as bar:
        for start in range(0, n, CHUNK_MEMBERS):
            chunk = table.take(np.arange(start, min(start + CHUNK_MEMBERS, n)))
            docs += _explain_chunk(estimator, chunk, budget_minutes=budget_minutes,
                                   target=target, lang=lang, model_info=info,
                                   catalogue=catalogue, top_drivers=top_drivers)
            bar.advance(len(chunk))
    return docs


def _explain_chunk(
    estimator: SSIEstimator,
    table: ProfileBatch,
    *,
    budget_minutes: float | None,
    target: float | None,
    lang: str,
    model_info: ModelInfo,
    catalogue: Catalogue,
    top_drivers: int,
) -> list[Explanation]:
    n = len(table)
    keys = [estimator.peers.resolve(i, r) for i, r in
            zip(table["industry"], table["role_family"], strict=True)]
    peer = peer_table(estimator, table, keys)
    variants = lever_variants(table, catalogue)
    # One feature matrix and one pass of the four boosters for the members, their peer profiles
    # and every lever variant; SHAP values for the members and (unless remembered) the peers.
    x = estimator.builder.features(ProfileBatch.concat([table, peer, variants.rows]))
    # SHAP values, the dearest single part, are computed on a second thread while this one
    # scores the variants and builds the plans: LightGBM releases the GIL while it computes.
    contributions_job = _background().submit(estimator.member_contribution_arrays,
                                             x[:n], x[n:2 * n])
    # A variant's pillars whose features the lever leaves alone are the member's own.
    scored = estimator.predict_sharing(x, np.concatenate([np.full(2 * n, -1), variants.member]))
    base, peer_pred = scored[:n], scored[n:2 * n]
    gains = scored[2 * n:] - base[variants.member]
    budget = catalogue.default_budget_minutes if budget_minutes is None else budget_minutes
    bundles = plans.candidate_bundles(variants, gains, n, catalogue, catalogue.plan_candidates)
    scores = plans.score_bundles(estimator, variants, scored[2 * n:], x[2 * n:], base, bundles,
                                 catalogue)
    candidates = plans.valid_bundles_by_member(bundles, scores)
    contributions = contributions_job.result()
    drivers = pillar_drivers(estimator, table, peer, contributions, base, peer_pred, top_drivers)
    predictions = estimator.predictions(table, base).to_records()

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
            model=model_info,
            lang=lang,
            catalogue=catalogue,
        ))
    return docs
