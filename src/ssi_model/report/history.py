"""A member over time: reported and estimated SSI per snapshot, and what changed since the last.

Two steps, so that rendering stays a pure function of data:

1. :func:`member_history` (needs the model) scores every snapshot of one member and explains the
   change between the last two (``ssi_model.explain.change``); given the plan issued at an
   earlier snapshot (:class:`IssuedPlan`), it follows it up against the latest snapshot (which
   actions were taken, with the adoption rule of ``evaluate-advice``, and the reported and
   estimated change since): a :class:`MemberHistory`, which holds numbers only, no words.
2. :func:`history_view` / :func:`trend_view` (no model) word and lay it out in one language for
   the member page (a chart and sentences) and the cohort page (a trend per client).

Snapshots are anything with ``snapshot_date`` and ``row`` (the store's ``StoredSnapshot``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import numpy as np
from babel.dates import format_date

from ssi_model.batch import ProfileBatch
from ssi_model.contract import CONTRACT, PILLAR_LABELS, PILLARS, TOTAL_LABEL
from ssi_model.explain.advice import levers_taken, plan_levers
from ssi_model.explain.catalogue import load_catalogue
from ssi_model.explain.change import ChangeExplanation, ColumnChange, explain_change
from ssi_model.model.estimator import SSIEstimator

from .i18n import Texts

TOTAL = "total"
SHOWN = 0.05  # points; a smaller contribution rounds to nothing and is summed as "other changes"
MAX_SENTENCES = 6  # columns named in the summary; the rest are summed


class SnapshotLike(Protocol):
    @property
    def snapshot_date(self) -> date: ...

    @property
    def row(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class HistoryPoint:
    """One snapshot: the model's estimate with its 90 % interval, and what the member reported."""

    snapshot_date: date
    estimated: dict[str, float]  # "total" and each pillar
    lo: dict[str, float]
    hi: dict[str, float]
    reported: dict[str, float | None]  # None: not reported at this snapshot


@dataclass(frozen=True)
class IssuedPlan:
    """An explanation document issued for an earlier snapshot of the member, as stored."""

    document: Mapping[str, Any]  # the explanation schema, as JSON
    snapshot_date: date  # the snapshot it explained
    row: Mapping[str, Any]  # that snapshot's contract row
    model_name: str
    model_version: str
    issued_at: datetime


@dataclass(frozen=True)
class PlanAction:
    """One action of an issued plan and whether the latest snapshot shows it taken."""

    lever: str
    text: str  # as issued (the document's language)
    gain: dict[str, float]  # its predicted gain alone when issued: "total" and each pillar
    taken: bool


@dataclass(frozen=True)
class PlanFollowUp:
    """The last plan issued before the latest snapshot, and what happened since."""

    snapshot_date: date  # the snapshot the plan explained
    issued_at: datetime
    model_name: str
    model_version: str
    actions: list[PlanAction]
    predicted: dict[str, float]  # the plan's predicted gain (joint), "total" and each pillar
    estimated_then: dict[str, float]  # the issued document's estimate
    estimated_now: dict[str, float]  # this history's model at the latest snapshot
    reported: dict[str, float | None]  # latest reported minus the plan snapshot's; None: unknown

    @property
    def estimated_change(self) -> dict[str, float]:
        return {k: self.estimated_now[k] - v for k, v in self.estimated_then.items()}


@dataclass(frozen=True)
class MemberHistory:
    """A member's snapshots scored by one model, oldest first, the latest change explained, and
    the last plan followed up."""

    member_id: str
    points: list[HistoryPoint]
    change: ChangeExplanation | None  # latest snapshot against the one before; None with one
    plan: PlanFollowUp | None = None  # the plan issued before the latest snapshot, if any

    @property
    def latest(self) -> HistoryPoint | None:
        return self.points[-1] if self.points else None

    @property
    def previous(self) -> HistoryPoint | None:
        return self.points[-2] if len(self.points) > 1 else None


def _day(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _reported(row: Mapping[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, column in [(TOTAL, TOTAL_LABEL), *PILLAR_LABELS.items()]:
        value = row.get(column)
        out[key] = None if value is None else float(value)
    return out


def member_history(estimator: SSIEstimator, snapshots: Sequence[SnapshotLike],
                   plan: IssuedPlan | None = None) -> MemberHistory:
    """Score every snapshot (one batch) and explain the change between the last two; with
    ``plan`` (issued for a snapshot before the latest), follow it up against the latest."""
    ordered = sorted(snapshots, key=lambda s: _day(s.snapshot_date))
    if not ordered:
        raise ValueError("a history needs at least one snapshot")
    rows = [dict(s.row) for s in ordered]
    table = ProfileBatch.from_records(rows)
    pillars = estimator.predict_matrix(estimator.builder.features(table))
    records = estimator.predictions(table, pillars).to_records()
    points = []
    for snap, row, rec in zip(ordered, rows, records, strict=True):
        keys = (TOTAL, *PILLARS)
        points.append(HistoryPoint(
            snapshot_date=_day(snap.snapshot_date),
            estimated={k: float(rec[f"ssi_{k}"]) for k in keys},
            lo={k: float(rec[f"ssi_{k}_lo"]) for k in keys},
            hi={k: float(rec[f"ssi_{k}_hi"]) for k in keys},
            reported=_reported(row)))
    change = explain_change(estimator, rows[-2], rows[-1]) if len(rows) > 1 else None
    member = str(rows[-1].get("member_id") or "")
    followup = (_follow_up(plan, rows[-1], points[-1])
                if plan is not None and plan.snapshot_date < points[-1].snapshot_date else None)
    return MemberHistory(member_id=member, points=points, change=change, plan=followup)


def _follow_up(plan: IssuedPlan, latest: Mapping[str, Any],
               now: HistoryPoint) -> PlanFollowUp | None:
    """The plan's actions taken or not in ``latest`` (``evaluate-advice``'s adoption rule),
    its predicted gain, and the reported and estimated change since; None without a plan."""
    doc = plan.document
    asked = plan_levers(doc)
    if not asked:
        return None
    taken = levers_taken(asked, latest)
    levers = {lv["id"]: lv for lv in doc.get("levers", [])}
    keys = (TOTAL, *PILLARS)
    then, reported_then, reported_now = doc["prediction"], _reported(plan.row), _reported(latest)
    return PlanFollowUp(
        snapshot_date=plan.snapshot_date, issued_at=plan.issued_at, model_name=plan.model_name,
        model_version=plan.model_version,
        actions=[PlanAction(lever=i, text=str(levers[i].get("text") or i),
                            gain={k: float(levers[i]["gain"][k]) for k in keys},
                            taken=taken[i]) for i in asked],
        predicted={k: float(doc["plan"]["gain"][k]) for k in keys},
        estimated_then={k: float(then[f"ssi_{k}"]) for k in keys},
        estimated_now=dict(now.estimated),
        reported={k: None if (a := reported_then[k]) is None or (b := reported_now[k]) is None
                  else b - a for k in keys})


# -- wording ---------------------------------------------------------------------------------------
def pillar_name(t: Texts, pillar: str) -> str:
    return t.key(f"pillar:{pillar}")


def short_date(t: Texts, day: date) -> str:
    """An axis date: ``3 Mar`` / ``3 mrt.`` / ``3. März``."""
    text: str = format_date(day, format="d MMM", locale=t.locale)
    return text


def value_text(t: Texts, column: str, value: object) -> str:
    """A contract value as a client reads it: counts, yes/no, category labels, "not known"."""
    if value is None:
        return t.gettext("Not known")
    kind = CONTRACT[column].kind
    if kind == "bool" or isinstance(value, bool):
        return t.gettext("yes") if value else t.gettext("no")
    if kind in ("int", "float"):
        return t.count(float(value))  # type: ignore[arg-type]
    return t.label(column, str(value))


def change_sentence(t: Texts, change: ColumnChange, points: float) -> str:
    """"Posts (90 days): 2 → 8, which added 2.9 points." for one changed column."""
    label = t.label("column", change.column)
    before = value_text(t, change.column, change.before)
    after = value_text(t, change.column, change.after)
    amount = t.decimal(abs(points))
    if round(points, 1) > 0:
        return t.key("change:added", label=label, before=before, after=after, points=amount)
    if round(points, 1) < 0:
        return t.key("change:cost", label=label, before=before, after=after, points=amount)
    return t.key("change:nothing", label=label, before=before, after=after)


# -- the chart -------------------------------------------------------------------------------------
@dataclass
class Chart:
    """Geometry of one small SVG line chart (viewBox ``0 0 width height``)."""

    key: str
    title: str
    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float
    line: str  # SVG path of the estimate
    band: str  # polygon points of the 90 % interval
    estimates: list[dict[str, Any]]
    dots: list[dict[str, Any]]  # reported values
    x_ticks: list[dict[str, Any]]
    y_ticks: list[dict[str, Any]]
    label: str  # the chart's accessible description


def _chart(t: Texts, history: MemberHistory, key: str, title: str, scale: float,
           width: float, height: float) -> Chart:
    left, right, top, bottom = 34.0, width - 14.0, 10.0, height - 24.0
    days = [p.snapshot_date.toordinal() for p in history.points]
    span = max(days) - min(days)

    def x(day: int) -> float:
        if span == 0:
            return round((left + right) / 2, 2)
        return round(left + (right - left) * (day - days[0]) / span, 2)

    # The axis runs from 0 to the next step above everything drawn (never past the scale's
    # maximum), so that a change of a few points is visible; steps of 25 (total) or 5 (pillar).
    drawn = [p.hi[key] for p in history.points] + [
        r for p in history.points if (r := p.reported[key]) is not None]
    step = 5.0 if scale <= CONTRACT.pillar_max else (10.0 if max(drawn) < 49.5 else 25.0)
    top_value = min(scale, step * max(1, math.ceil((max(drawn) + 0.5) / step)))

    def y(value: float) -> float:
        return round(bottom - (bottom - top) * min(max(value, 0.0), top_value) / top_value, 2)

    xs = [x(d) for d in days]
    est = [p.estimated[key] for p in history.points]
    lo = [p.lo[key] for p in history.points]
    hi = [p.hi[key] for p in history.points]
    line = " ".join(f"{'M' if i == 0 else 'L'}{xs[i]},{y(v)}" for i, v in enumerate(est))
    band = " ".join([f"{xs[i]},{y(v)}" for i, v in enumerate(hi)]
                    + [f"{xs[i]},{y(v)}" for i, v in reversed(list(enumerate(lo)))])
    estimates = [{"x": xs[i], "y": y(v), "title": t.gettext(
        "%(date)s: estimated %(value)s (likely %(low)s–%(high)s)",
        date=t.date(p.snapshot_date), value=t.decimal(v), low=t.decimal(lo[i]),
        high=t.decimal(hi[i]))} for i, (p, v) in enumerate(zip(history.points, est, strict=True))]
    dots = [{"x": xs[i], "y": y(r), "title": t.gettext(
        "%(date)s: reported %(value)s", date=t.date(p.snapshot_date), value=t.decimal(r))}
        for i, p in enumerate(history.points)
        if (r := p.reported[key]) is not None]
    # At most five dates under the axis, always the first and the last.
    shown = sorted({round(i) for i in np.linspace(0, len(days) - 1, min(len(days), 5))})
    x_ticks = [{"x": xs[i], "label": short_date(t, history.points[i].snapshot_date),
                "anchor": "start" if i == 0 and span else
                ("end" if i == len(days) - 1 and span else "middle")} for i in shown]
    y_ticks = [{"y": y(step * k), "label": t.count(step * k)}
               for k in range(round(top_value / step) + 1)]
    latest = history.points[-1]
    label = t.gettext("%(name)s over %(n)s snapshots: estimated %(value)s at the latest",
                      name=title, n=len(days), value=t.decimal(latest.estimated[key]))
    return Chart(key=key, title=title, width=width, height=height, left=left, right=right,
                 top=top, bottom=bottom, line=line, band=band, estimates=estimates, dots=dots,
                 x_ticks=x_ticks, y_ticks=y_ticks, label=label)


# -- the member page's history section ------------------------------------------------------------
@dataclass
class ContributionLine:
    sentence: str
    points: str
    up: bool


@dataclass
class PillarChangeRow:
    name: str
    before: str
    after: str
    change: str
    up: bool
    down: bool
    reported: str | None  # the reported change, when both snapshots carry the pillar
    lines: list[ContributionLine] = field(default_factory=list)
    other: str | None = None  # the small contributions together


@dataclass
class PlanActionRow:
    text: str
    taken: bool
    status: str  # "Taken" / "Not taken"
    gain: str  # its predicted gain alone, signed


@dataclass
class PlanFigureRow:
    name: str  # "Total SSI" or a pillar
    predicted: str
    reported: str  # "–" when either snapshot lacks the reported figure
    estimated: str


@dataclass
class LastPlanView:
    """The member page's "Your last plan": the actions and the three kinds of change."""

    issued: str
    taken: str
    actions: list[PlanActionRow]
    figures: list[PlanFigureRow]
    note: str


def last_plan_view(plan: PlanFollowUp, latest: date, t: Texts) -> LastPlanView:
    """"Your last plan", worded in ``t``'s language; actions in the catalogue's words."""
    catalogue = load_catalogue()
    known = set(catalogue.ids)

    def text(action: PlanAction) -> str:
        return catalogue[action.lever].text[t.lang] if action.lever in known else action.text

    n_taken = sum(a.taken for a in plan.actions)
    estimated = plan.estimated_change

    def figure(key: str, name: str) -> PlanFigureRow:
        reported = plan.reported[key]
        return PlanFigureRow(name=name, predicted=t.signed(plan.predicted[key]),
                             reported="–" if reported is None else t.signed(reported),
                             estimated=t.signed(estimated[key]))

    return LastPlanView(
        issued=t.gettext("Issued on %(issued)s for the snapshot of %(date)s, with model "
                         "%(model)s version %(version)s.", issued=t.date(plan.issued_at),
                         date=t.date(plan.snapshot_date), model=plan.model_name,
                         version=plan.model_version) if plan.model_version else
        t.gettext("Issued on %(issued)s for the snapshot of %(date)s, with model %(model)s.",
                  issued=t.date(plan.issued_at), date=t.date(plan.snapshot_date),
                  model=plan.model_name),
        taken=t.ngettext("By %(date)s, %(taken)s of its %(num)s action was taken.",
                         "By %(date)s, %(taken)s of its %(num)s actions were taken.",
                         len(plan.actions), date=t.date(latest), taken=n_taken),
        actions=[PlanActionRow(text=text(a), taken=a.taken,
                               status=t.gettext("Taken") if a.taken else t.gettext("Not taken"),
                               gain=t.signed(a.gain[TOTAL])) for a in plan.actions],
        figures=[figure(TOTAL, t.gettext("Total SSI")),
                 *(figure(p, pillar_name(t, p)) for p in PILLARS)],
        note=t.gettext("Predicted gain: what the model expected from the whole plan when it was "
                       "issued (the actions together). Reported change: the SSI reported at the "
                       "latest snapshot minus the one reported at the plan's snapshot. Estimated "
                       "change: the model's estimate now minus its estimate in the plan. These "
                       "are observations, not proof that the plan caused the change: other "
                       "things change too."))


@dataclass
class HistoryView:
    """The member page's history section, worded in one language."""

    n: int
    total_chart: Chart
    pillar_charts: list[Chart]
    since: str | None  # the previous snapshot's date
    headline: str | None
    reported: str | None
    lines: list[ContributionLine]
    other: str | None
    pillars: list[PillarChangeRow]
    method_note: str | None
    plan: LastPlanView | None = None  # "Your last plan", when one was issued before


def _lines(t: Texts, columns: list[ColumnChange], pillar: str | None,
           limit: int) -> tuple[list[ContributionLine], str | None]:
    def points(c: ColumnChange) -> float:
        return c.total if pillar is None else c.pillars[pillar]  # type: ignore[index]

    ranked = sorted(columns, key=lambda c: (-abs(points(c)), c.column))
    big = [c for c in ranked if abs(points(c)) >= SHOWN][:limit]
    rest = [c for c in ranked if c not in big and points(c) != 0.0]
    lines = [ContributionLine(change_sentence(t, c, points(c)), t.signed(points(c)),
                              points(c) > 0) for c in big]
    other = None
    if rest:
        other = t.ngettext("%(num)s smaller change together: %(points)s points",
                           "%(num)s smaller changes together: %(points)s points",
                           len(rest), points=t.signed(sum(points(c) for c in rest)))
    return lines, other


def _reported_change(history: MemberHistory, key: str) -> float | None:
    prev, last = history.previous, history.latest
    if prev is None or last is None:
        return None
    a, b = prev.reported[key], last.reported[key]
    return None if a is None or b is None else b - a


def history_view(history: MemberHistory, t: Texts) -> HistoryView:
    """The chart and the "what changed" sentences of a member page, in ``t``'s language."""
    total_chart = _chart(t, history, TOTAL, t.gettext("Estimated SSI"), CONTRACT.total_max,
                         640.0, 220.0)
    # The charts are the pillars' first mention on the page: with LinkedIn's English name.
    pillar_charts = [_chart(t, history, p, t.pillar_first(p), CONTRACT.pillar_max, 300.0, 150.0)
                     for p in PILLARS]
    change = history.change
    prev = history.previous
    plan = (last_plan_view(history.plan, history.points[-1].snapshot_date, t)
            if history.plan is not None else None)
    if change is None or prev is None:
        return HistoryView(n=len(history.points), total_chart=total_chart,
                           pillar_charts=pillar_charts, since=None, headline=None, reported=None,
                           lines=[], other=None, pillars=[], method_note=None, plan=plan)
    since = t.date(prev.snapshot_date) or ""
    delta = change.total_change
    before, after = t.decimal(change.total_before), t.decimal(change.total_after)
    if not change.columns:
        headline = t.gettext("Nothing the model reads changed since %(date)s.", date=since)
    elif round(delta, 1) > 0:
        headline = t.gettext("Since %(date)s your estimated SSI rose by %(points)s points, from "
                             "%(before)s to %(after)s.", date=since, points=t.decimal(delta),
                             before=before, after=after)
    elif round(delta, 1) < 0:
        headline = t.gettext("Since %(date)s your estimated SSI fell by %(points)s points, from "
                             "%(before)s to %(after)s.", date=since, points=t.decimal(-delta),
                             before=before, after=after)
    else:
        headline = t.gettext("Since %(date)s your estimated SSI has stayed at %(after)s.",
                             date=since, after=after)
    reported = None
    reported_total = _reported_change(history, TOTAL)
    if reported_total is not None and history.latest and prev.reported[TOTAL] is not None:
        reported = t.gettext("The SSI you reported went from %(before)s to %(after)s (%(points)s).",
                             before=t.count(prev.reported[TOTAL] or 0.0),
                             after=t.count(history.latest.reported[TOTAL] or 0.0),
                             points=t.signed(reported_total,
                                             0 if float(reported_total).is_integer() else 1))
    lines, other = _lines(t, change.columns, None, MAX_SENTENCES)
    rows = []
    for p in PILLARS:
        pc = change.pillars[p]  # type: ignore[index]
        rep = _reported_change(history, p)
        row = PillarChangeRow(name=pillar_name(t, p), before=t.decimal(pc.before),
                              after=t.decimal(pc.after), change=t.signed(pc.change),
                              up=round(pc.change, 1) > 0, down=round(pc.change, 1) < 0,
                              reported=t.signed(rep) if rep is not None else None)
        row.lines, row.other = _lines(t, change.columns, p, 4)
        rows.append(row)
    note = (t.gettext("Each fact's share is its average effect over every order of making the "
                      "changes, so the shares add up to the change exactly.")
            if change.method == "exact_shapley" else
            t.gettext("Each fact's share is its average effect over many random orders of making "
                      "the changes; the shares add up to the change exactly.")
            if change.method == "sampled_shapley" else None)
    return HistoryView(n=len(history.points), total_chart=total_chart,
                       pillar_charts=pillar_charts, since=since, headline=headline,
                       reported=reported, lines=lines, other=other, pillars=rows,
                       method_note=note, plan=plan)


# -- the cohort page's trend column ----------------------------------------------------------------
@dataclass
class TrendView:
    change: str  # "+4.2" since the previous snapshot, or "–" with one snapshot
    change_raw: float
    up: bool
    down: bool
    since: str | None
    spark: str  # SVG polyline points (viewBox 0 0 80 22), empty with one snapshot
    label: str


def trend_view(history: MemberHistory, t: Texts) -> TrendView:
    """A client's trend for the cohort table: change since the previous snapshot and a sparkline."""
    totals = [p.estimated[TOTAL] for p in history.points]
    prev = history.previous
    if prev is None or len(totals) < 2:
        return TrendView(change="–", change_raw=0.0, up=False, down=False, since=None, spark="",
                         label=t.gettext("One snapshot so far"))
    delta = totals[-1] - totals[-2]
    lo, hi = min(totals), max(totals)
    spread = max(hi - lo, 4.0)  # a flat line for small wobbles, not a zig-zag
    mid = (hi + lo) / 2
    n = len(totals)
    spark = " ".join(f"{round(2 + 76 * i / (n - 1), 1)},"
                     f"{round(11 - 9 * (v - mid) / (spread / 2), 1)}"
                     for i, v in enumerate(totals))
    since = t.date(prev.snapshot_date)
    return TrendView(change=t.signed(delta), change_raw=round(delta, 3),
                     up=round(delta, 1) > 0, down=round(delta, 1) < 0, since=since, spark=spark,
                     label=t.gettext("%(points)s since %(date)s", points=t.signed(delta),
                                     date=since))
