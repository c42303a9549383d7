"""Decode LinkedIn's CSV files, repair their known quirks and parse every date format they use.

Facts (shared reference ``linkedin-export.md`` §2.3, §3, §4): 2020+ files are UTF-8 without BOM;
2018 legacy files are UTF-16LE with BOM, tab-separated; files re-saved by Excel may be cp1252 with
``;`` and day-first dates; Connections.csv starts with a ``Notes:`` preamble; Shares and Comments
have broken quoting (free text after a leading timestamp); SearchQueries has no quoting at all.

Nothing here logs or quotes a cell: errors and warnings name the file, the line and the column.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from .errors import ExportError
from .rules import FileSpec, load_rules, normalise_key

HEADER_SCAN_LINES = 30
_MISSING = frozenset({"", "n/a", "na", "-", "--", "---", "null", "none", "not available"})

# ---------------------------------------------------------------------------------------------
# Decoding


def decode(data: bytes, file: str) -> tuple[str, str]:
    """``(text, encoding)``: a BOM decides (UTF-16 = 2018 legacy), else UTF-8, else cp1252."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        candidates = [("utf-32", data)]
    elif data.startswith(b"\xff\xfe"):
        candidates = [("utf-16-le", data[2:])]
    elif data.startswith(b"\xfe\xff"):
        candidates = [("utf-16-be", data[2:])]
    elif data.startswith(b"\xef\xbb\xbf"):
        candidates = [("utf-8", data[3:])]
    else:
        candidates = [("utf-8", data), ("cp1252", data)]
    first_error: UnicodeDecodeError | None = None
    for encoding, payload in candidates:
        try:
            text = payload.decode(encoding)
        except UnicodeDecodeError as exc:
            first_error = first_error or exc
            continue
        nul = text.find("\x00")
        if nul >= 0:
            raise ExportError(
                "contains binary data (NUL characters), not CSV text",
                file=file, line=text.count("\n", 0, nul) + 1,
            )
        return text, encoding
    assert first_error is not None
    encoding, payload = candidates[0]
    line = payload[: first_error.start].decode(encoding, errors="replace").count("\n") + 1
    raise ExportError(
        "cannot be decoded as UTF-8, UTF-16 or Windows-1252 text", file=file, line=line
    ) from None


# ---------------------------------------------------------------------------------------------
# Dates

_TZ_SUFFIX = re.compile(r"\s*(?:UTC|GMT|Z|[+-]00:?00)$", re.IGNORECASE)
_JAVA_DATE = re.compile(
    r"^([A-Za-z]{3} [A-Za-z]{3} \d{1,2} \d{1,2}:\d{2}:\d{2}) [A-Za-z]{2,5} (\d{4})$"
)
_SENTENCE = re.compile(
    r"\bon ([A-Za-z]+ \d{1,2}, \d{4})(?: at (\d{1,2}:\d{2}\s?[AaPp][Mm]))?"
)
_NUMERIC = re.compile(
    r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})"
    r"(?:,?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?$"
)
_ISO_LIKE = re.compile(r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_LETTERS = re.compile(r"[^\W\d_]+")
_NUMERIC_START = re.compile(r"^\s*\"?\s*\d{1,2}[/.-]")
_DATE_PARTS = re.compile(r"[-/ :T.]")
_YEAR_ONLY = re.compile(r"^\d{4}$")
_MONTH_YEAR = re.compile(r"^[^\W\d_]+\.?[ -]\d{1,4}$")  # "Aug 2023", and "Dec 4" (no year)
_NAMED_FORMATS = (
    "%d %b %Y", "%d %B %Y", "%d %b %Y %H:%M", "%d %b %Y %H:%M:%S",
    "%d-%b-%y", "%d-%b-%Y", "%d-%b-%y %H:%M", "%d-%b-%Y %H:%M", "%d %b %y",
    "%b %d, %Y", "%B %d, %Y", "%b %d, %Y %I:%M %p", "%B %d, %Y %I:%M %p",
    "%b %d %Y", "%a %b %d %H:%M:%S %Y",
    "%b %Y", "%B %Y", "%b-%y", "%b-%Y", "%Y",
    "%b %d",  # Profile.csv Birth Date: no year (read as 1900)
)


def _clean_date_text(text: str) -> str:
    text = text.strip().strip('"').strip()
    if " - " in text:  # Events.csv ranges: "Jul 08, 2020 01:00 PM - Jul 08, 2020 03:00 PM"
        text = text.split(" - ", 1)[0].strip()
    java = _JAVA_DATE.match(text)
    if java:
        return f"{java.group(1)} {java.group(2)}"
    return _TZ_SUFFIX.sub("", text)


def _two_digit_year(y: int) -> int:
    return 2000 + y if y <= 68 else 1900 + y  # the same pivot as strptime's %y


def _parse_numeric(m: re.Match[str], dayfirst: bool | None) -> datetime | None:
    a, sep, b, year_text = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
    year = int(year_text) if len(year_text) == 4 else _two_digit_year(int(year_text))
    if sep == ".":
        dayfirst = True  # nobody writes month.day.year
    elif dayfirst is None:
        dayfirst = a > 12
    day, month = (a, b) if dayfirst else (b, a)
    hour = int(m.group(5) or 0)
    minute = int(m.group(6) or 0)
    second = int(m.group(7) or 0)
    ampm = (m.group(8) or "").upper()
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "PM" else 0)
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


@lru_cache(maxsize=65536)
def parse_when(text: str, dayfirst: bool | None = None) -> datetime | None:
    """Parse any date/time format seen in LinkedIn exports (and Excel re-saves of them).

    ``dayfirst`` settles numeric dates such as ``05/06/2023``: ``None`` reads them month-first
    (LinkedIn's own format) unless the first number cannot be a month. Returns ``None`` for empty
    cells, ``N/A`` and anything unparseable.
    """
    raw = text.strip().strip('"').strip()
    if raw.casefold() in _MISSING:
        return None
    sentence = _SENTENCE.search(raw)  # Rich_Media: "You uploaded a photo on March 2, 2024 at ..."
    if sentence and not raw[:1].isdigit():
        stamp = sentence.group(1) + (f" {sentence.group(2).upper()}" if sentence.group(2) else "")
        for fmt in ("%B %d, %Y %I:%M %p", "%B %d, %Y", "%b %d, %Y %I:%M %p", "%b %d, %Y"):
            try:
                return datetime.strptime(stamp, fmt)
            except ValueError:
                continue
        return None
    cleaned = _clean_date_text(raw)
    if not cleaned:
        return None
    if _ISO_LIKE.match(cleaned):
        try:
            return datetime.fromisoformat(cleaned.replace("/", "-").replace("T", " "))
        except ValueError:
            numbers = [int(p) for p in _DATE_PARTS.split(cleaned)[:6] if p.isdigit()]
            numbers += [0] * (6 - len(numbers))
            try:  # non-padded "2024/1/5 9:05"
                return datetime(numbers[0], numbers[1], numbers[2], numbers[3], numbers[4],
                                numbers[5])
            except ValueError:
                return None
    numeric = _NUMERIC.match(cleaned)
    if numeric:
        return _parse_numeric(numeric, dayfirst)
    aliases = load_rules().month_aliases
    named = _LETTERS.sub(lambda w: aliases.get(w.group(0).casefold(), w.group(0)), cleaned)
    named = named.replace(".", " ").replace("  ", " ").strip() if "." in named else named
    for fmt in _NAMED_FORMATS:
        try:
            return datetime.strptime(named, fmt)
        except ValueError:
            continue
    return None


def is_timestamp(text: str) -> bool:
    """A parseable date with day and year (not "2015", "Aug 2023" nor "Dec 4"): a record's first
    field in the free-text files."""
    cleaned = text.strip().strip('"').strip()
    if len(cleaned) > 40 or not cleaned or _YEAR_ONLY.match(cleaned) or _MONTH_YEAR.match(cleaned):
        return False
    return parse_when(cleaned) is not None


def infer_dayfirst(values: list[str]) -> bool | None:
    """Day-first if some numeric date's first number exceeds 12, month-first if the second does;
    ``None`` when the column does not say (or says both)."""
    first_big = second_big = False
    for value in values:
        m = _NUMERIC.match(_clean_date_text(value)) if _NUMERIC_START.match(value) else None
        if m and m.group(2) != ".":
            first_big = first_big or int(m.group(1)) > 12
            second_big = second_big or int(m.group(3)) > 12
    if first_big != second_big:
        return first_big
    return None


def _ambiguous_numeric(values: list[str]) -> bool:
    """Numeric dates that are not LinkedIn's own ``M/D/YY, h:mm AM`` (so came from a re-save)."""
    for value in values:
        m = _NUMERIC.match(_clean_date_text(value)) if _NUMERIC_START.match(value) else None
        if m and m.group(2) != "." and not m.group(8):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Tables


@dataclass
class Table:
    """One CSV file: its recognised columns and data rows (with their first physical line)."""

    file: str
    columns: dict[str, int]
    rows: list[tuple[int, list[str]]]
    delimiter: str
    encoding: str
    width: int = 0
    truncated: bool = False
    warnings: list[str] = field(default_factory=list)
    _dates: dict[str, list[datetime | None]] = field(default_factory=dict, repr=False)

    def has(self, logical: str) -> bool:
        return logical in self.columns

    def cell(self, fields: list[str], logical: str) -> str:
        index = self.columns.get(logical)
        if index is None or index >= len(fields):
            return ""
        return fields[index].strip()

    def values(self, logical: str) -> list[str]:
        return [self.cell(fields, logical) for _, fields in self.rows]

    def dates(self, logical: str) -> list[datetime | None]:
        """The column parsed as dates (``None`` when empty or unreadable), day/month order decided
        once for the whole column; unreadable cells are counted in a warning, never quoted."""
        if logical in self._dates:
            return self._dates[logical]
        values = self.values(logical)
        dayfirst = infer_dayfirst(values)
        if dayfirst is None and _ambiguous_numeric(values):
            # An Excel re-save: EU locales (";" delimiter) write day-first, US ones month-first.
            dayfirst = self.delimiter == ";"
            self.warnings.append(
                f"{self.file}: dates in column '{logical}' are ambiguous (day and month both "
                f"<= 12); read {'day' if dayfirst else 'month'}-first"
            )
        parsed = [parse_when(v, dayfirst) if v else None for v in values]
        bad = [line for (line, _), v, p in zip(self.rows, values, parsed, strict=True)
               if p is None and v.casefold() not in _MISSING]
        if bad:
            self.warnings.append(
                f"{self.file}: {len(bad)} unreadable date(s) in column '{logical}' (first at "
                f"line {bad[0]}); those rows carry no date"
            )
        self._dates[logical] = parsed
        return parsed


def _lines(text: str) -> Iterator[str]:
    """Physical lines the way the csv module sees them (``\\n``, ``\\r\\n`` or ``\\r``)."""
    return iter(io.StringIO(text, newline=""))


def _split_header(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return []


def _resolve(header: list[str], spec: FileSpec) -> dict[str, int]:
    keys = [normalise_key(h) for h in header]
    columns: dict[str, int] = {}
    for logical, aliases in spec.columns.items():
        for alias in aliases:
            if alias in keys:
                columns[logical] = keys.index(alias)
                break
    return columns


@dataclass(frozen=True)
class _Header:
    line: int  # 1-based physical line of the header row
    offset: int  # characters up to the end of that line
    delimiter: str
    width: int
    columns: dict[str, int]


def _find_header(text: str, spec: FileSpec, utf16: bool) -> _Header:
    """The header row: the first of the first lines (past a ``Notes:`` preamble, blank or
    Excel-padded lines) that names the required columns, with the delimiter that makes it so."""
    delimiters = ("\t", ",", ";") if utf16 else (",", ";", "\t")
    offset = 0
    for number, line in enumerate(_lines(text), start=1):
        if number > HEADER_SCAN_LINES:
            break
        offset += len(line)
        if not line.strip():
            continue
        best: _Header | None = None
        for i, delimiter in enumerate(delimiters):
            if i > 0 and delimiter not in line:
                continue
            header = _split_header(line, delimiter)
            columns = _resolve(header, spec)
            if all(r in columns for r in spec.required) and (
                best is None or len(columns) > len(best.columns)
            ):
                best = _Header(number, offset, delimiter, len(header), columns)
        if best is not None:
            return best
    wanted = ", ".join(repr(r) for r in spec.required)
    raise ExportError(f"no header row naming the column(s) {wanted}", file=spec.canonical, line=1)


def _first_field(line: str, delimiter: str) -> str:
    return line.split(delimiter, 1)[0].strip().strip('"').strip()


def read_table(data: bytes, spec: FileSpec, *, max_rows: int) -> Table | None:
    """Read one LinkedIn CSV file; ``None`` if its header is not recognised and the spec says to
    skip such files (e.g. the pointer-only ``Rich Media.csv``). Raises ``ExportError``."""
    text, encoding = decode(data, spec.canonical)
    try:
        header = _find_header(text, spec, encoding.startswith("utf-16"))
    except ExportError:
        if spec.skip_unknown_header:
            return None
        raise
    table = Table(file=spec.canonical, columns=header.columns, rows=[],
                  delimiter=header.delimiter, encoding=encoding, width=header.width)
    if encoding == "cp1252":
        table.warnings.append(f"{spec.canonical}: not UTF-8; read as Windows-1252 (Excel re-save)")
    body = text[header.offset:]
    if spec.layout == "timestamp_led":
        _read_timestamp_led(table, body, header.line, max_rows)
    elif spec.layout == "query_split":
        _read_query_split(table, body, header.line, max_rows)
    else:
        _read_strict(table, body, header.line, max_rows)
    if table.truncated:
        table.warnings.append(
            f"{spec.canonical}: only the first {max_rows:,} rows were read (row limit); the "
            "columns it supplies are left unknown"
        )
    return table


def _read_strict(table: Table, body: str, header_line: int, max_rows: int) -> None:
    needed = max(table.columns.values()) + 1
    reader = csv.reader(_lines(body), delimiter=table.delimiter, strict=True)
    previous = 0
    overlong: list[int] = []
    try:
        for fields in reader:
            start = header_line + previous + 1
            previous = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if len(table.rows) >= max_rows:
                table.truncated = True
                break
            if len(fields) < needed:
                raise ExportError(
                    f"row has {len(fields)} field(s) where the header promises at least {needed} "
                    "(truncated or damaged file)", file=table.file, line=start,
                )
            if any(f.strip() for f in fields[table.width:]):
                overlong.append(start)
            table.rows.append((start, fields))
    except csv.Error as exc:
        raise ExportError(
            f"malformed CSV ({exc})", file=table.file, line=header_line + reader.line_num
        ) from None
    if overlong:
        table.warnings.append(
            f"{table.file}: {len(overlong)} row(s) have more fields than the header (first at "
            f"line {overlong[0]})"
        )


def _read_timestamp_led(table: Table, body: str, header_line: int, max_rows: int) -> None:
    """Free-text files (Shares, Comments): a physical line that does not start with a timestamp
    continues the previous record, whatever the quoting says (S3, S7, S10)."""
    records: list[tuple[int, list[str]]] = []
    for number, line in enumerate(_lines(body), start=header_line + 1):
        if records and (not line.strip() or not is_timestamp(_first_field(line, table.delimiter))):
            records[-1][1].append(line)
        elif line.strip():
            if len(records) >= max_rows:
                table.truncated = True
                break
            records.append((number, [line]))
    width = table.width
    for start, parts in records:
        text = "".join(parts).rstrip("\r\n")
        try:
            parsed = list(csv.reader(io.StringIO(text, newline=""), delimiter=table.delimiter,
                                     escapechar="\\", strict=False))
        except csv.Error as exc:
            raise ExportError(f"malformed CSV ({exc})", file=table.file, line=start) from None
        fields = parsed[0] if parsed else []
        if len(parsed) != 1 and fields:
            # Broken quoting: only the leading timestamp is trustworthy.
            fields = [fields[0]] + [""] * max(width, 1)
        table.rows.append((start, fields))


def _read_query_split(table: Table, body: str, header_line: int, max_rows: int) -> None:
    """SearchQueries.csv: no quoting at all, so a query with a comma yields extra fields (S5)."""
    for number, line in enumerate(_lines(body), start=header_line + 1):
        if not line.strip():
            continue
        if len(table.rows) >= max_rows:
            table.truncated = True
            break
        if table.columns.get("date") == 0:
            first, _, rest = line.rstrip("\r\n").partition(table.delimiter)
            fields = [first.strip().strip('"'), rest.strip().strip('"')]
        else:  # an unusual column order: split fully, the date column is what we need
            fields = [f.strip().strip('"') for f in line.rstrip("\r\n").split(table.delimiter)]
        table.rows.append((number, fields))
