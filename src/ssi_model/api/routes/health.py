"""Liveness and readiness (no API key: orchestrators probe these)."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from ssi_model.api.deps import HolderDep
from ssi_model.api.schemas import Health, NotReady, Ready

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="The process is alive")
async def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Ready,
    summary="A model is loaded and answering",
    responses={status.HTTP_503_SERVICE_UNAVAILABLE: {
        "model": NotReady, "description": "No model is served; the reason says what to do"}},
)
async def ready(holder: HolderDep) -> Ready | JSONResponse:
    served = holder.current
    if served is None:
        reason = holder.view.reason or "no model is loaded"
        return JSONResponse(NotReady(status="not_ready", reason=reason).model_dump(),
                            status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return Ready(status="ready", model=served.ref)
