"""Stored members explained: the one way every caller explains a member's latest snapshot.

``ssi report --from-store``, ``ssi explain --from-store`` (issued plans) and the API's member
report and cohort page all explain each member's latest snapshot on or before a date with one
model; :func:`explain_latest` does it once for them, optionally recording every document as
issued. :func:`last_plan` finds the plan a member was given before their latest snapshot, for
the report's "Your last plan".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from ssi_model.explain import explain_rows
from ssi_model.explain.schema import Explanation, ModelInfo
from ssi_model.model.estimator import SSIEstimator
from ssi_model.report.history import IssuedPlan
from ssi_model.store.repository import Coach, SnapshotStore, StoredSnapshot


@dataclass(frozen=True)
class Explained:
    """One member's snapshots (on or before the date, oldest first) and the document
    explaining the last of them."""

    snapshots: list[StoredSnapshot]
    document: Explanation

    @property
    def latest(self) -> StoredSnapshot:
        return self.snapshots[-1]


def member_snapshots(store: SnapshotStore, coach: Coach, members: Sequence[str] | None = None,
                     as_of: date | None = None) -> dict[str, list[StoredSnapshot]]:
    """Each member's snapshots on or before ``as_of`` (default: all), members without one left
    out; ``members`` defaults to every member the caller sees (an unknown or foreign one raises
    ``MemberNotFound``)."""
    every = (store.snapshots_by_member(coach) if members is None
             else {member: store.member_snapshots(member, coach) for member in members})
    out = {}
    for member, snapshots in every.items():
        snaps = [s for s in snapshots if as_of is None or s.snapshot_date <= as_of]
        if snaps:
            out[member] = snaps
    return out


def explain_latest(store: SnapshotStore, coach: Coach, estimator: SSIEstimator, info: ModelInfo,
                   *, members: Sequence[str] | None = None, as_of: date | None = None,
                   record: bool = False, budget_minutes: float | None = None,
                   target: float | None = None, lang: str = "en") -> list[Explained]:
    """Explain each member's latest snapshot on or before ``as_of`` with one model (the
    snapshot's contract inputs only); with ``record``, keep every document as issued with the
    model's name and version and the snapshot it explains."""
    snapshots = list(member_snapshots(store, coach, members, as_of).values())
    docs = explain_rows(estimator, [s[-1].inputs for s in snapshots],
                        budget_minutes=budget_minutes, target=target, lang=lang,
                        model_info=info)
    if record:
        version = str(info.version or info.run_id or "")
        store.record_explanations([(snaps[-1].id, doc.model_dump(mode="json"))
                                   for snaps, doc in zip(snapshots, docs, strict=True)],
                                  info.name, version, coach)
    return [Explained(s, d) for s, d in zip(snapshots, docs, strict=True)]


def last_plan(store: SnapshotStore, coach: Coach,
              snapshots: Sequence[StoredSnapshot]) -> IssuedPlan | None:
    """The plan last issued for one of the member's snapshots before the latest (the latest
    such snapshot; of several documents for it, the last issued), or None."""
    if not snapshots:
        return None
    latest = snapshots[-1]
    by_id = {s.id: s for s in snapshots if s.snapshot_date < latest.snapshot_date}
    issued = [i for i in store.issued_explanations(latest.member_id, coach)
              if i.snapshot_id in by_id and i.document.get("plan")]
    if not issued:
        return None
    last = max(issued, key=lambda i: (by_id[i.snapshot_id].snapshot_date, i.issued_at, i.id))
    snap = by_id[last.snapshot_id]
    return IssuedPlan(document=last.document, snapshot_date=snap.snapshot_date, row=snap.row,
                      model_name=last.model_name, model_version=last.model_version,
                      issued_at=last.issued_at)
