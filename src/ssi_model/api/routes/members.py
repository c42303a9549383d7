"""A member's history and its erasure: GET /v1/members/{id}/snapshots, DELETE /v1/members/{id}.

A member the caller cannot see (another coach's, or none at all) is 404 on every path and
method, the same answer for both, so a coach's key cannot tell whether another coach's member
exists.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field

from ssi_model.api.deps import CallerDep, OptionalModelDep, StoreDep
from ssi_model.api.model_holder import ServedModel
from ssi_model.api.responses import Responses
from ssi_model.api.routes.predict import model_ref
from ssi_model.api.schemas import MEMBER_ID_MAX_CHARS, ModelRef, Profile
from ssi_model.contract import CONTRACT
from ssi_model.store import MemberNotFound, StoredSnapshot

router = APIRouter(tags=["members"])

MemberId = Annotated[str, Path(min_length=1, max_length=MEMBER_ID_MAX_CHARS,
                               description="The member's pseudonymous id")]
_NOT_FOUND: Responses = {status.HTTP_404_NOT_FOUND: {
    "description": "No such member, or not one of the caller's (the same answer)"}}
# What the member reported from LinkedIn's SSI dashboard, apart from the inputs.
REPORTED = [c for c in CONTRACT.names if CONTRACT[c].is_label] + ["reported_on", "source"]


class SnapshotDoc(BaseModel):
    snapshot_date: str
    row: dict[str, Any] = Field(description="The contract row as stored (unknown cells absent)")
    reported: dict[str, Any] = Field(
        description="The figures the member reported (SSI dashboard), null where not reported")
    estimate: dict[str, Any] | None = Field(
        description="The served champion's estimate for the row's inputs (the prediction "
                    "columns); null when no model is loaded")
    consent: str
    received_at: str


class MemberSnapshots(BaseModel):
    member_id: str
    model: ModelRef | None = Field(description="The model behind the estimates, if any")
    snapshots: list[SnapshotDoc] = Field(description="Ordered by snapshot_date")


class ErasureDoc(BaseModel):
    member_id: str
    snapshots: int = Field(description="Snapshots deleted")
    quarantined: int = Field(description="Quarantined submissions deleted")
    explanations: int = Field(description="Issued explanations deleted")
    member: bool = Field(description="Whether the member's own record was deleted")


def not_found(exc: MemberNotFound) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))


def estimates(served: ServedModel | None,
              snapshots: list[StoredSnapshot]) -> list[dict[str, Any] | None]:
    """The champion's estimate per snapshot, in order (Nones without a model)."""
    if served is None or not snapshots:
        return [None] * len(snapshots)
    records = [Profile.model_validate(s.inputs).model_dump() for s in snapshots]
    return [*served.estimator.predict(records).to_records()]


@router.get(
    "/members/{member_id}/snapshots",
    response_model=MemberSnapshots,
    summary="A member's snapshots over time, with the reported figures and the estimate",
    responses=_NOT_FOUND,
)
def member_snapshots(member_id: MemberId, store: StoreDep, caller: CallerDep,
                     served: OptionalModelDep) -> MemberSnapshots:
    try:
        snapshots = store.member_snapshots(member_id, caller)
    except MemberNotFound as exc:
        raise not_found(exc) from None
    return MemberSnapshots(
        member_id=member_id,
        model=model_ref(served) if served is not None else None,
        snapshots=[SnapshotDoc(snapshot_date=s.snapshot_date.isoformat(), row=s.row,
                               reported={c: s.row.get(c) for c in REPORTED},
                               estimate=estimate, consent=s.consent,
                               received_at=s.received_at.isoformat())
                   for s, estimate in zip(snapshots, estimates(served, snapshots),
                                          strict=True)])


@router.delete(
    "/members/{member_id}",
    response_model=ErasureDoc,
    summary="Erase a member: every snapshot, quarantined submission and issued explanation",
    responses=_NOT_FOUND,
)
def erase_member(member_id: MemberId, store: StoreDep, caller: CallerDep) -> ErasureDoc:
    try:
        erasure = store.erase_member(member_id, caller)
    except MemberNotFound as exc:
        raise not_found(exc) from None
    return ErasureDoc(**erasure.as_dict())
