"""``read_export``: a member's LinkedIn data export ZIP -> one contract row.

The archive is untrusted: it is read in memory (never extracted), bounded by ``ArchiveLimits``.
What is unsafe (a zip bomb, a nested archive, a broken ZIP) or not an export refuses the whole
archive with ``ExportError``; a single file that cannot be read (damaged, re-saved without its
header, a spreadsheet saved as ``.csv``) only leaves the columns computed from it unknown, and
the result names the file and the reason, never quoting the data. Only counts, lengths and
rule-derived categories reach the row; the member id is an HMAC with a per-installation secret.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path, PurePath
from typing import Any, BinaryIO, Literal

import pandas as pd

from ssi_model.contract import CONTRACT, parse_bool_word

from .archive import Archive, ArchiveLimits, open_archive
from .articles import Article, classify_article
from .csvfiles import Table, read_table
from .errors import ExportError
from .features import ArchiveKind, ExportData, Findings, Window, compute
from .provenance import ARTICLES, ColumnProvenance, build, unreadable_dependents
from .rules import Rules, load_rules
from .secret import installation_secret

# Domain separation for the member id's HMAC (the key is the per-installation secret): the id is
# pseudonymous (stable across exports of the same member in one installation), and nobody without
# the key can recompute it from a guessed name or URL.
MEMBER_ID_CONTEXT = "ssi-model/linkedin-export/member-id/v2"
MEMBER_ID_HEX_CHARS = 16

_EXPORT_NAME = re.compile(
    r"(?:(?P<kind>basic|complete)[ _-]*)?linkedin[ _-]*data[ _-]*export[ _-]*"
    r"(?P<m>\d{1,2})-(?P<d>\d{1,2})-(?P<y>\d{4})",
    re.IGNORECASE,
)
_KIND_PREFIX = re.compile(r"(?:^|[^a-z])(?P<kind>basic|complete)[ _-]*linkedin", re.IGNORECASE)
_OVERRIDE_ALIASES = {"role": "role_family", "subscription_type": "subscription"}
_NOT_OVERRIDABLE = frozenset({"member_id", "snapshot_date"})


@dataclass(frozen=True)
class ExportResult:
    """One contract row from an export, and an account of where each column came from.

    ``from_archive``, ``derived``, ``overridden`` and ``unknown`` partition the contract's input
    columns. ``provenance`` tells, per input column, where its value came from or why it is unknown
    (file absent, file unreadable and why, or empty by the export's kind and why);
    ``unreadable_files`` maps each file that could not be read to the reason.
    ``window_start``..``window_end`` are the 90 days (inclusive) the ``*_90d`` counts cover;
    ``snapshot_date`` = ``window_end``.
    """

    row: pd.DataFrame
    from_archive: list[str]
    derived: dict[str, str]
    unknown: list[str]
    overridden: list[str]
    export_date: date
    window_start: date
    window_end: date
    archive_kind: Literal["basic", "complete"]
    files_read: list[str]
    warnings: list[str]
    provenance: dict[str, ColumnProvenance]
    unreadable_files: dict[str, str]

    def provenance_records(self) -> list[dict[str, Any]]:
        """The provenance as plain records (column, status, files, reason), in contract order."""
        return [{"column": column, **entry.as_dict()} for column, entry in self.provenance.items()]


@contextmanager
def _reading(label: str) -> Iterator[None]:
    """Turn any failure on untrusted data into ExportError, without its (possibly personal)
    message or chained traceback."""
    try:
        yield
    except ExportError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise ExportError(f"could not be read ({type(exc).__name__})", file=label) from None


def read_export(
    source: str | os.PathLike[str] | bytes | BinaryIO,
    *,
    as_of: date | None = None,
    overrides: Mapping[str, str] | None = None,
    member_id: str | None = None,
    filename: str | None = None,
    limits: ArchiveLimits | None = None,
    secret_file: str | os.PathLike[str] | None = None,
) -> ExportResult:
    """Read a LinkedIn data export ZIP (path, bytes or binary file) into one contract row.

    ``as_of`` ends the 90-day window (default: the export date, from the archive's name such as
    ``Complete_LinkedInDataExport_11-04-2018``, else from the entries' common timestamp, else the
    latest record in the archive). ``overrides`` sets
    context columns the export cannot supply or gets wrong (``{"industry": "technology",
    "role": "sales"}``). ``filename`` is the archive's original name when ``source`` has none (an
    upload), since it tells the export's type and date. Without ``member_id`` the id is an HMAC
    keyed with the installation's secret (``secret_file``, default ``Settings.ssi_secret_file``,
    created on first use). Raises ``ExportError`` for an archive that is unsafe or holds nothing
    readable; a file that cannot be read is reported in the result instead.
    """
    limits = limits or ArchiveLimits()
    rules = load_rules()
    today = date.today()
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    if as_of is not None and as_of > today:
        raise ExportError("as_of is in the future")
    parsed_overrides = parse_overrides(overrides or {})
    if member_id is not None and (not str(member_id).strip() or "@" in str(member_id)):
        raise ExportError("member_id must be a non-empty pseudonym (no e-mail address)")

    data, source_name = _load(source, limits)
    with _reading("the archive"):
        archive = open_archive(data, rules, limits)
    tables, unreadable = _read_tables(archive, rules, limits)
    articles = _read_articles(archive, unreadable)
    warnings = list(archive.warnings)
    warnings.extend(f"{file}: not read ({why}); the columns computed from it are left unknown"
                    for file, why in unreadable.items())
    names = [n for n in [filename or source_name, *archive.folder_names] if n]
    if not tables and not articles:
        if unreadable:
            file, why = next(iter(unreadable.items()))
            raise ExportError(f"none of the archive's LinkedIn files could be read (first: {why})",
                              file=file)
        raise ExportError("the archive holds none of the LinkedIn export files this reader knows")
    for canonical, table in tables.items():
        if table.truncated:  # read_table has warned; its columns are left unknown like a damage
            unreadable.setdefault(canonical, f"only the first {limits.max_rows_per_file:,} rows "
                                             "were read (row limit)")

    kind, kind_basis = _archive_kind(names, archive, rules, warnings)
    with _reading("the archive's dates"):
        export_date = _export_date(names, tables, articles, archive, rules, today, as_of, warnings)
    window_end = as_of or export_date
    if as_of is not None and as_of < export_date:
        warnings.append(
            "as_of is before the export date: profile sections (skills, positions, ...) describe "
            "the export date"
        )
    elif as_of is not None and as_of > export_date:
        warnings.append("as_of is after the export date: activity after the export is not counted")
    window = Window.ending(window_end, CONTRACT.window_days)

    proof, doubt = _absence_proof(kind, kind_basis, archive, rules)
    export = ExportData(tables=tables, articles=articles, kind=kind, window=window,
                        export_date=export_date, rules=rules, absence_proof=proof,
                        absence_doubt=doubt, unreadable=unreadable)
    with _reading("the archive's contents"):
        findings, own_url, own_name = compute(export)
    warnings.extend(findings.warnings)
    for column in unreadable_dependents(rules.column_files, unreadable):
        # Whatever the other files gave, a column computed from an unreadable file is unknown.
        findings.values.pop(column, None)
        findings.from_archive.discard(column)
        findings.derived.pop(column, None)

    overridden: list[str] = []
    values = dict(findings.values)
    for name, value in parsed_overrides.items():
        values[name] = value
        overridden.append(name)
        findings.from_archive.discard(name)
        findings.derived.pop(name, None)
    _enforce_contract(values, findings, set(overridden), warnings)

    if member_id is not None:
        values["member_id"] = str(member_id).strip()
        overridden.append("member_id")
    else:
        values["member_id"], note = _pseudonym(own_url, own_name, data, _secret(secret_file))
        findings.derived["member_id"] = note
    values["snapshot_date"] = window_end
    if as_of is not None:
        overridden.append("snapshot_date")
    else:
        findings.from_archive.add("snapshot_date")
    values["source"] = "export"

    with _reading("the row"):
        row = CONTRACT.to_typed(pd.DataFrame([values]))
    inputs = CONTRACT.input_columns
    from_archive = [c for c in inputs if c in findings.from_archive and c in values]
    derived = {c: findings.derived[c] for c in inputs if c in findings.derived and c in values}
    overridden_sorted = [c for c in inputs if c in overridden]
    unknown = [c for c in inputs if c not in values]
    files_read = sorted(tables) + ([ARTICLES] if articles else [])
    notes = {"snapshot_date": "the end of the 90-day window: the export date"}
    notes.update({c: "the archive's value breaks the contract's rules (see the warnings)"
                  for c in findings.values if c not in values and c not in overridden})
    provenance = build(inputs, values, findings, overridden_sorted, export, notes)
    return ExportResult(
        row=row, from_archive=from_archive, derived=derived, unknown=unknown,
        overridden=overridden_sorted, export_date=export_date, window_start=window.start,
        window_end=window.end, archive_kind=kind, files_read=files_read,
        warnings=list(dict.fromkeys(warnings)), provenance=provenance,
        unreadable_files=dict(unreadable),
    )


# ---------------------------------------------------------------------------------------------
# Input


def _load(source: Any, limits: ArchiveLimits) -> tuple[bytes, str | None]:
    """The archive's bytes (bounded) and its base name, if it has one."""
    too_big = f"the archive is larger than {limits.max_archive_bytes // (1024 * 1024)} MB"
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        name = None
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            if path.is_dir():
                raise ExportError("the path is a folder; give the export's ZIP file")
            if path.stat().st_size > limits.max_archive_bytes:
                raise ExportError(too_big)
            data = path.read_bytes()
        except OSError as exc:
            raise ExportError(f"cannot open the archive file ({type(exc).__name__})") from None
        name = path.name
    elif hasattr(source, "read"):
        try:
            data = source.read(limits.max_archive_bytes + 1)
        except (OSError, ValueError) as exc:
            raise ExportError(f"cannot read the archive stream ({type(exc).__name__})") from None
        if not isinstance(data, bytes | bytearray):
            raise ExportError("the archive stream must be opened in binary mode")
        data = bytes(data)
        raw_name = getattr(source, "name", None)
        name = PurePath(raw_name).name if isinstance(raw_name, str) else None
    else:
        raise TypeError(f"cannot read an export from {type(source).__name__}")
    if len(data) > limits.max_archive_bytes:
        raise ExportError(too_big)
    return data, name


def parse_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Validate caller-supplied values (typically context the export cannot tell) against the
    contract; values are never echoed in errors."""
    parsed: dict[str, Any] = {}
    for raw_key, raw_value in overrides.items():
        if raw_value is None or not str(raw_value).strip():
            continue
        key = str(raw_key).strip().casefold().replace("-", "_")
        name = _OVERRIDE_ALIASES.get(key, key)
        if name not in CONTRACT or CONTRACT[name].is_label or name in _NOT_OVERRIDABLE:
            raise ExportError(f"cannot override '{raw_key}': not a contract input column "
                              "(member_id and as_of have their own parameters)")
        column = CONTRACT[name]
        text = str(raw_value).strip()
        value: Any
        if column.kind == "category":
            value = text.casefold().replace(" ", "_").replace("-", "_")
            if value not in column.values:
                raise ExportError(
                    f"override for '{name}' is not one of: {', '.join(column.values)}"
                )
        elif column.kind == "int":
            try:
                value = int(text)
            except ValueError:
                raise ExportError(f"override for '{name}' is not a whole number") from None
        elif column.kind == "bool":
            value = parse_bool_word(text)  # the contract's words (en, nl, de)
            if value is None:
                raise ExportError(f"override for '{name}' is not true/false")
        elif column.kind == "float":
            try:
                value = float(text)
            except ValueError:
                raise ExportError(f"override for '{name}' is not a number") from None
        else:
            raise ExportError(f"cannot override '{name}'")
        parsed[name] = value
    return parsed


def _read_tables(archive: Archive, rules: Rules,
                 limits: ArchiveLimits) -> tuple[dict[str, Table], dict[str, str]]:
    """The readable tables, and the files that could not be read with the reason (line
    included). An unsafe file refuses the whole archive."""
    tables: dict[str, Table] = {}
    unreadable: dict[str, str] = {}
    for canonical, spec in rules.files.items():
        if not archive.has(canonical):
            continue
        try:
            with _reading(canonical):
                table = read_table(archive.read(canonical), spec,
                                   max_rows=limits.max_rows_per_file)
        except ExportError as exc:
            if exc.unsafe:
                raise
            unreadable[canonical] = exc.located_reason
            continue
        if table is None:
            archive.warnings.append(f"{canonical}: header not recognised; file ignored")
            continue
        tables[canonical] = table
    return tables, unreadable


def _read_articles(archive: Archive, unreadable: dict[str, str]) -> list[Article]:
    """The article pages; if one cannot be read, none counts (a partial count would be low)."""
    articles = []
    for info in archive.article_entries:
        try:
            with _reading(ARTICLES):
                html = archive.read_entry(info, ARTICLES).decode("utf-8", errors="replace")
                articles.append(classify_article(info.filename, html))
        except ExportError as exc:
            if exc.unsafe:
                raise
            unreadable[ARTICLES] = exc.located_reason
            return []
    return articles


# ---------------------------------------------------------------------------------------------
# Archive type, export date, window


def _archive_kind(names: list[str], archive: Archive, rules: Rules,
                  warnings: list[str]) -> tuple[ArchiveKind, str | None]:
    """The archive's type, and what proves it (``None``: a guess)."""
    named: str | None = None
    for name in names:
        m = _EXPORT_NAME.search(name) or _KIND_PREFIX.search(name)
        if m and m.group("kind"):
            named = m.group("kind").casefold()
            break
    present = archive.present_keys
    fingerprint = bool(present & rules.complete_any_of) or len(present & rules.complete_two_of) >= 2
    holds = "a Complete export (it holds Complete-only files)"
    if named == "complete":
        return "complete", "a Complete export (so named)"
    if named == "basic":
        if fingerprint:
            warnings.append("the archive is named Basic but holds Complete-only files; read as "
                            "Complete")
            return "complete", holds
        return "basic", "a Basic export (so named)"
    if fingerprint:
        return "complete", holds
    warnings.append("archive type unknown (no Complete-only files); read as Basic: missing "
                    "files leave their columns unknown")
    return "basic", None


def _absence_proof(kind: ArchiveKind, basis: str | None, archive: Archive,
                   rules: Rules) -> tuple[str | None, str | None]:
    """``(proof, doubt)``: why a missing file proves its section empty, or why it does not. Only a
    whole archive of a known type proves it (reference §2.4: LinkedIn omits empty categories;
    partial and re-packed archives omit files for other reasons)."""
    if basis is None:
        return None, "the archive's type is not known (neither its name nor its files tell it)"
    lacking = [f for f in rules.whole_archive_requires if not archive.has(f)]
    if lacking:
        return None, (f"the archive lacks {', '.join(lacking)}, which every export holds, so it "
                      "is partial or re-packed")
    held = ", ".join(rules.whole_archive_requires)
    return f"{basis} holding {held} (a whole export)", None


def _export_date(names: list[str], tables: dict[str, Table], articles: list[Article],
                 archive: Archive, rules: Rules, today: date, as_of: date | None,
                 warnings: list[str]) -> date:
    for name in names:
        m = _EXPORT_NAME.search(name)
        if not m:
            continue
        try:
            named = date(int(m.group("y")), int(m.group("m")), int(m.group("d")))
        except ValueError:
            warnings.append("the archive's name carries an impossible date; ignored")
            continue
        if named > today:
            warnings.append("the archive's name carries a future date; ignored")
            continue
        return named
    latest: date | None = None
    for canonical, logical in rules.event_dates.items():
        table = tables.get(canonical)
        if table is None or not table.has(logical):
            continue
        days = [d.date() for d in table.dates(logical) if d is not None]
        if days and (latest is None or max(days) > latest):
            latest = max(days)
    article_days = [a.day for a in articles if a.day is not None]
    if article_days and (latest is None or max(article_days) > latest):
        latest = max(article_days)
    if archive.entry_dates:
        # LinkedIn stamps every entry with the export time (S2); unzip and re-zip keep it, while a
        # file re-saved later changes only its own stamp, hence the most common one. Stamps older
        # than the records (a tool's default) or in the future say nothing.
        stamp = archive.entry_dates.most_common(1)[0][0]
        if (latest is None or stamp >= latest) and stamp <= today:
            warnings.append("export date taken from the archive's entry timestamps")
            return stamp
    if latest is None:
        if as_of is None:
            raise ExportError("cannot tell the export date (no dated name or record); give as_of")
        warnings.append("export date unknown; taken as as_of")
        return as_of
    if latest > today:
        warnings.append("the archive holds timestamps in the future; export date taken as today")
        latest = today
    warnings.append("export date inferred from the latest record in the archive")
    return latest


# ---------------------------------------------------------------------------------------------
# Contract rules and the member id


def _enforce_contract(values: dict[str, Any], findings: Findings, overridden: set[str],
                      warnings: list[str]) -> None:
    """Ranges and cross-column rules: a value from the archive that breaks one is left unknown
    with a warning (never clipped); an overridden value that does is an error."""
    broken: set[str] = set()
    for name in list(values):
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        # The contract's evaluator on this one value: only its range rules apply.
        faults = CONTRACT.check_row({name: value})
        if faults:
            if name in overridden:
                raise ExportError(f"override for '{name}' is outside the contract's range")
            del values[name]
            broken.add(name)
            warnings.append(f"{name}: the archive's value is outside the contract's range "
                            f"({faults[0].expression}); left unknown")
    cross = [r for r in CONTRACT.rules if r.scope == "cross"]
    changed = True
    while changed:
        changed = False
        for rule in cross:
            name, other = rule.column, str(rule.other)
            if name not in values:
                continue
            if other in broken and name not in overridden:
                del values[name]
                broken.add(name)
                warnings.append(f"{name}: its bound '{other}' was left unknown; left unknown too")
                changed = True
                continue
            if other not in values:
                continue
            if not CONTRACT.check_row({name: values[name], other: values[other]}):
                continue
            if name in overridden and other in overridden:
                raise ExportError(f"overrides for '{name}' and '{other}' contradict each other")
            victim = other if name in overridden else name
            del values[victim]
            broken.add(victim)
            warnings.append(
                f"{victim}: the archive's value breaks the rule {rule.expression}; left unknown"
            )
            changed = True
    for name in broken:
        findings.from_archive.discard(name)
        findings.derived.pop(name, None)


def _secret(secret_file: str | os.PathLike[str] | None) -> bytes:
    if secret_file is None:
        from ssi_model.settings import get_settings

        secret_file = get_settings().ssi_secret_file
    return installation_secret(secret_file)


def _pseudonym(own_url: str | None, own_name: str | None, data: bytes,
               secret: bytes) -> tuple[str, str]:
    if own_url:
        basis, note = f"url:{own_url}", "keyed hash (HMAC) of the profile URL"
    elif own_name:
        basis, note = f"name:{own_name}", "keyed hash (HMAC) of the profile name"
    else:
        basis = f"bytes:{hashlib.sha256(data).hexdigest()}"
        note = "keyed hash (HMAC) of the archive"
    digest = hmac.new(secret, f"{MEMBER_ID_CONTEXT}\x00{basis}".encode(), hashlib.sha256)
    return f"li-{digest.hexdigest()[:MEMBER_ID_HEX_CHARS]}", note
