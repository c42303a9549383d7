"""POST /v1/explain (explanation documents) and POST /v1/report (the coach's HTML page)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from ssi_model.api import responses
from ssi_model.api.deps import ServedModelDep
from ssi_model.api.fast_path import FastRoute
from ssi_model.api.model_holder import ServedModel
from ssi_model.api.responses import as_json
from ssi_model.api.routes.predict import model_ref
from ssi_model.api.schemas import ExplainOptions, ExplainRequest, ExplainResponse, Lang, Profile
from ssi_model.contract import CONTRACT
from ssi_model.explain import Explanation, explain_rows

router = APIRouter(tags=["explain"])


def explain(served: ServedModel, profiles: Sequence[BaseModel],
            options: ExplainOptions) -> list[Explanation]:
    info = served.info
    # Plain records, no frame: for one profile pandas would cost more than the model.
    return explain_rows(served.estimator, [p.model_dump() for p in profiles],
                        budget_minutes=options.budget_minutes, target=options.target,
                        lang=options.lang, model_info=info)


@router.post(
    "/explain",
    response_model=ExplainResponse,
    summary="Drivers, levers with estimated gains, and a plan, per profile",
)
def explain_profiles(body: ExplainRequest, served: ServedModelDep) -> Response:
    # def, not async: SHAP values and lever re-scoring take milliseconds per profile, so they
    # run in the thread pool and do not hold up the event loop.
    return Response(answer(served, body), media_type="application/json")


def answer(served: ServedModel, body: ExplainRequest) -> bytes:
    """The JSON answer: the served model and one explanation document per profile, serialised
    once (FastAPI would dump the documents to dicts and validate them again against the
    response model first: a millisecond a profile)."""
    return ExplainResponse(model=model_ref(served),
                           explanations=explain(served, body.profiles, body)
                           ).model_dump_json().encode("utf-8")


FAST = FastRoute(ExplainRequest, answer, inline_profiles=1)
"""How the fast path answers this route: one profile (about 10 ms) on the event loop, more in
the thread pool as the route runs them."""


@router.post(
    "/report",
    response_class=HTMLResponse,
    summary="The coach's report for one profile: a self-contained HTML page",
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                     "description": "The report page (no external assets)"},
               **as_json({**responses.V1, **responses.WITH_BODY})},
)
def report(
    profile: Profile,
    served: ServedModelDep,
    lang: Annotated[Lang, Query(description="Language of the page")] = "en",
    budget_minutes: Annotated[float | None, Query(ge=0, le=7 * 24 * 60, allow_inf_nan=False,
                                                  description="Weekly time budget")] = None,
    target: Annotated[float | None, Query(ge=0, le=CONTRACT.total_max, allow_inf_nan=False,
                                          description="A total SSI to reach")] = None,
) -> HTMLResponse:
    from ssi_model.report import render_member
    from ssi_model.report.whatif import for_member

    options = ExplainOptions(budget_minutes=budget_minutes, target=target, lang=lang)
    (doc,) = explain(served, [profile], options)
    # The same page as `ssi report`: it carries the served model for the what-if controls.
    return HTMLResponse(render_member(doc, whatif=for_member(served.estimator,
                                                             profile.model_dump())))
