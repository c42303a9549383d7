"""POST /v1/predict: profiles in, the four pillars and the total with intervals out.

Two ways in, one answer. The FastAPI route declares the endpoint (OpenAPI, every error answer);
``PredictFastPath``, an ASGI middleware inside the API-key and body-size checks, answers a valid
request itself, without FastAPI's routing, dependency solving and body handling, which cost
more than the model for one profile. Anything it does not accept as it stands (no model, not
JSON, an invalid body) goes on to the route, so every error is answered in the one standard way.
Both build the answer with :func:`answer`.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Response
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ssi_model.api.deps import ServedModelDep
from ssi_model.api.model_holder import ModelHolder, ServedModel
from ssi_model.api.schemas import ModelRef, PredictRequest, PredictResponse

PATH = "/v1/predict"

router = APIRouter(tags=["predict"])


def model_ref(served: ServedModel) -> ModelRef:
    """The answer's ``model`` block, made once per loaded model (``ServedModel.ref``)."""
    return served.ref


def answer(served: ServedModel, profiles: Sequence[BaseModel]) -> bytes:
    """The JSON answer for validated profiles: the served model and one prediction each.

    The records go straight into a ProfileBatch (the same scoring path as the CLI and the
    pyfunc, no pandas), and the answer is serialised once, by pydantic's Rust core, without
    validating our own answer against ``PredictResponse`` (that model stays for OpenAPI). A NaN
    goes out as null, as the response model would send it.
    """
    # a profile's own field dict: the model is flat, so model_dump() would only copy it
    predictions = served.estimator.predict([vars(p) for p in profiles]).to_records()
    return to_json({"model": model_ref(served), "predictions": predictions},
                   inf_nan_mode="null")


@router.post(
    "/predict",
    response_model=PredictResponse,
    summary="Estimate SSI, pillars, 90 % intervals and industry rank",
    description="1 to 1,000 profiles of the data contract; a missing or null column is "
                "unknown. Pure numpy on the way: no pandas per request.",
)
async def predict(body: PredictRequest, served: ServedModelDep) -> Response:
    # async: the work is a few hundred microseconds of numpy and LightGBM, cheaper than a hop to
    # the thread pool; a full batch of 1,000 profiles takes a few milliseconds.
    return Response(answer(served, body.profiles), media_type="application/json")


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


class PredictFastPath:
    """Answers a valid ``POST /v1/predict`` directly; passes everything else on unchanged.

    Sits inside the API-key middleware and FastAPI's body-size limit (its ``receive`` is the
    limited one), so a request reaching it is already authorised and bounded. A body it reads
    and cannot accept is handed on with the same bytes (``_replay``): the route validates it
    again and answers 422 or 413 exactly as it would have without the fast path.
    """

    def __init__(self, app: ASGIApp, holder: ModelHolder) -> None:
        self.app = app
        self.holder = holder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        served = self.holder.current
        if (scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST"
                or served is None or not _is_json(scope)):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away
            return
        try:
            request = PredictRequest.model_validate_json(body)
        except ValidationError:
            await self.app(scope, _replay(body, receive), send)
            return
        content = answer(served, request.profiles)
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode("ascii")),
        ]})
        await send({"type": "http.response.body", "body": content})


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
