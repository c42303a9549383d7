"""The prediction API: ``create_app(settings)`` builds it, ``serve()`` runs it under uvicorn.

Routes: ``/health`` and ``/ready`` (open), and under ``/v1`` (``X-API-Key`` when ``SSI_API_KEY``
is set): ``GET /model``, ``POST /predict``, ``/explain``, ``/report`` and ``/linkedin-export``.
The snapshot store's routes (``POST /v1/snapshots``, ``GET /v1/members/{id}/snapshots``,
``DELETE /v1/members/{id}``) take a coach's key or the administrator's (``deps.CallerDep``), and
``/intake`` serves the intake page (the coach's key is a field of its form).
The champion is loaded during start-up and then watched (``model_holder``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI, status
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ssi_model.api import errors, responses
from ssi_model.api.deps import API_KEY_HEADER, STORE_PATHS, key_matches, require_api_key
from ssi_model.api.fast_path import FastPath
from ssi_model.api.model_holder import ModelHolder
from ssi_model.api.routes import (
    explain,
    export,
    health,
    history,
    intake,
    members,
    model,
    predict,
    snapshots,
)
from ssi_model.settings import Settings, get_settings
from ssi_model.tracking.registry import Registry
from ssi_model.tracking.store import quiet_mlflow

log = logging.getLogger("ssi_model.api")

V1 = "/v1"
STARTUP_WAIT_SECONDS = 60.0
"""How long start-up waits for the first load; a registry that does not answer by then leaves
the API up and not ready (``/ready`` says why) while the load goes on in the background."""


class ApiKeyMiddleware:
    """Refuses a /v1 request without the key before its body is read (401)."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.api_key and scope["type"] == "http" and (
            scope["path"] == V1 or scope["path"].startswith(V1 + "/")
        ) and not _store_path(scope["path"]) and not key_matches(
            self.api_key, Headers(scope=scope).get(API_KEY_HEADER)
        ):
            response = JSONResponse({"detail": "missing or invalid API key"},
                                    status_code=status.HTTP_401_UNAUTHORIZED,
                                    headers={"WWW-Authenticate": API_KEY_HEADER})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _store_path(path: str) -> bool:
    """Store routes take coaches' keys too: their dependency (``CallerDep``) checks the key."""
    return any(path == p or path.startswith(p + "/") for p in STORE_PATHS)


async def _open_store(app: FastAPI) -> None:
    """Open the snapshot store (``SSI_DATABASE_URL``, migrated to head) in a worker thread.

    A store that cannot be opened leaves the model routes serving; the store routes answer 503
    with the reason (the URL's password masked by SQLAlchemy's error text is not relied on: only
    the exception's type is kept).
    """
    from ssi_model.store import SnapshotStore

    try:
        # More connections than the default five: the store routes run in FastAPI's thread pool
        # (40 threads), and a waiting thread holds a request open.
        app.state.store = await asyncio.to_thread(SnapshotStore, pool_size=20, max_overflow=20)
    except Exception as exc:
        log.error("the snapshot store could not be opened (%s); store routes answer 503",
                  type(exc).__name__)
        app.state.store_error = f"it could not be opened ({type(exc).__name__})"


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    holder: ModelHolder = app.state.holder
    await _open_store(app)
    first = asyncio.ensure_future(holder.refresh_async())
    try:
        await asyncio.wait_for(asyncio.shield(first), STARTUP_WAIT_SECONDS)
    except TimeoutError:
        log.warning("the model registry has not answered in %.0f s; starting without a model",
                    STARTUP_WAIT_SECONDS)
    watcher = asyncio.create_task(holder.watch(), name="ssi-model-watch")
    try:
        yield
    finally:
        for task in (watcher, first):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.gather(watcher, first, return_exceptions=True)
        if app.state.store is not None:
            app.state.store.close()


class _App(FastAPI):
    """FastAPI with the fast path (``fast_path.FastPath``, when ``state.fast_path`` makes one)
    in front of its whole middleware stack, ServerErrorMiddleware included: a valid prediction
    request skips every layer, anything else goes through all of them."""

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        make = getattr(self.state, "fast_path", None)
        return stack if make is None else make(stack)


def create_app(settings: Settings | None = None, registry: Registry | None = None, *,
               fast_path: bool = True) -> FastAPI:
    """The API for these settings (default: from the environment, so
    ``uvicorn --factory ssi_model.api.app:create_app`` works too), serving the alias of
    ``registry`` (default: the settings' registry).

    ``fast_path=False`` leaves every /v1/predict and /v1/explain request to its FastAPI route
    (``ssi_model.api.fast_path``; the tests compare both ways: the answers are the same bytes).
    """
    settings = settings or get_settings()
    registry = registry or Registry(settings)
    api_key = settings.ssi_api_key or None
    app = _App(
        title="SSI estimator",
        version="1",
        summary="Estimates of LinkedIn's Social Selling Index, its pillars, and the levers that "
                "would raise them. Every figure is an estimate from a model, not LinkedIn's.",
        lifespan=lifespan,
        max_body_size=settings.ssi_max_body_bytes,
        # No OpenTelemetry from FastAPI: its logs would record validation failures with their
        # messages (a member's values), and its per-request check for a configured provider
        # (three environment lookups) costs more than validating a profile.
        telemetry={"tracing": False, "metrics": False, "logs": False,
                   "operation_spans": False},
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.holder = ModelHolder(settings, registry=registry)
    app.state.store = None  # opened in the lifespan
    app.state.store_error = None
    errors.install(app)
    if fast_path:
        app.state.fast_path = functools.partial(
            FastPath, holder=app.state.holder,
            routes={V1 + "/predict": predict.FAST, V1 + "/explain": explain.FAST},
            api_key=api_key, max_body_bytes=settings.ssi_max_body_bytes)
    app.add_middleware(ApiKeyMiddleware, api_key=api_key)

    v1: dict[str, Any] = {"prefix": V1, "dependencies": [Depends(require_api_key)]}
    app.include_router(health.router)
    app.include_router(model.router, **v1, responses=responses.V1)
    app.include_router(predict.router, **v1, responses={**responses.V1, **responses.WITH_BODY})
    app.include_router(explain.router, **v1, responses={**responses.V1, **responses.WITH_BODY})
    app.include_router(export.router, **v1, responses={**responses.V1, **responses.WITH_BODY},
                       max_body_size=settings.ssi_max_upload_bytes,
                       form_limits={"max_fields": 16, "max_files": 1, "max_part_size": 1024})
    store_routes: dict[str, Any] = {"prefix": V1, "responses": responses.V1}
    app.include_router(snapshots.router, **store_routes)
    app.include_router(members.router, **store_routes)
    app.include_router(history.router, **store_routes)
    app.include_router(intake.router, max_body_size=settings.ssi_max_upload_bytes)
    return app


def serve(host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "info") -> None:
    """Run the API under uvicorn, one worker (the model is held in this process's memory)."""
    import uvicorn

    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_mlflow()  # a server log is no terminal: no download progress bars
    # httptools and uvloop (uvicorn[standard], locked) rather than h11 and asyncio's own loop:
    # about a millisecond less per request, most of what a single-profile prediction costs.
    # No access log: a line per request costs more than a prediction (and names no member).
    uvicorn.run(create_app(get_settings()), host=host, port=port, workers=1, http="httptools",
                loop="uvloop", log_level=log_level, proxy_headers=False, server_header=False,
                access_log=False)
