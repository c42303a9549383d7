"""Dependencies injected into the routes: settings, the registry, the model holder, the served
model, the key, the snapshot store and the authenticated caller (coach or administrator).

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
from ssi_model.store import ADMIN, Coach, SnapshotStore
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


# -- the snapshot store and who is calling -----------------------------------------------------
# The store routes (snapshots, members; the lead's report history and cohort too) take coaches'
# keys as well as the administrator's, so the app's admin-key middleware leaves their paths to
# ``get_caller`` (see ``STORE_PATHS``).

STORE_PATHS = ("/v1/snapshots", "/v1/members", "/v1/cohort")
"""Path prefixes whose routes authenticate through ``CallerDep`` (coach or administrator)."""


async def get_store(request: Request) -> SnapshotStore:
    """The app's snapshot store (opened in the lifespan), or 503 saying why it is not."""
    store: SnapshotStore | None = getattr(request.app.state, "store", None)
    if store is None:
        reason = getattr(request.app.state, "store_error", None) or "the store is not open"
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"the snapshot store is unavailable: {reason}")
    return store


StoreDep = Annotated[SnapshotStore, Depends(get_store)]


def authenticate_caller(store: SnapshotStore, settings: Settings,
                        provided: str | None) -> Coach | None:
    """The coach or ``ADMIN`` this key belongs to; None when it is no valid key.

    With no auth configured at all (no ``SSI_API_KEY`` and no coach ever added) the store is as
    open as the model routes are then: every caller is the administrator. Once any coach exists
    (even a revoked one), a key is required.
    """
    caller = store.authenticate(provided, admin_key=settings.ssi_api_key or None)
    if caller is not None:
        return caller
    if not settings.ssi_api_key and not store.coaches():
        return ADMIN
    return None


def get_caller(
    store: StoreDep, settings: SettingsDep,
    provided: Annotated[str | None, Security(api_key_header)],
) -> Coach:
    """The authenticated caller of a store route (401 without a valid key).

    A plain ``def``: the key lookup is a database query, so FastAPI runs it in the thread pool.
    """
    caller = authenticate_caller(store, settings, provided)
    if caller is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid API key",
                            headers={"WWW-Authenticate": API_KEY_HEADER})
    return caller


CallerDep = Annotated[Coach, Depends(get_caller)]


async def get_optional_model(holder: HolderDep) -> ServedModel | None:
    """The served model, or None when none is loaded (store reads answer without estimates)."""
    return holder.current


OptionalModelDep = Annotated[ServedModel | None, Depends(get_optional_model)]
