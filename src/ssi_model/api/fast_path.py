"""The fast path of the JSON model routes (``POST /v1/predict`` and ``/v1/explain``).

Two ways in, one answer. The FastAPI routes declare the endpoints (OpenAPI, every error answer);
``FastPath``, an ASGI middleware inside the API-key and body-size checks, answers a valid request
itself, without FastAPI's routing, dependency solving, thread-pool hops and response classes,
which cost more than the model for one profile. Anything it does not accept as it stands (no
model, not JSON, an invalid body) goes on to the route with the same bytes, so every error is
answered in the one standard way. Both ways build the answer with the route's own function
(``FastRoute.answer``), and ``tests/test_api.py`` checks they send the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ssi_model.api.model_holder import ModelHolder, ServedModel


@dataclass(frozen=True)
class FastRoute:
    """One POST route the fast path answers."""

    request: type[BaseModel]  # the route's body model: validated with it, as the route does
    answer: Callable[[ServedModel, Any], bytes]  # (served model, valid body) -> the JSON answer
    inline_profiles: int | None = None
    """Bodies of at most this many profiles are answered on the event loop, larger ones in the
    thread pool (None: always on the loop). The hop to a worker thread and back costs about a
    millisecond on these machines, and it buys little for one profile: the work is Python and
    holds the GIL, so the loop would mostly wait for it anyway. A batch of explanations (up to
    a second) goes to a worker, which the loop takes the GIL back from every few
    milliseconds."""


class FastPath:
    """Answers a valid POST to one of ``routes`` directly; passes everything else on unchanged.

    Sits inside the API-key middleware and FastAPI's body-size limit (its ``receive`` is the
    limited one), so a request reaching it is already authorised and bounded. A body it reads
    and cannot accept is handed on with the same bytes (``_replay``): the route validates it
    again and answers 422 or 413 exactly as it would have without the fast path.
    """

    def __init__(self, app: ASGIApp, holder: ModelHolder,
                 routes: Mapping[str, FastRoute]) -> None:
        self.app = app
        self.holder = holder
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        served = self.holder.current
        if route is None or scope["method"] != "POST" or served is None or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away
            return
        try:
            request = route.request.model_validate_json(body)
        except ValidationError:
            await self.app(scope, _replay(body, receive), send)
            return
        limit = route.inline_profiles
        if limit is None or len(getattr(request, "profiles", ())) <= limit:
            content = route.answer(served, request)
        else:
            content = await run_in_threadpool(route.answer, served, request)
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode("ascii")),
        ]})
        await send({"type": "http.response.body", "body": content})


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the body already read over once, then listens to the client
    (a disconnect) as the original would."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
