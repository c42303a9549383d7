"""A coach's pages from the snapshot store: GET /v1/members/{id}/report and GET /v1/cohort.

The member report explains the member's latest snapshot with the served champion, records the
explanation as issued (so the advice can be followed up, and erasure removes it), and adds the
history: reported and estimated SSI over the snapshots, what changed since the previous one, and
the plan issued before the latest snapshot with what became of it.
The cohort page lists the caller's own members only (the administrator sees everyone), each with
the latest estimate and trend, linking to their reports.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import HTMLResponse

from ssi_model.api import responses
from ssi_model.api.deps import CallerDep, OptionalModelDep, StoreDep
from ssi_model.api.model_holder import ServedModel
from ssi_model.api.responses import Responses, as_json
from ssi_model.api.routes.members import MemberId, not_found
from ssi_model.api.schemas import Lang, Problem
from ssi_model.store import MemberNotFound
from ssi_model.store.explained import explain_latest, last_plan

router = APIRouter(tags=["members"])

_HTML: Responses = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}},
          "description": "A self-contained HTML page (no external assets)"},
    **as_json({
        **responses.V1,
        404: {"model": Problem,
              "description": "No such member, or not one of the caller's (the same answer)"},
        503: {"model": Problem, "description": "No champion model is loaded yet"},
    }),
}


def _model(served: ServedModel | None) -> ServedModel:
    if served is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "no model is loaded yet: train and promote a champion")
    return served


@router.get("/members/{member_id}/report", response_class=HTMLResponse, responses=_HTML,
            summary="The member's latest report, with history, what changed and the last plan")
def member_report(member_id: MemberId, store: StoreDep, caller: CallerDep,
                  served: OptionalModelDep,
                  lang: Annotated[Lang, Query(description="Language of the page")] = "en",
                  ) -> HTMLResponse:
    from ssi_model.report import member_history, render_member
    from ssi_model.report.whatif import for_member

    model = _model(served)
    try:
        (explained,) = explain_latest(store, caller, model.estimator, model.info,
                                      members=[member_id], record=True, lang=lang)
    except MemberNotFound as exc:
        raise not_found(exc) from None
    snapshots = explained.snapshots
    history = member_history(model.estimator, snapshots,
                             plan=last_plan(store, caller, snapshots))
    return HTMLResponse(render_member(explained.document,
                                      whatif=for_member(model.estimator, explained.latest.row),
                                      history=history))


@router.get("/cohort", response_class=HTMLResponse, responses=_HTML,
            summary="The coach's cohort page: own members, latest estimate and trend")
def cohort(store: StoreDep, caller: CallerDep, served: OptionalModelDep,
           lang: Annotated[Lang, Query(description="Language of the page")] = "en",
           ) -> HTMLResponse:
    from ssi_model.report import member_history, render_cohort

    model = _model(served)
    explained = explain_latest(store, caller, model.estimator, model.info, lang=lang)
    members = [e.latest.member_id for e in explained]
    histories = {e.latest.member_id: member_history(model.estimator, e.snapshots)
                 for e in explained}
    # Relative links: from /v1/cohort they resolve to /v1/members/<id>/report.
    links = {m: f"members/{quote(m, safe='')}/report?lang={lang}" for m in members}
    return HTMLResponse(render_cohort([e.document for e in explained], member_links=links,
                                      lang=lang, histories=histories))
