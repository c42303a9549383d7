"""POST /v1/predict: profiles in, the four pillars and the total with intervals out.

A valid request is answered by the app's fast path (``ssi_model.api.fast_path``) with
:func:`answer`, as the route below answers it; the route declares the endpoint and answers
everything else (its errors)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Response
from pydantic import BaseModel
from pydantic_core import to_json

from ssi_model.api.deps import ServedModelDep
from ssi_model.api.fast_path import FastRoute
from ssi_model.api.model_holder import ServedModel
from ssi_model.api.schemas import ModelRef, PredictRequest, PredictResponse

router = APIRouter(tags=["predict"])


def model_ref(served: ServedModel) -> ModelRef:
    """The answer's ``model`` block, made once per loaded model (``ServedModel.ref``)."""
    return served.ref


def answer(served: ServedModel, body: PredictRequest) -> bytes:
    """The JSON answer for validated profiles: the served model and one prediction each.

    The records go straight into a ProfileBatch (the same scoring path as the CLI and the
    pyfunc, no pandas), and the answer is serialised once, by pydantic's Rust core, without
    validating our own answer against ``PredictResponse`` (that model stays for OpenAPI). A NaN
    goes out as null, as the response model would send it.
    """
    # a profile's own field dict: the model is flat, so model_dump() would only copy it
    profiles: Sequence[BaseModel] = body.profiles
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
    return Response(answer(served, body), media_type="application/json")


FAST = FastRoute(PredictRequest, answer)
"""How the fast path answers this route: on the event loop (a few hundred microseconds for one
profile, a few milliseconds for 1,000)."""
