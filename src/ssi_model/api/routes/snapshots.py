"""POST /v1/snapshots: contract rows (labels included where known) into the snapshot store.

Each row is validated by the contract inside the store: valid rows are stored, invalid ones kept
in quarantine with every reason. Idempotent per (``member_id``, ``snapshot_date``): the same row
again is ``unchanged``; a different row for a stored key refuses the whole call with 409 naming the
columns that differ, unless ``?replace=true``. Nothing is written by a refused call.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ssi_model.api.deps import CallerDep, StoreDep
from ssi_model.api.responses import WITH_BODY
from ssi_model.api.schemas import MAX_PROFILES

router = APIRouter(tags=["snapshots"])


class SnapshotsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Rows stay plain JSON objects here: an invalid row must reach the contract's validation
    # (and the quarantine, with its reasons) rather than fail the whole request with 422.
    snapshots: list[dict[str, Any]] = Field(
        min_length=1, max_length=MAX_PROFILES,
        description=f"1 to {MAX_PROFILES} contract rows: `member_id` and `snapshot_date` "
                    "required, labels (the SSI dashboard's figures) where known; JSON booleans "
                    "and numbers, null or absent for unknown")


class Refusal(BaseModel):
    index: int = Field(description="0-based position of the row in the request")
    reasons: list[str] = Field(description="Every contract rule the row broke")


class SnapshotsResponse(BaseModel):
    stored: int = Field(description="Rows stored (new ones plus replaced ones)")
    unchanged: int = Field(description="Rows already stored exactly so")
    replaced: int = Field(description="Stored rows replaced (only with ?replace=true)")
    quarantined: list[Refusal] = Field(description="Invalid rows, kept in quarantine")
    ignored_columns: list[str] = Field(description="Keys outside the contract (never stored)")


class ConflictDoc(BaseModel):
    index: int
    member_id: str
    snapshot_date: str
    columns: list[str] = Field(description="The contract columns whose values differ")


class Conflicts(BaseModel):
    conflicts: list[ConflictDoc]


class ConflictProblem(BaseModel):
    detail: Conflicts


@router.post(
    "/snapshots",
    response_model=SnapshotsResponse,
    summary="Store snapshots of members: valid rows stored, invalid ones quarantined",
    responses={
        status.HTTP_409_CONFLICT: {
            "model": ConflictProblem,
            "description": "A row differs from the one stored for its member and date; nothing "
                           "was stored. `detail.conflicts` names the columns per row."},
        **{code: r for code, r in WITH_BODY.items() if code != status.HTTP_503_SERVICE_UNAVAILABLE},
    },
)
def post_snapshots(
    body: SnapshotsRequest,
    store: StoreDep,
    caller: CallerDep,
    replace: Annotated[bool, Query(description="Replace a stored row that differs")] = False,
    consent: Annotated[Literal["coaching", "training"], Query(
        description="What the members agreed to: `coaching` (their coach's reports) or "
                    "`training` (also used to train models)")] = "coaching",
) -> SnapshotsResponse | JSONResponse:
    # def: the store's SQLAlchemy session is synchronous; FastAPI runs this in its thread pool.
    # Every row names the key columns, even as null: a row of only unknown keys (``{}``) would
    # otherwise vanish from the frame the store builds instead of being quarantined.
    rows = [{"member_id": None, "snapshot_date": None, **r} for r in body.snapshots]
    result = store.add_snapshots(rows, caller, replace=replace, consent=consent)
    if not result.written:
        # A JSONResponse, not HTTPException: the app's handler flattens a non-string detail.
        return JSONResponse({"detail": {"conflicts": [
            {"index": c.index, "member_id": c.member_id,
             "snapshot_date": c.snapshot_date.isoformat(), "columns": list(c.columns)}
            for c in result.conflicts]}}, status_code=status.HTTP_409_CONFLICT)
    return SnapshotsResponse(
        stored=result.stored, unchanged=result.unchanged, replaced=result.replaced,
        quarantined=[Refusal(index=r.index, reasons=list(r.reasons))
                     for r in result.quarantined],
        ignored_columns=list(result.ignored_columns))
