"""The fast path of the JSON model routes (``POST /v1/predict`` and ``/v1/explain``).

Two ways in, one answer. The FastAPI routes declare the endpoints (OpenAPI, every error answer);
``FastPath``, the ASGI layer in front of the app's whole middleware stack, answers a valid request
itself, without FastAPI's routing, dependency solving, thread-pool hops, response classes and the
five middleware layers a request passes through (errors, telemetry, two body limits, the API
key), which together cost more than the model for one profile. Anything it does not accept as it
stands (no model, no valid key, a body over the limit, not JSON, an invalid body, an answer that
raised) goes on to the app with the same bytes, so every refusal and every error is answered in
the one standard way. Both ways build the answer with the route's own function
(``FastRoute.answer``), and ``tests/test_api.py`` checks they send the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ssi_model.api.deps import API_KEY_HEADER, key_matches
from ssi_model.api.model_holder import ModelHolder, ServedModel

API_KEY_HEADER_BYTES = API_KEY_HEADER.lower().encode("latin-1")


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

    It sits in front of the app's middleware, so it applies the app's two checks itself before
    reading a body, and leaves the refusal to the app: a request without the API key (when one
    is set; ``api_key``) goes on untouched, and so does a body declared longer than
    ``max_body_bytes``; a body that turns out longer as it streams in goes on with the bytes read
    so far, then the rest of the stream. A body it reads and cannot accept is handed on with the
    same bytes (``_replay``): the route validates it again and answers 422 or 413 exactly as it
    would have without the fast path.
    """

    def __init__(self, app: ASGIApp, holder: ModelHolder, routes: Mapping[str, FastRoute], *,
                 api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.holder = holder
        self.routes = dict(routes)
        self.api_key = api_key or None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        served = self.holder.current
        if route is None or scope["method"] != "POST" or served is None \
                or not self._acceptable(scope):
            await self.app(scope, receive, send)
            return
        body, more = await _read_body(receive, self.max_body_bytes)
        if body is None:  # the client went away
            return
        if len(body) > self.max_body_bytes:  # the app's own limit answers 413
            await self.app(scope, _replay(body, receive, more_body=more), send)
            return
        try:
            request = route.request.model_validate_json(body)
        except ValidationError:
            await self.app(scope, _replay(body, receive), send)
            return
        limit = route.inline_profiles
        try:
            if limit is None or len(getattr(request, "profiles", ())) <= limit:
                content = route.answer(served, request)
            else:
                content = await run_in_threadpool(route.answer, served, request)
        except Exception:  # the route meets it again, inside the app's error handling (500)
            await self.app(scope, _replay(body, receive), send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode("ascii")),
        ]})
        await send({"type": "http.response.body", "body": content})


    def _acceptable(self, scope: Scope) -> bool:
        """JSON, with the API key when one is set, and not declared longer than the limit (a
        chunked body, with no length, is counted as it is read)."""
        json, length_ok = False, True
        key = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                json = value.split(b";", 1)[0].strip().lower() == b"application/json"
            elif name == b"content-length":
                length_ok = value.isdigit() and int(value) <= self.max_body_bytes
            elif name == API_KEY_HEADER_BYTES and key is None:  # the first, as Headers.get
                key = value.decode("latin-1")
        return json and length_ok and (self.api_key is None or key_matches(self.api_key, key))


async def _read_body(receive: Receive, limit: int) -> tuple[bytes | None, bool]:
    """The body read so far (None if the client went away) and whether more is to come: reading
    stops at the end of the body, or once it is over ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None, False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = bool(message.get("more_body", False))
        if not more or size > limit:
            return b"".join(chunks), more


def _replay(body: bytes, receive: Receive, *, more_body: bool = False) -> Receive:
    """A ``receive`` that hands the body already read over once (``more_body``: the rest is
    still to come), then reads on from the client as the original would."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": more_body}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
