"""Where each contract column of an export row came from, or why it is unknown.

Every input column gets one ``ColumnProvenance``: read from the archive, derived by a rule, set by
the caller, empty because the archive's own type proves the section empty, or unknown (because a
file is absent, because a file could not be read, or because an export does not tell it). The
account names files by their canonical LinkedIn names only and never quotes the data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .features import ExportData, Findings

ARTICLES = "Articles/*.html"  # the article pages, as one "file" in the account


class ColumnSource(StrEnum):
    """How a contract column got its value (or why it has none)."""

    FROM_ARCHIVE = "from_archive"
    DERIVED = "derived"  # a rule on the archive's text (industry from Profile.csv, ...)
    OVERRIDDEN = "overridden"  # set by the caller
    EMPTY_BY_EXPORT_KIND = "empty_by_export_kind"  # file absent, and the archive proves it empty
    UNKNOWN_FILE_ABSENT = "unknown_file_absent"
    UNKNOWN_FILE_UNREADABLE = "unknown_file_unreadable"
    UNKNOWN = "unknown"  # the export does not tell it (never holds it, or no rule matched)

    @property
    def known(self) -> bool:
        return self in (ColumnSource.FROM_ARCHIVE, ColumnSource.DERIVED, ColumnSource.OVERRIDDEN,
                        ColumnSource.EMPTY_BY_EXPORT_KIND)


@dataclass(frozen=True)
class ColumnProvenance:
    """One column's account: its source, the files involved and, where it helps, why."""

    status: ColumnSource
    files: tuple[str, ...] = ()
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "files": list(self.files), "reason": self.reason}


def unreadable_dependents(column_files: Mapping[str, Iterable[str]],
                          unreadable: Mapping[str, str]) -> set[str]:
    """Columns computed from a file that could not be read (or was cut at the row limit)."""
    return {column for column, files in column_files.items()
            if any(f in unreadable for f in files)}


def _file_read(data: ExportData, file: str) -> bool:
    if file == ARTICLES:
        return bool(data.articles)
    table = data.tables.get(file)
    return table is not None and not table.truncated


def _unproven(data: ExportData, file: str) -> bool:
    """Absent, and its absence does not prove the section empty."""
    if file == ARTICLES:
        return not data.articles and not (
            data.absence_proof is not None
            and (data.kind == "complete" or data.rules.articles_in_basic))
    return not _file_read(data, file) and data.availability(file) == "unknown"


def _absence_note(data: ExportData, files: list[str]) -> str:
    names = ", ".join(files)
    verb = "is" if len(files) == 1 else "are"
    if data.absence_proof is None:
        why = data.absence_doubt or "the archive does not prove the section empty"
    elif data.kind == "basic":
        why = f"a Basic export does not carry {'it' if len(files) == 1 else 'them'}"
    else:
        why = "the archive does not prove the section empty"
    return f"{names} {verb} not in the archive; {why}"


def build(
    inputs: Iterable[str],
    values: Mapping[str, Any],
    findings: Findings,
    overridden: Iterable[str],
    data: ExportData,
    notes: Mapping[str, str],
) -> dict[str, ColumnProvenance]:
    """The provenance of every input column, in contract order. ``notes`` explains columns the
    reader itself decided (the member id, the snapshot date, values the contract refused)."""
    column_files = data.rules.column_files
    overridden_set = set(overridden)
    out: dict[str, ColumnProvenance] = {}
    for column in inputs:
        files = list(column_files.get(column, ()))
        read = [f for f in files if _file_read(data, f)]
        if column in overridden_set:
            out[column] = ColumnProvenance(ColumnSource.OVERRIDDEN, (), "set by the caller")
        elif column in values and column in findings.derived:
            out[column] = ColumnProvenance(ColumnSource.DERIVED, tuple(read),
                                           findings.derived[column])
        elif column in values:
            if files and not read:
                absent = [f for f in files if f not in data.unreadable]
                why = (f"{', '.join(absent)} not in the archive: LinkedIn leaves out the files of "
                       f"empty sections, and this is {data.absence_proof}")
                out[column] = ColumnProvenance(ColumnSource.EMPTY_BY_EXPORT_KIND, tuple(absent),
                                               why)
            else:
                out[column] = ColumnProvenance(ColumnSource.FROM_ARCHIVE, tuple(read),
                                               notes.get(column))
        else:
            out[column] = _unknown(column, files, findings, data, notes)
    return out


def _unknown(column: str, files: list[str], findings: Findings, data: ExportData,
             notes: Mapping[str, str]) -> ColumnProvenance:
    broken = [f for f in files if f in data.unreadable]
    if broken:
        reason = "; ".join(f"{f}: {data.unreadable[f]}" for f in broken)
        return ColumnProvenance(ColumnSource.UNKNOWN_FILE_UNREADABLE, tuple(broken), reason)
    if column in findings.unknown_reasons:
        absent = tuple(f for f in files if not _file_read(data, f))
        return ColumnProvenance(ColumnSource.UNKNOWN_FILE_ABSENT, absent,
                                findings.unknown_reasons[column])
    if column in notes:
        return ColumnProvenance(ColumnSource.UNKNOWN, tuple(files), notes[column])
    unproven = [f for f in files if _unproven(data, f)]
    if unproven:
        return ColumnProvenance(ColumnSource.UNKNOWN_FILE_ABSENT, tuple(unproven),
                                _absence_note(data, unproven))
    if not files:
        return ColumnProvenance(ColumnSource.UNKNOWN, (), "a LinkedIn export does not hold it")
    read = [f for f in files if _file_read(data, f)]
    return ColumnProvenance(
        ColumnSource.UNKNOWN, tuple(read),
        "the archive's files do not tell it (see the warnings)" if read
        else "the archive has no file that tells it",
    )
