"""Issued plans in the snapshot store: recording them, exporting them, following them up.

``issue_plans`` explains each member's latest snapshot (on or before a date) and records every
document as issued; ``export_plans`` lists them with the snapshot's date and the model version;
``followups_from_store`` pairs each issued plan with the member's next snapshot for
``ssi_model.explain.advice.evaluate_advice``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from ssi_model.explain.advice import OUTCOMES, FollowUps, plan_levers, rescore_plans
from ssi_model.explain.schema import Explanation, ModelInfo
from ssi_model.model.estimator import SSIEstimator
from ssi_model.store.explained import explain_latest
from ssi_model.store.repository import (
    Coach,
    IssuedExplanation,
    SnapshotStore,
    StoredSnapshot,
    snapshots_frame,
)


def issue_plans(store: SnapshotStore, estimator: SSIEstimator, info: ModelInfo, coach: Coach,
                *, as_of: date | None = None, budget_minutes: float | None = None,
                target: float | None = None, lang: str = "en") -> list[Explanation]:
    """Explain each member's latest snapshot on or before ``as_of`` and record the documents
    as issued (model name and version, the snapshot explained)."""
    return [e.document for e in explain_latest(store, coach, estimator, info, as_of=as_of,
                                               record=True, budget_minutes=budget_minutes,
                                               target=target, lang=lang)]


def _issued(store: SnapshotStore, coach: Coach
            ) -> list[tuple[IssuedExplanation, StoredSnapshot, list[StoredSnapshot]]]:
    """Every issued document with the snapshot it explains and all the member's snapshots."""
    snapshots = store.snapshots_by_member(coach)
    out = []
    for member, documents in store.issued_by_member(coach).items():
        snaps = snapshots.get(member, [])
        by_id = {s.id: s for s in snaps}
        for issued in documents:
            if issued.snapshot_id in by_id:
                out.append((issued, by_id[issued.snapshot_id], snaps))
    return out


def export_plans(store: SnapshotStore, coach: Coach) -> list[dict[str, Any]]:
    """Every issued document (the explanation schema) plus ``snapshot_date``, ``model_name``,
    ``model_version`` and ``issued_at``, oldest first per member."""
    return [{**issued.document, "snapshot_date": snap.snapshot_date.isoformat(),
             "model_name": issued.model_name, "model_version": issued.model_version,
             "issued_at": issued.issued_at.isoformat()}
            for issued, snap, _ in _issued(store, coach)]


def followups_from_store(store: SnapshotStore, coach: Coach) -> FollowUps:
    """Each issued plan with the member's next snapshot after the one it explained. When a
    snapshot was explained more than once, the last document issued for it is the plan."""
    last: dict[int, tuple[IssuedExplanation, StoredSnapshot, list[StoredSnapshot]]] = {}
    for issued, snap, snaps in _issued(store, coach):
        if issued.document.get("plan"):
            last[snap.id] = (issued, snap, snaps)
    before: list[StoredSnapshot] = []
    after: list[StoredSnapshot] = []
    plans: list[dict[str, dict[str, Any]]] = []
    gains: list[list[float]] = []
    effort: list[float] = []
    versions: list[str | None] = []
    for issued, snap, snaps in last.values():
        later = [s for s in snaps if s.snapshot_date > snap.snapshot_date]
        if not later:
            continue
        doc = issued.document
        plan = doc["plan"]
        plans.append(plan_levers(doc))
        gains.append([float(plan["gain"][o]) for o in OUTCOMES])
        effort.append(float(plan.get("effort_minutes_per_week") or np.nan))
        versions.append(issued.model_version)
        before.append(snap)
        after.append(later[0])
    return FollowUps(before=_frame(before), after=_frame(after), plans=plans,
                     predicted=pd.DataFrame(np.array(gains).reshape(-1, len(OUTCOMES)),
                                            columns=list(OUTCOMES)),
                     effort=np.array(effort, dtype=float), model_versions=versions)


def _frame(snapshots: Sequence[StoredSnapshot]) -> pd.DataFrame:
    return snapshots_frame(snapshots).reset_index(drop=True)


def plans_after_retraining(store: SnapshotStore, estimator: SSIEstimator, version: str,
                           coach: Coach) -> dict[str, Any]:
    """Plans issued under a model version other than ``version``, re-scored with ``estimator``
    (``explain.advice.rescore_plans``), plus the versions they were issued under."""
    issued = [(i.document, snap.row, i.model_version) for i, snap, _ in _issued(store, coach)
              if i.model_version != str(version)]
    out = rescore_plans(estimator, [(doc, row) for doc, row, _ in issued])
    out["issued_under"] = sorted({v for _, _, v in issued})
    out["rescored_with"] = str(version)
    return out
