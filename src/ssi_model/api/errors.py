"""Error responses: a client error says what to fix; an unexpected error says nothing inside.

* request validation → 422 ``{"detail": [{"loc", "msg", "type", "ctx"}]}``: the field's path and
  the rule broken (the input itself is not echoed back: it may be personal, or megabytes);
* too many profiles in a list → 413, like a body over the size limit;
* ``HTTPException`` → its status with ``{"detail": "..."}``;
* anything else → a logged 500 with an incident id and no internals.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("ssi_model.api")

# Lists whose length is bounded by a limit on the work: exceeding it is "too large", not invalid.
_BATCH_LISTS = {("body", "profiles")}


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return str(value)


def _problem(error: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "loc": [p if isinstance(p, int) else str(p) for p in error.get("loc", ())],
        "msg": str(error.get("msg", "")),
        "type": str(error.get("type", "invalid")),
    }
    ctx = error.get("ctx")
    if ctx:
        out["ctx"] = {str(k): _json_safe(v) for k, v in ctx.items()}
    return out


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    for error in errors:
        if error.get("type") == "too_long" and tuple(error.get("loc", ())) in _BATCH_LISTS:
            limit = (error.get("ctx") or {}).get("max_length")
            return JSONResponse(
                {"detail": f"too many profiles: at most {limit} per request"},
                status_code=status.HTTP_413_CONTENT_TOO_LARGE)
    return JSONResponse({"detail": [_problem(e) for e in errors]},
                        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return JSONResponse({"detail": detail}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    incident = uuid.uuid4().hex[:12]
    log.error("unexpected error %s on %s %s", incident, request.method, request.url.path,
              exc_info=exc)
    return JSONResponse({"detail": f"internal error (incident {incident})"},
                        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
