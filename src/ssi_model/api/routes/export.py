"""POST /v1/linkedin-export: a member's LinkedIn data export ZIP → contract row and prediction.

The archive is untrusted: the upload is bounded (``SSI_MAX_UPLOAD_BYTES``, on the stream), read in
memory by the export reader (never extracted), and any problem with it is a 422 naming the file
and line without quoting its data. A single file that cannot be read does not refuse the upload:
the columns computed from it are unknown, and ``provenance`` says so, per contract column, with
the reason (the same account ``ssi ingest-export`` prints). Only counts and lengths leave it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ssi_model.api.deps import ServedModelDep, SettingsDep
from ssi_model.api.routes.predict import model_ref
from ssi_model.api.schemas import MEMBER_ID_MAX_CHARS, ExportResponse, Profile
from ssi_model.contract import CONTRACT
from ssi_model.linkedin_export import ArchiveLimits, ColumnSource, ExportError, read_export

router = APIRouter(tags=["linkedin-export"])


class ColumnProvenanceDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    column: str
    status: ColumnSource = Field(description="from_archive, derived, overridden, "
                                             "empty_by_export_kind (file absent and the export's "
                                             "kind proves the section empty), "
                                             "unknown_file_absent, unknown_file_unreadable, or "
                                             "unknown (an export does not tell it)")
    files: list[str] = Field(description="The export files involved (canonical names)")
    reason: str | None = Field(description="How it was derived, or why it is empty or unknown")


class ExportProvenanceResponse(ExportResponse):
    provenance: list[ColumnProvenanceDoc] = Field(
        description="Every contract input column, in contract order: where its value came from, "
                    "or why it is unknown")
    unreadable_files: dict[str, str] = Field(
        description="Export files that could not be read, and why (their columns are unknown)")


def _choice(column: str) -> Any:
    """An optional form field setting a context category the export may not tell (or get
    wrong), restricted to the contract's values."""
    values = CONTRACT[column].values
    return Form(description=f"Sets {column}: one of {', '.join(values)}",
                pattern="^(" + "|".join(values) + ")$")


def _problem(message: str) -> RequestValidationError:
    return RequestValidationError([{"type": "linkedin_export", "loc": ("body", "file"),
                                    "msg": message, "input": None}])


@router.post(
    "/linkedin-export",
    response_model=ExportProvenanceResponse,
    summary="Read a LinkedIn data export ZIP: the contract row, what is unknown, the prediction",
)
async def linkedin_export(
    settings: SettingsDep,
    served: ServedModelDep,
    file: Annotated[UploadFile, File(description="The export ZIP (\"Get a copy of your data\")")],
    member_id: Annotated[str | None, Form(
        min_length=1, max_length=MEMBER_ID_MAX_CHARS, pattern=r"^[^@]+$",
        description="Pseudonymous id for the row (default: a keyed hash, HMAC with the "
                    "installation's secret, of the member's profile URL or name)")]
        = None,
    industry: Annotated[str | None, _choice("industry")] = None,
    role_family: Annotated[str | None, _choice("role_family")] = None,
    seniority: Annotated[str | None, _choice("seniority")] = None,
    region: Annotated[str | None, _choice("region")] = None,
    subscription: Annotated[str | None, _choice("subscription")] = None,
) -> ExportProvenanceResponse:
    data = await file.read()
    overrides = {k: v for k, v in (("industry", industry), ("role_family", role_family),
                                   ("seniority", seniority), ("region", region),
                                   ("subscription", subscription)) if v is not None}
    limits = ArchiveLimits(max_archive_bytes=settings.ssi_max_upload_bytes)
    try:
        export = await run_in_threadpool(
            read_export, data, filename=file.filename, overrides=overrides,
            member_id=member_id, limits=limits, secret_file=settings.ssi_secret_file)
    except ExportError as exc:
        raise _problem(str(exc)) from None
    try:
        profile = Profile.model_validate(CONTRACT.to_records(export.row)[0])
    except ValidationError as exc:  # the reader keeps the contract; this is a safety net
        first = exc.errors(include_url=False)[0]
        raise _problem(f"the export gave a value outside the contract: {first['msg']}") from None
    (prediction,) = served.estimator.predict([profile.model_dump()]).to_records()
    return ExportProvenanceResponse(
        row=profile,
        unknown=[c for c in export.unknown if c != "snapshot_date"],
        from_archive=export.from_archive,
        derived=export.derived,
        warnings=export.warnings,
        archive_kind=export.archive_kind,
        export_date=export.export_date,
        window_start=export.window_start,
        window_end=export.window_end,
        model=model_ref(served),
        prediction=prediction,
        provenance=[ColumnProvenanceDoc.model_validate(r) for r in export.provenance_records()],
        unreadable_files=export.unreadable_files,
    )

