"""Dependencies injected into the routes: settings, the registry, the model holder, the served
model, the key.

All ``async``: each is a few attribute reads, and FastAPI would run a plain ``def`` dependency in
the thread pool, a hop that costs more than the whole prediction.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from ssi_model.api.model_holder import ModelHolder, ServedModel
from ssi_model.settings import Settings
from ssi_model.tracking.registry import Registry

API_KEY_HEADER = "X-API-Key"

api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False,
    description="Required on /v1 when the server sets SSI_API_KEY")


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_registry(request: Request) -> Registry:
    """The registry the app was built with (its model name and alias are the served ones)."""
    registry: Registry = request.app.state.registry
    return registry


async def get_holder(request: Request) -> ModelHolder:
    holder: ModelHolder = request.app.state.holder
    return holder


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]


def key_matches(expected: str | None, provided: str | None) -> bool:
    """True when no key is configured, or the provided one matches (constant time)."""
    if not expected:
        return True
    if provided is None:
        return False
    return hmac.compare_digest(provided.encode("utf-8"), expected.encode("utf-8"))


async def require_api_key(
    settings: SettingsDep, provided: Annotated[str | None, Security(api_key_header)]
) -> None:
    """The /v1 routes' guard (the app's middleware applies the same check before the body is
    read; this one documents the scheme in OpenAPI and protects the routes on their own)."""
    if not key_matches(settings.ssi_api_key, provided):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid API key",
                            headers={"WWW-Authenticate": API_KEY_HEADER})


async def get_served_model(holder: HolderDep) -> ServedModel:
    """The model answering this request (one read of the reference: a swap mid-request is
    invisible), or 503 with what to do."""
    served = holder.current
    if served is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            holder.view.reason or "no model is loaded")
    return served


ServedModelDep = Annotated[ServedModel, Depends(get_served_model)]
