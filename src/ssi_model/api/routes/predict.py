"""POST /v1/predict: profiles in, the four pillars and the total with intervals out."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic_core import to_json

from ssi_model.api.deps import ServedModelDep
from ssi_model.api.model_holder import ServedModel
from ssi_model.api.schemas import ModelRef, PredictRequest, PredictResponse

router = APIRouter(tags=["predict"])


def model_ref(served: ServedModel) -> ModelRef:
    """The answer's ``model`` block, made once per loaded model (``ServedModel.ref``)."""
    return served.ref


@router.post(
    "/predict",
    response_model=PredictResponse,
    summary="Estimate SSI, pillars, 90 % intervals and industry rank",
    description="1 to 1,000 profiles of the data contract; a missing or null column is "
                "unknown. Pure numpy on the way: no pandas per request.",
)
async def predict(body: PredictRequest, served: ServedModelDep) -> Response:
    # async: the work is a few hundred microseconds of numpy and LightGBM, cheaper than a hop to
    # the thread pool; a full batch of 1,000 profiles takes a few milliseconds. The records go
    # straight into a ProfileBatch: the same scoring path as the CLI and the pyfunc, no pandas.
    records = [profile.model_dump() for profile in body.profiles]
    predictions = served.estimator.predict(records).to_records()
    # Serialised once, by pydantic's Rust core, as FastAPI would, but without validating our own
    # answer against ``PredictResponse`` first (the response model stays for OpenAPI). A NaN
    # goes out as null, as the response model would send it.
    content = to_json({"model": model_ref(served), "predictions": predictions},
                      inf_nan_mode="null")
    return Response(content, media_type="application/json")
