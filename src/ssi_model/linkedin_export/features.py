"""Counts from the export's tables -> contract columns (reference §6, SSI feature map).

Pure functions of the parsed tables: no I/O. Only counts, lengths and rule-derived categories leave
this module; names, URLs and text are used in memory (to match connections, tell sent from
received messages) and dropped.

Rules that decide "zero" versus "unknown":
* a file that is present and readable is counted;
* a missing file means zero only when the archive proves the section empty (``absence_proof``):
  its type is known from its name or its Complete-only files, it is whole (it holds the files
  every export holds, ``whole_archive_requires``), and LinkedIn would have shipped the file had
  there been data: always for categories the Basic archive carries (``in_basic`` in rules.yaml),
  for the rest only in a Complete archive. Otherwise (a partial or re-packed archive) the column
  is unknown;
* a file that could not be read, or was cut at the row limit, supplies nothing (its columns stay
  unknown; the reader names the file and the reason).

Definitions of the derived counts (all windows are the 90 days ending at the window end):
* ``connections_count``: rows of Connections.csv connected on or before the window end, minus
  "ghost" rows (only ``Connected On`` set); ``vp_plus_connections`` / ``coworker_connections``:
  those whose current position matches the VP+ keywords / whose company equals one of the member's
  current employers (Positions without an end date).
* ``invitations_sent_90d``: OUTGOING invitations sent in the window; ``invitations_accepted_90d``:
  those whose invitee is now a connection (matched on profile URL, else on name), connected on or
  after the day the invitation was sent.
* ``messages_sent_90d`` / ``messages_received_90d``: non-draft messages in the window from / to the
  member (messages without a sender, i.e. system or sponsored, are neither);
  ``messages_replied_90d``: conversations with an inbound message in the window that the member
  answered, i.e. later wrote in the same conversation by the window end.
* ``posts_90d``: Shares in the window that are not reshares; ``reshares_90d``: Shares whose shared
  URL is a LinkedIn post and that carry the member's commentary (one-click reposts without text,
  and InstantReposts, are neither; they still make an active day).
* ``days_active_90d``: distinct days in the window with a member-initiated timestamped action in
  any of the files listed under ``activity_days`` (Complete archives only: the Basic one lacks the
  activity files, so the count would be a gross undercount).
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import unquote

from ssi_model.contract import parse_bool_word

from .articles import Article
from .csvfiles import Table
from .rules import Rules, load_rules, normalise_text

ArchiveKind = Literal["basic", "complete"]
Availability = Literal["read", "zero", "unknown"]

_LINKEDIN_POST = re.compile(
    r"linkedin\.com/(?:feed/update|posts|pulse)/|urn:li:(?:activity|share|ugcpost)", re.IGNORECASE
)
_OUTGOING = frozenset({"outgoing", "sent", "outbox"})
_INCOMING = frozenset({"incoming", "received", "inbox"})
# days_active sources computed by other features, and the file each comes from
_EXTRA_SOURCES = {"messages_sent": "messages.csv", "invitations_sent": "Invitations.csv",
                  "articles": ""}


@dataclass(frozen=True)
class Window:
    """The days counted: ``start`` .. ``end`` inclusive (90 days), i.e. (end - 90 d, end]."""

    start: date
    end: date

    @classmethod
    def ending(cls, end: date, days: int) -> Window:
        return cls(start=end - timedelta(days=days - 1), end=end)

    def contains(self, when: datetime | date | None) -> bool:
        if when is None:
            return False
        day = when.date() if isinstance(when, datetime) else when
        return self.start <= day <= self.end

    def not_after_end(self, when: datetime | None) -> bool:
        """Undated records count as existing; dated ones only up to the window end."""
        return when is None or when.date() <= self.end


@dataclass
class Findings:
    """Values the archive supplied, with where they came from, and the reader's warnings."""

    values: dict[str, Any] = field(default_factory=dict)
    from_archive: set[str] = field(default_factory=set)
    derived: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # columns left unknown for a reason the file statuses alone do not tell (column -> why)
    unknown_reasons: dict[str, str] = field(default_factory=dict)

    def supply(self, column: str, value: Any) -> None:
        if value is None:
            return
        self.values[column] = value
        self.from_archive.add(column)

    def derive(self, column: str, value: str, note: str) -> None:
        self.values[column] = value
        self.derived[column] = note


@dataclass
class ExportData:
    """Everything the feature functions read."""

    tables: dict[str, Table]
    articles: list[Article]
    kind: ArchiveKind
    window: Window
    export_date: date
    rules: Rules = field(default_factory=load_rules)
    # why a missing file proves its section empty ("a Complete export (named so) holding
    # Profile.csv"); None: it proves nothing (the archive's type is a guess, or it is partial)
    absence_proof: str | None = None
    absence_doubt: str | None = None  # why it proves nothing, when it does not
    unreadable: dict[str, str] = field(default_factory=dict)  # file -> why it was not read

    def availability(self, canonical: str) -> Availability:
        table = self.tables.get(canonical)
        if table is not None:
            return "unknown" if table.truncated else "read"
        if canonical in self.unreadable or self.absence_proof is None:
            return "unknown"
        spec = self.rules.files[canonical]
        return "zero" if spec.in_basic or self.kind == "complete" else "unknown"

    def rows(self, canonical: str) -> list[tuple[int, list[str]]]:
        table = self.tables.get(canonical)
        return table.rows if table is not None else []

    def count_in_window(self, canonical: str, logical: str = "date") -> int | None:
        status = self.availability(canonical)
        if status != "read":
            return 0 if status == "zero" else None
        dates = self.tables[canonical].dates(logical)
        return sum(1 for when in dates if self.window.contains(when))

    def days_in_window(self, canonical: str, logical: str = "date") -> set[date]:
        table = self.tables.get(canonical)
        if table is None or not table.has(logical):
            return set()
        return {w.date() for w in table.dates(logical) if w is not None and self.window.contains(w)}


# ---------------------------------------------------------------------------------------------
# Small helpers


_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
_LINKEDIN_HOST = re.compile(r"^(?:www|[a-z]{2})\.linkedin\.com")


@lru_cache(maxsize=65536)
def normalise_url(url: str) -> str:
    """Comparable profile URL: no scheme, no ``www.``, no query, no trailing slash, lower case."""
    text = unquote(url.strip()).casefold()
    text = _LINKEDIN_HOST.sub("linkedin.com", _SCHEME.sub("", text))
    return text.split("?", 1)[0].split("#", 1)[0].rstrip("/")


def is_profile_url(url: str) -> bool:
    return "linkedin.com/in/" in url


def _person_key(first: str, last: str) -> str:
    return normalise_text(f"{first} {last}")


@lru_cache(maxsize=65536)
def is_vp_plus(position: str) -> bool:
    rule = load_rules().vp_plus
    text = normalise_text(position)
    return bool(text) and rule.keywords.find(text) is not None and rule.unless.find(text) is None


@lru_cache(maxsize=65536)
def company_key(name: str) -> str:
    suffixes = load_rules().company_legal_suffixes
    words = normalise_text(name).split()
    kept = [w for w in words if w not in suffixes]
    return " ".join(kept or words)


# ---------------------------------------------------------------------------------------------
# Profile (brand) and context


def profile_features(data: ExportData, findings: Findings) -> None:
    """Headline/About lengths, industry and region from Profile.csv (+ Profile Summary.csv)."""
    profile = data.tables.get("Profile.csv")
    summary_table = data.tables.get("Profile Summary.csv")
    fallback_about = ""
    if summary_table is not None:
        fallback_about = next((v for v in summary_table.values("summary") if v), "")
    if profile is None or not profile.rows:
        if profile is not None:
            findings.warnings.append("Profile.csv: no data row; profile columns left unknown")
        else:
            findings.warnings.append("Profile.csv: missing; profile columns left unknown")
        if fallback_about:
            findings.supply("about_chars", _text_length(fallback_about))
        return
    if len(profile.rows) > 1:
        findings.warnings.append(f"Profile.csv: {len(profile.rows)} data rows; read the first")
    fields = profile.rows[0][1]
    findings.supply("headline_chars", _text_length(profile.cell(fields, "headline")))
    about = profile.cell(fields, "summary") if profile.has("summary") else ""
    if profile.has("summary") or fallback_about:
        findings.supply("about_chars", _text_length(about or fallback_about))

    industry_text = profile.cell(fields, "industry")
    if industry_text:
        hit = data.rules.industry.match(industry_text)
        if hit:
            findings.derive("industry", hit[0], f"industry rule '{hit[1]}'")
        else:
            findings.warnings.append(
                "industry: the profile's industry matches no rule; left unknown (override it)"
            )
    location = profile.cell(fields, "geo_location") or profile.cell(fields, "country")
    if location:
        region = _region(data.rules, location)
        if region:
            findings.derive("region", region[0], f"location rule '{region[1]}'")
        else:
            findings.warnings.append(
                "region: the profile's location matches no rule; left unknown (override it)"
            )


def _text_length(text: str) -> int:
    """The length LinkedIn shows: HTML entities in the export (``&amp;``) are one character."""
    return len(html.unescape(text).replace("\r\n", "\n").strip())


def _region(rules: Rules, location: str) -> tuple[str, str] | None:
    last = location.rsplit(",", 1)[-1]
    return rules.region.match(last) or rules.region.match(location)


def profile_name_key(data: ExportData) -> str | None:
    """The member's own name, normalised (used in memory only: to tell sent messages, and as the
    last resort behind the pseudonymous member id)."""
    profile = data.tables.get("Profile.csv")
    if profile is None or not profile.rows:
        return None
    fields = profile.rows[0][1]
    key = _person_key(profile.cell(fields, "first_name"), profile.cell(fields, "last_name"))
    return key or None


def positions_features(data: ExportData, findings: Findings) -> set[str] | None:
    """Position counts, role family and seniority from the current title; returns the member's
    current employers (normalised) or ``None`` if unknown."""
    status = data.availability("Positions.csv")
    if status == "unknown":
        return None
    if status == "zero":
        findings.supply("positions_count", 0)
        findings.supply("positions_with_description", 0)
        return set()
    table = data.tables["Positions.csv"]
    findings.supply("positions_count", len(table.rows))
    findings.supply(
        "positions_with_description",
        sum(1 for _, f in table.rows if table.cell(f, "description")),
    )
    started = table.dates("started_on") if table.has("started_on") else [None] * len(table.rows)
    current: list[tuple[datetime, str, str]] = []
    for (_, fields), start in zip(table.rows, started, strict=True):
        if table.cell(fields, "finished_on"):
            continue
        if start is not None and start.date() > data.window.end:
            continue
        current.append((start or datetime.min, table.cell(fields, "title"),
                        table.cell(fields, "company")))
    if not current:
        findings.warnings.append(
            "Positions.csv: no current position (every position has an end date); role family, "
            "seniority and coworker connections left unknown"
        )
        return None
    current.sort(key=lambda c: c[0], reverse=True)
    title = current[0][1]
    for column, rule_list in (("role_family", data.rules.role_family),
                              ("seniority", data.rules.seniority)):
        hit = rule_list.match(title)
        if hit:
            findings.derive(column, hit[0], f"title rule '{hit[1]}'")
        else:
            findings.warnings.append(
                f"{column}: the current title matches no rule; left unknown (override it)"
            )
    employers = {company_key(c[2]) for c in current if c[2]}
    return employers or None


def simple_counts(data: ExportData, findings: Findings) -> None:
    """Section sizes: education, skills, languages, certifications."""
    for canonical, column, logical in (
        ("Education.csv", "education_count", "school"),
        ("Skills.csv", "skills_count", "name"),
        ("Languages.csv", "languages_count", "name"),
        ("Certifications.csv", "certifications_count", "name"),
    ):
        status = data.availability(canonical)
        if status == "zero" and canonical == "Skills.csv" and _endorsed_skills(data):
            # Endorsements of named skills prove the member lists skills: the file is missing from
            # this archive, not empty on the profile.
            findings.unknown_reasons[column] = (
                "Skills.csv is not in the archive, but Endorsement_Received_Info.csv shows "
                "endorsements of named skills, so the section is not empty"
            )
        elif status == "zero":
            findings.supply(column, 0)
        elif status == "read":
            table = data.tables[canonical]
            findings.supply(column, sum(1 for v in table.values(logical) if v))


def _endorsed_skills(data: ExportData) -> bool:
    table = data.tables.get("Endorsement_Received_Info.csv")
    return table is not None and any(
        table.cell(f, "skill") and _visible(data, table, f) for _, f in table.rows
    )


def _visible(data: ExportData, table: Table, fields: list[str]) -> bool:
    """Shown on the profile: neither its status nor its display status (endorsements) hides it."""
    hidden = data.rules.hidden_statuses
    return (table.cell(fields, "status").casefold() not in hidden
            and table.cell(fields, "display_status").casefold() not in hidden)


def endorsement_and_recommendation_counts(data: ExportData, findings: Findings) -> None:
    for canonical, column in (
        ("Endorsement_Received_Info.csv", "endorsements_received"),
        ("Recommendations_Received.csv", "recommendations_received"),
        ("Recommendations_Given.csv", "recommendations_given"),
    ):
        status = data.availability(canonical)
        if status == "zero":
            findings.supply(column, 0)
        elif status == "read":
            table = data.tables[canonical]
            findings.supply(column, sum(
                1 for (_, f), when in zip(table.rows, table.dates("date"), strict=True)
                if _visible(data, table, f) and data.window.not_after_end(when)
            ))


def account_age(data: ExportData, findings: Findings) -> None:
    table = data.tables.get("Registration.csv")
    if table is None:
        return
    dates = [d for d in table.dates("registered_at") if d is not None]
    if not dates:
        return
    registered = min(dates).date()
    end = data.window.end
    months = (end.year - registered.year) * 12 + end.month - registered.month
    if end.day < registered.day:
        months -= 1
    findings.supply("account_age_months", months)


def subscription(data: ExportData, findings: Findings) -> None:
    """The plan at the window end: a receipt whose billing period covers it, else Registration's
    "Subscription Types"; unknown otherwise (employer-paid Sales Navigator leaves no receipt)."""
    rules = data.rules
    best: tuple[datetime, str, str] | None = None
    for canonical in ("Receipts.csv", "Receipts_v2.csv"):
        table = data.tables.get(canonical)
        if table is None:
            continue
        for (_, fields), when in zip(table.rows, table.dates("date"), strict=True):
            if when is None or when.date() > data.window.end:
                continue
            if _is_refund(table.cell(fields, "total")):
                continue
            description = table.cell(fields, "description")
            hit = rules.subscription_receipts.match(description)
            if hit is None:
                continue
            annual = rules.annual_keywords.find(normalise_text(description)) is not None
            period = rules.annual_days if annual else rules.monthly_days
            if when.date() + timedelta(days=period) >= data.window.end and (
                best is None or when > best[0]
            ):
                best = (when, hit[0], hit[1])
    if best is not None:
        findings.derive("subscription", best[1], f"receipt rule '{best[2]}'")
        return
    registration = data.tables.get("Registration.csv")
    if registration is not None and registration.has("subscription_types"):
        for value in registration.values("subscription_types"):
            hit = rules.subscription_registration.match(value)
            if hit:
                findings.derive("subscription", hit[0], f"registration rule '{hit[1]}'")
                return


def _is_refund(total: str) -> bool:
    text = total.replace(",", ".").strip()
    return text.startswith("-") or text.startswith("(")


def rich_media_flags(data: ExportData, findings: Findings) -> None:
    """has_photo / has_banner = True when an upload event proves it; never False (the file covers
    recent uploads only, so no event says nothing)."""
    table = data.tables.get("Rich_Media.csv")
    if table is None:
        return
    rules = data.rules
    photo = banner = False
    for (_, fields), when in zip(table.rows, table.dates("when"), strict=True):
        if not data.window.not_after_end(when):
            continue
        text = normalise_text(f"{table.cell(fields, 'when')} {table.cell(fields, 'description')}")
        if rules.banner.find(text) and not rules.unless_banner.find(text):
            banner = True
        elif rules.photo.find(text) and not rules.unless_photo.find(text):
            photo = True
    if photo:
        findings.supply("has_photo", True)
    if banner:
        findings.supply("has_banner", True)


def groups_count(data: ExportData, findings: Findings) -> None:
    """Groups joined: the ``Member Groups`` list of Ad_Targeting.csv (the only group data in a
    current export), else a legacy Groups.csv."""
    table = data.tables.get("Ad_Targeting.csv")
    if table is not None and table.rows:
        cell = table.cell(table.rows[0][1], "groups")
        separator = next((s for s in data.rules.list_separators if s in cell), None)
        items = cell.split(separator) if separator else [cell]
        findings.supply("groups_count", sum(1 for i in items if i.strip()))
        return
    groups = data.tables.get("Groups.csv")
    if groups is not None and not groups.truncated:
        findings.supply("groups_count", sum(1 for v in groups.values("name") if v))


# ---------------------------------------------------------------------------------------------
# Network (relationships)


@dataclass
class Network:
    """Connections in memory, keyed for matching invitations (never output)."""

    by_url: dict[str, list[datetime | None]] = field(default_factory=dict)
    by_name: dict[str, list[datetime | None]] = field(default_factory=dict)
    known: bool = False


def connection_features(
    data: ExportData, findings: Findings, employers: set[str] | None
) -> Network:
    network = Network()
    status = data.availability("Connections.csv")
    if status == "unknown":
        return network
    network.known = True
    if status == "zero":
        for column in ("connections_count", "vp_plus_connections", "coworker_connections"):
            findings.supply(column, 0)
        return network
    table = data.tables["Connections.csv"]
    identity = [c for c in ("first_name", "last_name", "url", "email", "company", "position")
                if table.has(c)]
    count = vp = coworkers = ghosts = 0
    for (_, fields), when in zip(table.rows, table.dates("connected_on"), strict=True):
        if not any(table.cell(fields, c) for c in identity):
            ghosts += 1
            continue
        if not data.window.not_after_end(when):
            continue
        count += 1
        if is_vp_plus(table.cell(fields, "position")):
            vp += 1
        company = table.cell(fields, "company")
        if employers and company and company_key(company) in employers:
            coworkers += 1
        url = normalise_url(table.cell(fields, "url"))
        if url:
            network.by_url.setdefault(url, []).append(when)
        name = _person_key(table.cell(fields, "first_name"), table.cell(fields, "last_name"))
        if name:
            network.by_name.setdefault(name, []).append(when)
    if ghosts:
        findings.warnings.append(
            f"Connections.csv: {ghosts} ghost row(s) (only a date, no person) not counted"
        )
    findings.supply("connections_count", count)
    findings.supply("vp_plus_connections", vp)
    if employers:
        findings.supply("coworker_connections", coworkers)
    return network


def own_profile_url(data: ExportData) -> str | None:
    """The member's profile URL: inviter of OUTGOING invitations, else the URL present in the
    most conversations (the member takes part in all of them). Used in memory only."""
    invitations = data.tables.get("Invitations.csv")
    if invitations is not None and invitations.has("inviter_url"):
        urls = Counter(
            normalise_url(invitations.cell(f, "inviter_url")) for _, f in invitations.rows
            if invitations.cell(f, "direction").casefold() in _OUTGOING
        )
        urls = Counter({u: n for u, n in urls.items() if is_profile_url(u)})
        if urls:
            return urls.most_common(1)[0][0]
    messages = data.tables.get("messages.csv")
    if messages is not None and messages.has("sender_url"):
        participants: dict[str, set[str]] = {}
        for _, f in messages.rows:
            conversation = messages.cell(f, "conversation")
            people = participants.setdefault(conversation, set())
            sender = normalise_url(messages.cell(f, "sender_url"))
            if sender:
                people.add(sender)
            for url in messages.cell(f, "recipient_urls").split(","):
                if url.strip():
                    people.add(normalise_url(url))
        counts = Counter(u for people in participants.values() for u in people if is_profile_url(u))
        if counts:
            return counts.most_common(1)[0][0]
    return None


def invitation_features(data: ExportData, findings: Findings, network: Network) -> list[date]:
    """Returns the days the member sent invitations in the window (an activity)."""
    status = data.availability("Invitations.csv")
    if status == "unknown":
        return []
    if status == "zero":
        findings.supply("invitations_sent_90d", 0)
        findings.supply("invitations_accepted_90d", 0)
        return []
    table = data.tables["Invitations.csv"]
    sent: list[tuple[datetime, list[str]]] = []
    for (_, fields), when in zip(table.rows, table.dates("sent_at"), strict=True):
        if table.cell(fields, "direction").casefold() in _OUTGOING and data.window.contains(when):
            assert when is not None
            sent.append((when, fields))
    findings.supply("invitations_sent_90d", len(sent))
    if not network.known:
        return [w.date() for w, _ in sent]
    accepted = 0
    matchable = True
    for when, fields in sent:
        url = normalise_url(table.cell(fields, "invitee_url"))
        if is_profile_url(url) and network.by_url:
            candidates = network.by_url.get(url, [])
        elif table.has("to") and network.by_name:
            candidates = network.by_name.get(normalise_text(table.cell(fields, "to")), [])
        elif not network.by_url and not network.by_name:
            candidates = []  # no connections at all: nothing was accepted
        else:
            matchable = False
            break
        if any(c is None or c.date() >= when.date() for c in candidates):
            accepted += 1
    if matchable:
        findings.supply("invitations_accepted_90d", accepted)
    else:
        findings.warnings.append(
            "Invitations.csv: invitees cannot be matched with connections; accepted invitations "
            "left unknown"
        )
    return [w.date() for w, _ in sent]


# ---------------------------------------------------------------------------------------------
# Messages


def message_features(data: ExportData, findings: Findings, own_url: str | None,
                     own_name: str | None) -> list[date]:
    """Sent / received / replied in the window; returns the days the member sent messages."""
    status = data.availability("messages.csv")
    if status == "unknown":
        return []
    if status == "zero":
        for column in ("messages_sent_90d", "messages_received_90d", "messages_replied_90d"):
            findings.supply(column, 0)
        return []
    table = data.tables["messages.csv"]
    window = data.window
    end_exclusive = datetime.combine(window.end + timedelta(days=1), datetime.min.time())
    has_direction = table.has("direction")
    if not has_direction and own_url is None and own_name is None:
        findings.warnings.append(
            "messages.csv: cannot tell the member's own messages; message columns left unknown"
        )
        return []
    sent = received = 0
    sent_days: list[date] = []
    last_sent: dict[str, datetime] = {}
    first_inbound: dict[str, datetime] = {}
    drafts = 0
    for (_, fields), when in zip(table.rows, table.dates("date"), strict=True):
        if parse_bool_word(table.cell(fields, "is_draft")) is True:
            drafts += 1
            continue
        if when is None or when >= end_exclusive:
            continue
        direction = _direction(table, fields, has_direction, own_url, own_name)
        if direction is None:
            continue
        counterpart = table.cell(fields, "from" if direction == "in" else "to")
        conversation = table.cell(fields, "conversation") or normalise_text(counterpart)
        if direction == "out":
            if when > last_sent.get(conversation, datetime.min):
                last_sent[conversation] = when
            if window.contains(when):
                sent += 1
                sent_days.append(when.date())
        elif window.contains(when):
            received += 1
            if conversation not in first_inbound or when < first_inbound[conversation]:
                first_inbound[conversation] = when
    replied = sum(
        1 for conversation, inbound in first_inbound.items()
        if last_sent.get(conversation, datetime.min) > inbound
    )
    if drafts:
        findings.warnings.append(f"messages.csv: {drafts} draft message(s) not counted")
    findings.supply("messages_sent_90d", sent)
    findings.supply("messages_received_90d", received)
    findings.supply("messages_replied_90d", replied)
    return sent_days


def _direction(table: Table, fields: list[str], has_direction: bool, own_url: str | None,
               own_name: str | None) -> Literal["in", "out"] | None:
    if has_direction:
        value = table.cell(fields, "direction").casefold()
        if value in _OUTGOING:
            return "out"
        return "in" if value in _INCOMING else None
    if own_url is not None and table.has("sender_url"):
        sender = normalise_url(table.cell(fields, "sender_url"))
        if not sender:
            return None  # system or sponsored message
        return "out" if sender == own_url else "in"
    sender_name = normalise_text(table.cell(fields, "from"))
    if not sender_name:
        return None
    return "out" if sender_name == own_name else "in"


# ---------------------------------------------------------------------------------------------
# Feed activity (insights, people)


def feed_features(data: ExportData, findings: Findings) -> None:
    status = data.availability("Shares.csv")
    if status == "zero":
        findings.supply("posts_90d", 0)
        findings.supply("reshares_90d", 0)
    elif status == "read":
        table = data.tables["Shares.csv"]
        posts = reshares = 0
        for (_, fields), when in zip(table.rows, table.dates("date"), strict=True):
            if not data.window.contains(when):
                continue
            shared = table.cell(fields, "shared_url")
            commentary = table.cell(fields, "commentary").strip('"').strip()
            if _LINKEDIN_POST.search(shared):
                if commentary:
                    reshares += 1
            else:
                posts += 1
        findings.supply("posts_90d", posts)
        findings.supply("reshares_90d", reshares)
    findings.supply("comments_given_90d", data.count_in_window("Comments.csv"))
    findings.supply("reactions_given_90d", data.count_in_window("Reactions.csv"))
    findings.supply("searches_90d", data.count_in_window("SearchQueries.csv"))


def article_count(data: ExportData, findings: Findings) -> list[date]:
    """articles_90d; returns the publication days in the window."""
    if not data.articles:
        if data.absence_proof is not None and (data.kind == "complete"
                                               or data.rules.articles_in_basic):
            findings.supply("articles_90d", 0)
        return []
    published = [a for a in data.articles if a.published]
    undated = sum(1 for a in published if a.day is None)
    days = [a.day for a in published if a.day is not None and data.window.contains(a.day)]
    if undated:
        findings.warnings.append(
            f"Articles: {undated} published article(s) carry no date; articles_90d left unknown"
        )
        return days
    findings.supply("articles_90d", len(days))
    return days


def days_active(data: ExportData, findings: Findings, extra: dict[str, Iterable[date]]) -> None:
    if data.kind != "complete":
        return
    days: set[date] = set()
    for source in data.rules.activity_days:
        file = _EXTRA_SOURCES.get(source, source)
        if file and data.availability(file) == "unknown":
            return  # a missing (unproven), unreadable or cut file: the count would be too low
        if source in extra:
            days.update(d for d in extra[source] if data.window.contains(d))
        else:
            days |= data.days_in_window(source)
    findings.supply("days_active_90d", len(days))


def compute(data: ExportData) -> tuple[Findings, str | None, str | None]:
    """All contract columns the archive supports; also the member's own profile URL and name
    (in memory only, for the pseudonymous id)."""
    findings = Findings()
    profile_features(data, findings)
    employers = positions_features(data, findings)
    simple_counts(data, findings)
    endorsement_and_recommendation_counts(data, findings)
    account_age(data, findings)
    subscription(data, findings)
    rich_media_flags(data, findings)
    groups_count(data, findings)
    network = connection_features(data, findings, employers)
    invitation_days = invitation_features(data, findings, network)
    own_url = own_profile_url(data)
    own_name = profile_name_key(data)
    message_days = message_features(data, findings, own_url, own_name)
    feed_features(data, findings)
    article_days = article_count(data, findings)
    days_active(data, findings, {
        "messages_sent": message_days,
        "invitations_sent": invitation_days,
        "articles": article_days,
    })
    for table in data.tables.values():
        findings.warnings.extend(table.warnings)
        table.warnings.clear()
    return findings, own_url, own_name
