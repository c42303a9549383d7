"""POST /v1/linkedin-export: a member's LinkedIn data export ZIP → contract row and prediction.

The archive is untrusted: the upload is bounded (``SSI_MAX_UPLOAD_BYTES``, on the stream), read in
memory by the export reader (never extracted), and any problem with it is a 422 naming the file
and line without quoting its data. Only counts and lengths leave it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from ssi_model.api.deps import ServedModelDep, SettingsDep
from ssi_model.api.routes.predict import model_ref
from ssi_model.api.schemas import MEMBER_ID_MAX_CHARS, ExportResponse, Profile
from ssi_model.api.scoring import predict_records
from ssi_model.contract import CONTRACT
from ssi_model.linkedin_export import ArchiveLimits, ExportError, read_export

router = APIRouter(tags=["linkedin-export"])


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
    response_model=ExportResponse,
    summary="Read a LinkedIn data export ZIP: the contract row, what is unknown, the prediction",
)
async def linkedin_export(
    settings: SettingsDep,
    served: ServedModelDep,
    file: Annotated[UploadFile, File(description="The export ZIP (\"Get a copy of your data\")")],
    member_id: Annotated[str | None, Form(
        min_length=1, max_length=MEMBER_ID_MAX_CHARS, pattern=r"^[^@]+$",
        description="Pseudonymous id for the row (default: a salted hash from the export)")]
        = None,
    industry: Annotated[str | None, _choice("industry")] = None,
    role_family: Annotated[str | None, _choice("role_family")] = None,
    seniority: Annotated[str | None, _choice("seniority")] = None,
    region: Annotated[str | None, _choice("region")] = None,
    subscription: Annotated[str | None, _choice("subscription")] = None,
) -> ExportResponse:
    data = await file.read()
    overrides = {k: v for k, v in (("industry", industry), ("role_family", role_family),
                                   ("seniority", seniority), ("region", region),
                                   ("subscription", subscription)) if v is not None}
    limits = ArchiveLimits(max_archive_bytes=settings.ssi_max_upload_bytes)
    try:
        export = await run_in_threadpool(
            read_export, data, filename=file.filename, overrides=overrides,
            member_id=member_id, limits=limits)
    except ExportError as exc:
        raise _problem(str(exc)) from None
    try:
        profile = Profile.model_validate(CONTRACT.to_records(export.row)[0])
    except ValidationError as exc:  # the reader keeps the contract; this is a safety net
        first = exc.errors(include_url=False)[0]
        raise _problem(f"the export gave a value outside the contract: {first['msg']}") from None
    prediction = predict_records(served.estimator, [profile.model_dump()])[0]
    return ExportResponse(
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
    )

