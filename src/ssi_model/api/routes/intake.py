"""The intake page: ``GET /intake`` serves the form, ``POST /intake`` stores a snapshot and answers
with the member's report.

A member or their coach uploads a LinkedIn data export ZIP and/or answers the questionnaire,
types the figures from LinkedIn's SSI dashboard (the total, the four pillars, the industry and
network ranks) and gives consent. The page is server-rendered HTML with inline CSS and no script
or external asset, in English, Dutch or German (``?lang=``, texts from the report catalogues).

Who submits: the coach. The form has a **coach key** field (a password input, sent in the POST
body, never in the URL where it would reach logs and browser history); the key decides which
coach the member belongs to, exactly as ``X-API-Key`` does on ``/v1``. The administrator's
``SSI_API_KEY`` works too. A member filling in the page sits with their coach (or the coach
types their answers): a key of their own would let a member see the coach's other members, and a
per-coach intake link that only adds snapshots is left for later.

Submitting validates every field by the contract before anything is stored: a bad field
re-renders the form (422) with the reason beside it and every typed value kept (the archive has
to be chosen again: browsers never re-fill a file input). A valid submission is stored (source
``dashboard`` when figures were typed, else ``export`` or ``questionnaire``; ``reported_on`` the
snapshot's date), explained by the served champion, the explanation recorded in the store (so
erasure removes it too), and the member's report page returned. No model loaded: the snapshot is
stored and the page says that the report needs a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from starlette.datastructures import UploadFile

from ssi_model.api.deps import authenticate_caller
from ssi_model.api.model_holder import ServedModel
from ssi_model.api.routes.explain import explain
from ssi_model.api.schemas import MEMBER_ID_MAX_CHARS, ExplainOptions, Lang, Profile
from ssi_model.contract import CONTRACT, PILLARS
from ssi_model.report.i18n import LANGS, Texts, texts
from ssi_model.settings import Settings
from ssi_model.store import Coach, Consent, SnapshotStore

router = APIRouter(tags=["intake"])

CONTEXT = ["industry", "role_family", "seniority", "region", "subscription"]
FIGURES = ["ssi_total", *(f"ssi_{p}" for p in PILLARS), "industry_rank_top_pct",
           "network_rank_top_pct"]
MAX_FIELDS = 120  # the form has about 75; a bounded parser refuses a flood of parts
MAX_PART_BYTES = 4096  # any one text field
# The browser's cache must not keep a page holding a coach's key or a member's figures.
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str  # text, password, date, number, select, file
    choices: tuple[tuple[str, str], ...] = ()
    step: str = "1"
    hint: str = ""


@dataclass(frozen=True)
class Section:
    title: str
    fields: list[FormField]
    note: str = ""


@dataclass
class FormState:
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)


# ---------------------------------------------------------------------------- the form


def _column_label(t: Texts, name: str) -> str:
    return t.keyed.get(f"column:{name}", name)


def _figure_label(t: Texts, name: str) -> str:
    if name == "ssi_total":
        return t.gettext("Total SSI")
    if name == "industry_rank_top_pct":
        return t.gettext("Industry SSI rank (top %%)")
    if name == "network_rank_top_pct":
        return t.gettext("Network SSI rank (top %%)")
    return t.key(f"pillar:{name.removeprefix('ssi_')}")


def sections(t: Texts) -> list[Section]:
    unknown = ("", t.gettext("Not known"))
    context = [FormField(c, _column_label(t, c), "select",
                         (unknown, *((v, t.label(c, v)) for v in CONTRACT[c].values)))
               for c in CONTEXT]
    who = [
        FormField("coach_key", t.gettext("Coach key"), "password",
                  hint=t.gettext("The key you received as a coach.")),
        FormField("member_id", t.gettext("Member id"), "text",
                  hint=t.gettext("A pseudonym, never a name or an e-mail address. Empty with an "
                                 "export: made from the export.")),
        FormField("snapshot_date", t.gettext("Date of the snapshot"), "date",
                  hint=t.gettext("Empty: the export's date, or today.")),
    ]
    out = [Section(t.gettext("Who and when"), who),
           Section(t.gettext("LinkedIn data export"),
                   [FormField("export", t.gettext("Export archive (ZIP)"), "file")],
                   t.gettext("Optional. Your answers below take precedence over the export.")),
           Section(t.gettext("About you"), context)]
    yes_no = (unknown, ("true", t.gettext("Yes")), ("false", t.gettext("No")))
    for pillar in PILLARS:
        columns = [c for c in CONTRACT.behaviour_columns if CONTRACT[c].group == pillar]
        out.append(Section(t.pillar_first(pillar), [
            FormField(c, _column_label(t, c), "select" if CONTRACT[c].kind == "bool" else
                      "number", yes_no if CONTRACT[c].kind == "bool" else ())
            for c in columns]))
    out.append(Section(
        t.gettext("Your SSI dashboard"),
        [FormField(c, _figure_label(t, c), "number", step="0.01") for c in FIGURES],
        t.gettext("The figures LinkedIn shows on your SSI dashboard, as they are.")))
    return out


@cache
def _environment() -> Environment:
    return Environment(loader=PackageLoader("ssi_model.api", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       extensions=["jinja2.ext.i18n"])


@cache
def _template(lang: str) -> Template:
    env = _environment().overlay()
    env.install_gettext_translations(texts(lang).translations, newstyle=True)  # type: ignore[attr-defined]
    return env.get_template("intake.html.j2")


def render_form(lang: str, state: FormState, *, message: str = "") -> str:
    t = texts(lang)
    return _template(lang).render(lang=lang, langs=LANGS, sections=sections(t),
                                  values=state.values, errors=state.errors,
                                  general=state.general, message=message)


# ---------------------------------------------------------------------------- submitting


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _by_column(reasons: list[str], state: FormState, on_form: set[str]) -> None:
    """Put each contract reason (``column: message``) beside its field, or on top."""
    for reason in reasons:
        column, sep, message = reason.partition(": ")
        if sep and column in on_form:
            state.add(column, message)
        else:
            state.general.append(reason)


@dataclass
class Submission:
    """What the form sent, read in the event loop (the upload's bytes included)."""

    values: dict[str, str]
    archive: bytes | None
    archive_name: str | None


def _read_export(sub: Submission, settings: Settings, state: FormState) -> dict[str, Any]:
    from ssi_model.linkedin_export import ArchiveLimits, ExportError, read_export

    if sub.archive is None:
        return {}
    overrides = {c: sub.values[c] for c in CONTEXT if sub.values.get(c)}
    try:
        export = read_export(sub.archive, filename=sub.archive_name, overrides=overrides,
                             member_id=sub.values.get("member_id") or None,
                             limits=ArchiveLimits(max_archive_bytes=settings.ssi_max_upload_bytes),
                             secret_file=settings.ssi_secret_file)
    except ExportError as exc:
        state.add("export", str(exc))
        return {}
    (record,) = CONTRACT.to_records(export.row, for_json=True)
    return record


def _row(sub: Submission, exported: Mapping[str, Any], today: date) -> dict[str, Any]:
    """The contract row: the export's cells, then every typed answer over them (as text: the
    contract's parser reads numbers and booleans as a CSV cell, with its own reasons)."""
    row: dict[str, Any] = dict(exported)
    for name in ["member_id", "snapshot_date", *CONTRACT.input_columns, *FIGURES]:
        if sub.values.get(name):
            row[name] = sub.values[name]
    row.setdefault("snapshot_date", today.isoformat())
    row.setdefault("member_id", None)  # blank: validation says so (never a missing column)
    if any(sub.values.get(c) for c in FIGURES):
        row["source"] = "dashboard"
        row["reported_on"] = row["snapshot_date"]
    else:
        row["source"] = "export" if exported else "questionnaire"
    return row


def submit(sub: Submission, lang: str, store: SnapshotStore | None, settings: Settings,
           served: ServedModel | None) -> tuple[int, str]:
    """Validate, store, explain, render: (status, page). Runs in the thread pool."""
    from ssi_model.validation import validate

    t = texts(lang)
    state = FormState(values=sub.values)
    if store is None:
        state.general.append(t.gettext("The store is not available. Please try again later."))
        return status.HTTP_503_SERVICE_UNAVAILABLE, render_form(lang, state)
    caller: Coach | None = authenticate_caller(store, settings, sub.values.get("coach_key"))
    if caller is None:
        state.add("coach_key", t.gettext("This key is not valid."))
    if not sub.values.get("consent"):
        state.add("consent", t.gettext("Without consent nothing can be stored."))
    member_id = sub.values.get("member_id", "")
    if len(member_id) > MEMBER_ID_MAX_CHARS or "@" in member_id:
        state.add("member_id", t.gettext("At most %(n)s characters, and no e-mail address.",
                                         n=MEMBER_ID_MAX_CHARS))
    exported = _read_export(sub, settings, state)
    required_id = not member_id and not exported
    if required_id:
        state.add("member_id", t.gettext("Required without an export."))
    row = _row(sub, exported, date.today())
    on_form = {f.name for s in sections(t) for f in s.fields}
    checked = validate(pd.DataFrame([row]))
    if len(checked.quarantine):
        reasons = str(checked.quarantine["reason"].iloc[0]).split("; ")
        if required_id:  # said above in the member's language
            reasons = [r for r in reasons if not r.startswith("member_id:")]
        _by_column(reasons, state, on_form)
    if state.errors or state.general or caller is None:
        return status.HTTP_422_UNPROCESSABLE_CONTENT, render_form(lang, state)

    consent: Consent = "training" if sub.values.get("consent_training") else "coaching"
    result = store.add_snapshots([row], caller, consent=consent,
                                 replace=bool(sub.values.get("replace")))
    if result.conflicts:
        columns = ", ".join(_column_label(t, c) if c in CONTRACT.input_columns
                            else _figure_label(t, c) if c in FIGURES else c
                            for c in result.conflicts[0].columns)
        state.add("snapshot_date", t.gettext(
            "Another snapshot is stored for this member on this date; it differs in: "
            "%(columns)s. To replace it, tick the box under Consent.", columns=columns))
    for refusal in result.quarantined:  # validated above: only another coach's member is left
        _by_column(list(refusal.reasons), state, on_form)
    if state.errors or state.general:
        return status.HTTP_422_UNPROCESSABLE_CONTENT, render_form(lang, state)

    member = str(checked.clean["member_id"].iloc[0])
    day = pd.Timestamp(checked.clean["snapshot_date"].iloc[0]).date()
    stored = next(s for s in store.member_snapshots(member, caller) if s.snapshot_date == day)
    if served is None:
        return status.HTTP_200_OK, render_form(lang, FormState(), message=t.gettext(
            "Stored the snapshot of %(member)s. The report needs a model, and none is loaded "
            "yet.", member=member))
    profile = Profile.model_validate(stored.inputs)
    (doc,) = explain(served, [profile], ExplainOptions(lang=lang))
    store.record_explanation(stored.id, doc.model_dump(mode="json"), served.name,
                             served.version, caller)
    from ssi_model.report import render_member

    return status.HTTP_200_OK, render_member(doc)


# ---------------------------------------------------------------------------- routes

LangQuery = Annotated[Lang, Query(description="Language of the page")]


@router.get("/intake", response_class=HTMLResponse,
            summary="The intake page: a form for a new snapshot of a member")
async def intake_page(lang: LangQuery = "en") -> HTMLResponse:
    return HTMLResponse(render_form(lang, FormState()), headers=NO_STORE)


@router.post("/intake", response_class=HTMLResponse,
             summary="Store a snapshot from the intake form; answers with the member's report",
             responses={422: {"description": "The form again, each reason beside its field"}})
async def intake_submit(request: Request, lang: LangQuery = "en") -> HTMLResponse:
    form = await request.form(max_files=1, max_fields=MAX_FIELDS, max_part_size=MAX_PART_BYTES)
    try:
        values = {k: _text(v) for k, v in form.items() if not isinstance(v, UploadFile)}
        upload = form.get("export")
        archive = name = None
        if isinstance(upload, UploadFile) and upload.filename:
            archive = await upload.read()
            name = upload.filename
        sub = Submission(values=values, archive=archive or None, archive_name=name)
    finally:
        await form.close()
    code, page = await run_in_threadpool(
        submit, sub, lang, getattr(request.app.state, "store", None), request.app.state.settings,
        request.app.state.holder.current)
    return HTMLResponse(page, status_code=code, headers=NO_STORE)
