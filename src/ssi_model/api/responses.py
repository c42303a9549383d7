"""The error responses each route documents in OpenAPI (what the error handlers send)."""

from __future__ import annotations

from typing import Any

from fastapi import status
from pydantic import BaseModel

from ssi_model.api.schemas import Problem, ValidationProblem

Responses = dict[int | str, dict[str, Any]]

_UNAUTHORISED = {"model": Problem, "description": "Missing or invalid X-API-Key"}
_UNREADABLE = {"model": Problem,
               "description": "The body cannot be read (not UTF-8, or a broken multipart form)"}
_TOO_LARGE = {"model": Problem, "description": "Body over the size limit, or too many profiles"}
_INVALID = {"model": ValidationProblem,
            "description": "Invalid input: each problem names the field's path and the rule"}
_NO_MODEL = {"model": Problem, "description": "No model is served; the detail says what to do"}

V1: Responses = {status.HTTP_401_UNAUTHORIZED: _UNAUTHORISED}
"""Every /v1 route."""

WITH_BODY: Responses = {
    status.HTTP_400_BAD_REQUEST: _UNREADABLE,
    status.HTTP_413_CONTENT_TOO_LARGE: _TOO_LARGE,
    status.HTTP_422_UNPROCESSABLE_CONTENT: _INVALID,
    status.HTTP_503_SERVICE_UNAVAILABLE: _NO_MODEL,
}
"""Routes that read a body and need the model."""


def as_json(responses: Responses) -> Responses:
    """The same responses with their JSON content spelt out, for a route whose own response
    class is not JSON (FastAPI would document a ``model`` under the route's media type)."""
    out: Responses = {}
    for code, response in responses.items():
        model: type[BaseModel] = response["model"]
        out[code] = {"description": response["description"], "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}
    return out
