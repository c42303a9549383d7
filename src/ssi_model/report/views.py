"""View models: what a coach reads, computed from explanation documents in one language.

Pure functions of an :class:`Explanation` (or a list of them) and a :class:`Texts`; the templates
only lay these out. Every fixed word comes from the locale catalogues through ``Texts``.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import yaml

from ssi_model.contract import CONTRACT, PILLARS
from ssi_model.explain.schema import Driver, Explanation, Gain, Lever, ModelInfo, Plan

from .history import HistoryView, MemberHistory, TrendView, history_view, trend_view
from .i18n import Texts

PILLAR_MAX = CONTRACT.pillar_max
TOTAL_MAX = CONTRACT.total_max
WINDOW_WEEKS = round(CONTRACT.window_days / 7)
CONTEXT_FIELDS = ("industry", "role_family", "seniority", "region", "subscription")
# A gain below this rounds to nothing in the report, so it is not listed per pillar.
GAIN_SHOWN = 0.05
# A page warns that its figures are less certain when at least this share of inputs is unknown.
MANY_UNKNOWN_SHARE = 0.25
HIST_BIN = 10.0


# -- coaching-guide benchmarks -------------------------------------------------------------------
@dataclass(frozen=True)
class Benchmark:
    low: float
    high: float | None
    role_family: str | None  # None: the guides' figure for the average member


@cache
def _benchmark_table() -> dict[str, Any]:
    text = (resources.files("ssi_model.report") / "coaching_targets.yaml").read_text("utf-8")
    table: dict[str, Any] = yaml.safe_load(text)
    return table


def coaching_benchmark(role_family: str | None) -> Benchmark:
    """The coaching guides' benchmark for a role family (hearsay; see coaching_targets.yaml)."""
    table = _benchmark_table()
    spec = table["roles"].get(role_family) if role_family else None
    if spec is None:
        return Benchmark(low=float(table["default"]["low"]),
                         high=_opt_float(table["default"]["high"]), role_family=None)
    return Benchmark(low=float(spec["low"]), high=_opt_float(spec["high"]), role_family=role_family)


def _opt_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


# -- small helpers ---------------------------------------------------------------------------------
def _pct(value: float, scale: float) -> float:
    """Position on a bar as a percentage of its width, clamped to the bar."""
    return round(min(max(value / scale * 100.0, 0.0), 100.0), 2)


def pillar_name(t: Texts, pillar: str) -> str:
    return t.key(f"pillar:{pillar}")


def pillar_short(t: Texts, pillar: str) -> str:
    return t.key(f"pillar_short:{pillar}")


def effort_text(t: Texts, minutes_per_week: float, one_off: bool, *, tagged: bool = False) -> str:
    """Weekly minutes of a habit; a one-off's total time (its weekly figure spreads it over the
    window). ``tagged``: the page marks one-offs separately, so leave the word out."""
    if one_off:
        total = t.count(max(5, int(round(minutes_per_week * WINDOW_WEEKS / 5.0) * 5)))
        if tagged:
            return t.gettext("about %(minutes)s min", minutes=total)
        return t.gettext("one-off, about %(minutes)s min", minutes=total)
    return t.gettext("%(minutes)s min/week", minutes=t.count(round(minutes_per_week)))


def driver_sentence(t: Texts, driver: Driver) -> str:
    """A plain-language sentence for one driver, from the per-column templates of the catalogue.

    The sentence compares the member's value with the peer median ("more"/"less" is read off the
    two numbers, so it is always true); whether the column pushes the pillar up or down is shown
    by the list the sentence sits in.
    """
    column = driver.column
    label = t.label("column", column)
    kind = CONTRACT[column].kind if column in CONTRACT else None
    value = driver.value
    if value is None:
        return t.key("driver:unknown", label=label)
    if kind == "bool" or isinstance(value, bool):
        key = f"driver:{column}:{'yes' if bool(value) else 'no'}"
        if t.has(key):
            return t.key(key)
        word = t.gettext("yes") if value else t.gettext("no")
        return t.key("driver:no_median", label=label, value=word)
    shown = t.count(float(value))
    if driver.peer_median is None:
        return t.key("driver:no_median", label=label, value=shown)
    median = t.typical(driver.peer_median)  # peers post "usually 46" times, not 45.5
    if shown == median:
        return t.key("driver:same", label=label, value=shown, median=median)
    direction = "more" if float(value) > driver.peer_median else "less"
    key = f"driver:{column}:{direction}"
    if not t.has(key):
        key = f"driver:{direction}"
        return t.key(key, label=label, value=shown, median=median)
    return t.key(key, value=shown, median=median)


def safe_link(href: str | None) -> str | None:
    """Relative links only: a page must not point anywhere outside the report folder."""
    if not href:
        return None
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or href.startswith(("/", "\\")):
        return None
    return href


# -- member page -----------------------------------------------------------------------------------
@dataclass
class DriverLine:
    sentence: str
    contribution: str


@dataclass
class PillarRow:
    key: str
    name: str
    short: str
    value: str
    lo: str
    hi: str
    peer: str
    vs_peer: str
    below_peer: bool
    est_pct: float
    lo_pct: float
    hi_pct: float
    peer_pct: float
    peer_estimate: str
    up: list[DriverLine] = field(default_factory=list)
    down: list[DriverLine] = field(default_factory=list)
    name_first: str = ""  # the name at its first mention on the page (with LinkedIn's English)


@dataclass
class GainPart:
    pillar: str
    value: str


@dataclass
class LeverRow:
    rank: int
    id: str
    text: str
    pillar: str
    gain: str
    parts: list[GainPart]
    effort: str
    effort_tagged: str
    one_off: bool
    bar_pct: float


@dataclass
class PlanView:
    items: list[LeverRow]
    gain: str
    parts: list[GainPart]
    singles_sum: str | None
    effort: str
    budget: str | None
    total_after: str


def _gain_parts(t: Texts, gain: Gain) -> list[GainPart]:
    """Gain per pillar, listed only when it spreads over more than one pillar."""
    parts = [GainPart(pillar_short(t, p), t.signed(getattr(gain, p)))
             for p in PILLARS if abs(getattr(gain, p)) >= GAIN_SHOWN]
    return parts if len(parts) > 1 else []


def _lever_row(t: Texts, lever: Lever, rank: int, best: float) -> LeverRow:
    return LeverRow(
        rank=rank, id=lever.id, text=lever.text, pillar=pillar_short(t, lever.pillar),
        gain=t.signed(lever.gain.total), parts=_gain_parts(t, lever.gain),
        effort=effort_text(t, lever.effort_minutes_per_week, lever.one_off),
        effort_tagged=effort_text(t, lever.effort_minutes_per_week, lever.one_off, tagged=True),
        one_off=lever.one_off,
        bar_pct=_pct(max(lever.gain.total, 0.0), best) if best > 0 else 0.0)


def _plan_effort(t: Texts, plan: Plan, levers: list[Lever]) -> str:
    """Weekly time of the plan's habits plus the one-off time, as a coach plans a week.

    ``plan.effort_minutes_per_week`` spreads one-off work over the window; shown alone, a plan
    of one-offs would read "2 min/week". Falls back to it when a lever is not in the list.
    """
    if len(levers) != len(plan.levers):
        return t.gettext("%(minutes)s min/week", minutes=t.count(round(
            plan.effort_minutes_per_week)))
    weekly = sum(lv.effort_minutes_per_week for lv in levers if not lv.one_off)
    once = sum(lv.effort_minutes_per_week for lv in levers if lv.one_off)
    if once and not weekly:
        return effort_text(t, once, one_off=True)
    if not once:
        return effort_text(t, weekly, one_off=False)
    return t.gettext("%(weekly)s plus %(once)s once",
                     weekly=effort_text(t, weekly, one_off=False),
                     once=effort_text(t, once, one_off=True, tagged=True))


def _plan_view(t: Texts, plan: Plan, levers: dict[str, Lever]) -> PlanView:
    items: list[LeverRow] = []
    found: list[Lever] = []
    singles = 0.0
    complete = True
    for rank, lever_id in enumerate(plan.levers, start=1):
        lever = levers.get(lever_id)
        if lever is None:  # the plan names a lever the list does not carry: show its id
            complete = False
            items.append(LeverRow(rank, lever_id, lever_id, "", "", [], "", "", False, 0.0))
            continue
        singles += lever.gain.total
        found.append(lever)
        items.append(_lever_row(t, lever, rank, 0.0))
    show_sum = complete and len(items) > 1
    return PlanView(
        items=items, gain=t.signed(plan.gain.total), parts=_gain_parts(t, plan.gain),
        singles_sum=t.signed(singles) if show_sum else None,
        effort=_plan_effort(t, plan, found),
        budget=(t.gettext("%(minutes)s min/week", minutes=t.count(round(plan.budget_minutes)))
                if plan.budget_minutes is not None else None),
        total_after=t.decimal(plan.total_after))


def _range_text(t: Texts, low: float, high: float | None) -> str:
    if high is None:
        return t.gettext("%(low)s+", low=t.count(low))
    return t.gettext("%(low)s–%(high)s", low=t.count(low), high=t.count(high))


@dataclass
class TotalView:
    value: str
    lo: str
    hi: str
    est_pct: float
    lo_pct: float
    hi_pct: float
    peer: str
    peer_pct: float
    top: str


@dataclass
class BenchView:
    label: str
    range: str
    low_pct: float
    high_pct: float
    open_ended: bool


@dataclass
class PeerGroupView:
    group: str
    n: str
    total: str


@dataclass
class TargetView:
    target: str
    reachable: bool
    already: bool  # the member's estimate is at or above the target without a plan
    plan: PlanView | None
    best_total: str


@dataclass
class TipLine:
    pillar: str
    text: str


@dataclass
class ModelLine:
    name: str
    version: str | None
    trained: str | None


@dataclass
class ProvenanceView:
    """What the model learnt from, as a page says it; a simulated-only model's figures are
    illustrative (a warning on top, and its ranges are not labelled 90 %)."""

    illustrative: bool
    text: str
    range_label: str


def provenance_view(model: ModelInfo, t: Texts) -> ProvenanceView:
    n = t.count(model.n_reported or 0)
    text = {
        "simulated": t.gettext("Trained on simulated members only: no real reported scores yet."),
        "reported": t.gettext("Trained on %(n)s reported SSI scores.", n=n),
        "prior+reported": t.gettext("Trained on %(n)s reported SSI scores, correcting a model "
                                    "of simulated members.", n=n),
        None: t.gettext("This model does not record what it was trained on."),
    }[model.trained_on]
    return ProvenanceView(
        illustrative=model.illustrative, text=text,
        range_label=(t.gettext("Illustrative range") if model.illustrative
                     else t.gettext("Likely range (90%%)")))


@dataclass
class MemberView:
    """Everything the member page shows, worded and formatted in one language."""

    lang: str
    member_id: str
    generated_on: str | None
    context: list[tuple[str, str]]  # (column label, value label)
    total: TotalView
    bench: BenchView
    peers: PeerGroupView
    pillars: list[PillarRow]
    levers: list[LeverRow]
    plan: PlanView | None
    plan_after_gain: str | None
    target: TargetView | None
    tips: list[TipLine]
    unknown: list[str]  # labels of the inputs the model estimated without
    many_unknown: bool
    n_unknown: int
    n_inputs: int
    model: ModelLine
    provenance: ProvenanceView
    history: HistoryView | None = None  # the chart and "what changed", with a history


def member_view(doc: Explanation, t: Texts, generated_on: date,
                history: MemberHistory | None = None) -> MemberView:
    """Everything the member page shows, already worded and formatted in ``t``'s language."""
    pred = doc.prediction
    peers = doc.peers
    context = {k: doc.context.get(k) for k in CONTEXT_FIELDS}
    industry = context["industry"]
    role = context["role_family"]

    pillars: list[PillarRow] = []
    for p in PILLARS:
        est = float(getattr(pred, f"ssi_{p}"))
        lo = float(getattr(pred, f"ssi_{p}_lo"))
        hi = float(getattr(pred, f"ssi_{p}_hi"))
        peer = float(peers.pillar_means.get(p, 0.0))  # type: ignore[call-overload]
        drivers = doc.drivers.get(p)  # type: ignore[call-overload]
        row = PillarRow(
            key=p, name=pillar_name(t, p), short=pillar_short(t, p), value=t.decimal(est),
            lo=t.decimal(lo), hi=t.decimal(hi), peer=t.decimal(peer), vs_peer=t.signed(est - peer),
            below_peer=round(est - peer, 1) < 0, est_pct=_pct(est, PILLAR_MAX),
            lo_pct=_pct(lo, PILLAR_MAX), hi_pct=_pct(hi, PILLAR_MAX),
            peer_pct=_pct(peer, PILLAR_MAX),
            peer_estimate=t.decimal(drivers.peer_estimate) if drivers else "",
            name_first=t.pillar_first(p))
        if drivers is not None:
            row.up = [DriverLine(driver_sentence(t, d), t.signed(d.contribution))
                      for d in drivers.up]
            row.down = [DriverLine(driver_sentence(t, d), t.signed(d.contribution))
                        for d in drivers.down]
        pillars.append(row)

    bench = coaching_benchmark(role)
    bench_range = _range_text(t, bench.low, bench.high)
    if bench.role_family is not None:
        bench_label = t.gettext("Coaching-guide benchmark for %(role)s: %(range)s",
                                role=t.label("role_family", bench.role_family), range=bench_range)
    else:
        bench_label = t.gettext("Coaching-guide benchmark for the average member: %(range)s",
                                range=bench_range)

    if peers.level == "industry_role":
        peer_group = t.gettext("%(industry)s · %(role)s",
                               industry=t.label("industry", peers.industry),
                               role=t.label("role_family", peers.role_family))
    elif peers.level == "industry":
        peer_group = t.gettext("everyone in %(industry)s",
                               industry=t.label("industry", peers.industry))
    else:
        peer_group = t.gettext("all members")

    top_text = t.rank(pred.industry_top_pct, industry or None)

    by_id = {lever.id: lever for lever in doc.levers}
    best = max((lever.gain.total for lever in doc.levers), default=0.0)
    levers = [_lever_row(t, lever, i, best) for i, lever in enumerate(doc.levers, start=1)]
    plan = _plan_view(t, doc.plan, by_id) if doc.plan is not None and doc.plan.levers else None

    target: TargetView | None = None
    if doc.target is not None:
        tp = doc.target.plan
        target = TargetView(
            target=t.count(doc.target.target),
            reachable=doc.target.reachable,
            already=(doc.target.reachable and (tp is None or not tp.levers)
                     and pred.ssi_total >= doc.target.target),
            plan=_plan_view(t, tp, by_id) if tp is not None and tp.levers else None,
            best_total=t.decimal(doc.target.best_total),
        )

    n_inputs = len([c for c in CONTRACT.input_columns
                    if c not in ("member_id", "snapshot_date")])
    return MemberView(
        lang=doc.lang,
        member_id=doc.member_id,
        generated_on=t.date(generated_on),
        context=[(t.label("column", k), t.label(k, v)) for k, v in context.items()],
        total=TotalView(
            value=t.decimal(pred.ssi_total), lo=t.decimal(pred.ssi_total_lo),
            hi=t.decimal(pred.ssi_total_hi), est_pct=_pct(pred.ssi_total, TOTAL_MAX),
            lo_pct=_pct(pred.ssi_total_lo, TOTAL_MAX),
            hi_pct=_pct(pred.ssi_total_hi, TOTAL_MAX),
            peer=t.decimal(peers.total_mean), peer_pct=_pct(peers.total_mean, TOTAL_MAX),
            top=top_text,
        ),
        bench=BenchView(
            label=bench_label,
            range=bench_range,
            low_pct=_pct(bench.low, TOTAL_MAX),
            high_pct=_pct(bench.high if bench.high is not None else TOTAL_MAX, TOTAL_MAX),
            open_ended=bench.high is None,
        ),
        peers=PeerGroupView(group=peer_group, n=t.count(peers.n),
                            total=t.decimal(peers.total_mean)),
        pillars=pillars,
        levers=levers,
        plan=plan,
        plan_after_gain=t.signed(doc.plan.gain.total) if plan and doc.plan else None,
        target=target,
        tips=[TipLine(pillar=pillar_short(t, tip.pillar), text=tip.text) for tip in doc.tips],
        unknown=[t.label("column", c) for c in doc.unknown],
        many_unknown=len(doc.unknown) >= MANY_UNKNOWN_SHARE * n_inputs,
        n_unknown=len(doc.unknown),
        n_inputs=n_inputs,
        model=ModelLine(name=doc.model.name, version=doc.model.version,
                        trained=t.date(doc.model.trained_at)),
        provenance=provenance_view(doc.model, t),
        history=history_view(history, t) if history is not None and history.points else None,
    )


# -- cohort page -----------------------------------------------------------------------------------
@dataclass
class CohortRow:
    member_id: str
    href: str | None
    total: str
    total_raw: float
    range: str
    pillars: list[tuple[str, float]]
    top: str
    top_raw: float
    plan_gain: str
    plan_gain_raw: float
    trend: TrendView | None = None


def _weakest(doc: Explanation, against_peers: bool) -> str:
    def score(p: str) -> float:
        value = float(getattr(doc.prediction, f"ssi_{p}"))
        if against_peers:
            value -= float(doc.peers.pillar_means.get(p, 0.0))  # type: ignore[call-overload]
        return value
    return min(PILLARS, key=score)


def _histogram(totals: list[float], t: Texts) -> dict[str, Any]:
    """Geometry of an SVG histogram of totals in bins of 10 points (viewBox 400 wide)."""
    n_bins = int(TOTAL_MAX // HIST_BIN)
    counts = [0] * n_bins
    for total in totals:
        counts[min(int(total // HIST_BIN), n_bins - 1)] += 1
    # The median's label sits in its own band above the count labels, so they never overlap.
    left, right, top, bottom = 12.0, 388.0, 40.0, 178.0
    width = (right - left) / n_bins
    peak = max(counts) or 1
    bars = []
    for i, count in enumerate(counts):
        h = (bottom - top) * count / peak
        bars.append({"x": round(left + i * width + 2, 2), "w": round(width - 4, 2),
                     "y": round(bottom - h, 2), "h": round(h, 2), "count": count,
                     "cx": round(left + (i + 0.5) * width, 2),
                     "label": t.gettext("%(low)s–%(high)s", low=t.count(i * HIST_BIN),
                                        high=t.count((i + 1) * HIST_BIN)),
                     })
    ticks = [{"x": round(left + i * width, 2), "label": t.count(i * HIST_BIN)}
             for i in range(n_bins + 1)]
    median = statistics.median(totals) if totals else 0.0
    median_x = round(left + (right - left) * median / TOTAL_MAX, 2)
    return {"bars": bars, "ticks": ticks, "bottom": bottom, "top": top, "left": left,
            "right": right, "height": bottom + 38, "label_y": 14.0, "median_x": median_x,
            "median_anchor": "end" if median_x > (left + right) / 2 else "start",
            "median": t.decimal(median)}


def cohort_view(docs: list[Explanation], t: Texts, member_links: dict[str, str],
                generated_on: date,
                histories: Mapping[str, MemberHistory] | None = None) -> dict[str, Any]:
    """Everything the client-list page shows; with ``histories`` (by member id), each trend."""
    histories = histories or {}
    rows = []
    for doc in docs:
        history = histories.get(doc.member_id)
        pred = doc.prediction
        plan_gain = doc.plan.gain.total if doc.plan is not None and doc.plan.levers else 0.0
        rows.append(CohortRow(
            member_id=doc.member_id, href=safe_link(member_links.get(doc.member_id)),
            total=t.decimal(pred.ssi_total), total_raw=round(pred.ssi_total, 3),
            range=t.gettext("%(low)s–%(high)s", low=t.decimal(pred.ssi_total_lo),
                            high=t.decimal(pred.ssi_total_hi)),
            pillars=[(t.decimal(getattr(pred, f"ssi_{p}")),
                      round(float(getattr(pred, f"ssi_{p}")), 3)) for p in PILLARS],
            top=t.rank_short(pred.industry_top_pct),
            top_raw=round(max(1.0, pred.industry_top_pct), 3),
            plan_gain=t.signed(plan_gain), plan_gain_raw=round(plan_gain, 3),
            trend=trend_view(history, t) if history is not None and history.points else None))
    rows.sort(key=lambda r: (-r.total_raw, r.member_id))

    n = len(docs)
    totals = [float(d.prediction.ssi_total) for d in docs]
    weakest = Counter(_weakest(d, against_peers=False) for d in docs)
    below_peers = Counter(_weakest(d, against_peers=True) for d in docs)

    lever_counts: Counter[str] = Counter()
    lever_text: dict[str, str] = {}
    for doc in docs:
        if doc.plan is not None:
            lever_counts.update(doc.plan.levers)
        for lever in doc.levers:
            # Lever texts are translated per document: prefer one in the page's language.
            if doc.lang == t.lang or lever.id not in lever_text:
                lever_text[lever.id] = lever.text
    n_plans = sum(1 for d in docs if d.plan is not None and d.plan.levers)
    top_levers = [
        {"text": lever_text.get(lid, lid), "count": count,
         "share": t.ngettext("in %(num)s of %(total)s plans", "in %(num)s of %(total)s plans",
                             count, total=n_plans) if n_plans else "",
         "bar_pct": _pct(count, max(n_plans, 1))}
        for lid, count in lever_counts.most_common(8)
    ]

    def pillar_stat(counter: Counter[str]) -> dict[str, Any] | None:
        if not counter:
            return None
        pillar, count = counter.most_common(1)[0]
        return {"name": t.pillar_first(pillar),  # the first mention on the page
                "share": t.ngettext("%(num)s of %(total)s clients", "%(num)s of %(total)s clients",
                                    count, total=n),
                "all": [{"name": pillar_short(t, p), "count": counter.get(p, 0),
                         "bar_pct": _pct(counter.get(p, 0), max(n, 1))} for p in PILLARS]}

    versions: dict[str, set[str]] = {}
    for doc in docs:
        versions.setdefault(doc.model.name, set()).update(
            [doc.model.version] if doc.model.version else [])
    models = [f"{name} {', '.join(sorted(v))}".strip() for name, v in sorted(versions.items())]
    # One sentence per distinct training origin (a list may mix models); any illustrative
    # model puts the warning on the page.
    origins = {(d.model.trained_on, d.model.n_reported): d.model for d in docs}
    provenance = [provenance_view(model, t) for model in origins.values()]
    return {
        "lang": t.lang,
        "generated_on": t.date(generated_on),
        "n": n,
        "n_text": t.ngettext("%(num)s client", "%(num)s clients", n),
        "median": t.decimal(statistics.median(totals)) if totals else "–",
        "mean": t.decimal(statistics.fmean(totals)) if totals else "–",
        "rows": rows,
        "pillar_short": [pillar_short(t, p) for p in PILLARS],
        "pillar_names": [pillar_name(t, p) for p in PILLARS],
        "histogram": _histogram(totals, t),
        "weakest": pillar_stat(weakest),
        "below_peers": pillar_stat(below_peers),
        "top_levers": top_levers,
        "models": models,
        "provenance": list(dict.fromkeys(p.text for p in provenance)),
        "illustrative": any(p.illustrative for p in provenance),
        "trends": any(r.trend is not None for r in rows),
    }
