"""Safe, in-memory access to an untrusted LinkedIn export ZIP.

Nothing is ever extracted to disk. Entries are matched on their base name, case-insensitively, at
any depth (users add a wrapping folder), with an optional ``_<digits>`` member-id suffix
(``Shares_181682616.csv``, 2026); ``__MACOSX`` and AppleDouble entries are ignored; entries with an
absolute path or ``..`` are ignored with a warning. Archives that are absurdly large when expanded
(declared sizes, then the bytes actually decompressed), that compress an entry implausibly well
(a zip bomb), that are encrypted or that hold another archive are refused with ``ExportError``.
"""

from __future__ import annotations

import contextlib
import io
import re
import stat
import struct
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import PurePosixPath

from .errors import ExportError
from .rules import Rules, normalise_key

MiB = 1024 * 1024

NESTED_ARCHIVE_SUFFIXES = (
    ".zip", ".jar", ".gz", ".tgz", ".tar", ".7z", ".rar", ".bz2", ".xz", ".zst", ".cab",
)
# Magic numbers of archive formats (ZIP, gzip, 7z, RAR, xz, zstd): refused inside an export.
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy Office files (.xls)
_ARCHIVE_MAGIC = (
    b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08", b"\x1f\x8b", b"7z\xbc\xaf\x27\x1c",
    b"Rar!\x1a\x07", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd",
)
_IGNORED_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
_ID_SUFFIX = re.compile(r"^(?P<stem>.*?)_(?P<id>\d+)$")
_ZIP_ERRORS = (
    zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, struct.error,
    ValueError, NotImplementedError, RuntimeError, KeyError, IndexError, OverflowError,
    UnicodeError,
)


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what an untrusted archive may make the reader do."""

    max_archive_bytes: int = 250 * MiB  # the ZIP file itself
    max_total_bytes: int = 200 * MiB  # all entries, uncompressed (declared and actual)
    max_entry_ratio: float = 100.0  # uncompressed : compressed, per entry ...
    ratio_floor_bytes: int = 1 * MiB  # ... checked once an entry expands beyond this
    max_entries: int = 10_000
    max_articles: int = 5_000
    max_rows_per_file: int = 1_000_000


@dataclass(frozen=True)
class Entry:
    info: zipfile.ZipInfo
    key: str  # normalised base name without extension and id suffix
    exact: bool  # no member-id suffix
    depth: int


@dataclass
class Archive:
    """An opened export: the entries we may read, and what the names tell."""

    zf: zipfile.ZipFile
    limits: ArchiveLimits
    csv_entries: dict[str, Entry]  # canonical name -> chosen entry
    article_entries: list[zipfile.ZipInfo]
    present_keys: frozenset[str]  # every CSV key present (also files we never read)
    folder_names: list[str]  # top-level folder names (may carry the export's type and date)
    entry_dates: Counter[date]  # LinkedIn stamps every entry with the export time
    warnings: list[str] = field(default_factory=list)
    _expanded: int = 0

    def has(self, canonical: str) -> bool:
        return canonical in self.csv_entries

    def read(self, canonical: str) -> bytes:
        return self.read_entry(self.csv_entries[canonical].info, canonical)

    def read_entry(self, info: zipfile.ZipInfo, label: str) -> bytes:
        """Decompress one entry, counting the real bytes against the limits as they come."""
        limits = self.limits
        chunks: list[bytes] = []
        size = 0
        try:
            with self.zf.open(info) as handle:
                while True:
                    chunk = handle.read(64 * 1024)
                    if not chunk:
                        break
                    size += len(chunk)
                    self._expanded += len(chunk)
                    if self._expanded > limits.max_total_bytes:
                        raise ExportError(
                            f"the archive expands to more than {limits.max_total_bytes // MiB} MB "
                            "(zip bomb?)", file=label, unsafe=True,
                        )
                    if size > limits.ratio_floor_bytes and size > limits.max_entry_ratio * max(
                        info.compress_size, 1
                    ):
                        raise ExportError(
                            f"compressed more than {limits.max_entry_ratio:.0f}:1 (zip bomb?)",
                            file=label, unsafe=True,
                        )
                    chunks.append(chunk)
        except ExportError:
            raise
        except _ZIP_ERRORS as exc:
            # The ZIP's own structure is broken or lies (sizes, CRC): nothing in it can be trusted.
            raise ExportError(
                f"damaged in the archive, cannot be decompressed ({type(exc).__name__})",
                file=label, unsafe=True,
            ) from None
        data = b"".join(chunks)
        spreadsheet = spreadsheet_kind(data)
        if spreadsheet is not None:
            # A user re-saved the file from a spreadsheet program without choosing CSV: only this
            # file is unreadable (and never decompressed), the rest of the export is fine.
            raise ExportError(
                f"is {spreadsheet}, a spreadsheet file where CSV text was expected (save it as "
                "CSV, or use the file from the original export)", file=label,
            )
        if data.startswith(_ARCHIVE_MAGIC):
            raise ExportError(
                "is itself an archive; nested archives are refused, upload the LinkedIn ZIP itself",
                file=label, unsafe=True,
            )
        return data


def spreadsheet_kind(data: bytes) -> str | None:
    """What kind of spreadsheet file ``data`` is (``"an Excel workbook (.xlsx)"``), or ``None``.

    An .xlsx or .ods file is a ZIP; only its directory is listed here (nothing is decompressed),
    which tells a workbook from an archive nested to smuggle content past the limits.
    """
    if data.startswith(_OLE2_MAGIC):
        return "an Excel 97-2003 workbook (.xls)"
    if not data.startswith(b"PK\x03\x04"):
        return None
    try:
        names = {n.casefold() for n in zipfile.ZipFile(io.BytesIO(data)).namelist()}
    except _ZIP_ERRORS:
        return None
    if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
        return "an Excel workbook (.xlsx)"
    if "mimetype" in names and "content.xml" in names:
        return "an OpenDocument spreadsheet (.ods)"
    return None


def _entry_rank(entry: Entry, canonical: str) -> tuple[bool, bool, bool, int, str]:
    """Sort key among entries for one file: the exact name before a member-id-suffixed one
    (reference §2.2), then the canonical spelling (``Endorsement_Received_Info.csv`` before the
    older ``Endorsement Received Info.csv``), then the shallowest, then the entry name, so the
    choice never depends on the order of the ZIP's directory."""
    base = PurePosixPath(entry.info.filename.replace("\\", "/")).name
    return (not entry.exact, base.casefold() != canonical.casefold(), base != canonical,
            entry.depth, entry.info.filename)


def _safe_parts(name: str) -> list[str] | None:
    """Path parts of an entry name, or ``None`` if it is absolute or climbs out with ``..``."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "\x00" in name:
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return parts


def open_archive(data: bytes, rules: Rules, limits: ArchiveLimits) -> Archive:
    """Open the ZIP in memory and index its entries; refuses unsafe or absurd archives."""
    # Count central-directory signatures before zipfile builds an object per entry (an upper
    # bound: compressed data may contain the signature by chance, hence the slack).
    if data.count(b"PK\x01\x02") > limits.max_entries + 1000:
        raise ExportError(f"the archive has more than {limits.max_entries:,} entries")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except _ZIP_ERRORS as exc:
        raise ExportError(
            f"the archive is damaged or is not a ZIP file ({type(exc).__name__})"
        ) from None
    if len(infos) > limits.max_entries:
        raise ExportError(f"the archive has more than {limits.max_entries:,} entries")
    declared = sum(max(i.file_size, 0) for i in infos)
    if declared > limits.max_total_bytes:
        raise ExportError(
            f"the archive declares more than {limits.max_total_bytes // MiB} MB of content "
            "(zip bomb?)"
        )

    warnings: list[str] = []
    unsafe = 0
    links = 0
    candidates: dict[str, list[Entry]] = {}
    article_entries: list[zipfile.ZipInfo] = []
    present: set[str] = set()
    folders: list[str] = []
    stamps: Counter[date] = Counter()
    for number, info in enumerate(infos, start=1):
        parts = _safe_parts(info.filename)
        if parts is None:
            unsafe += 1
            continue
        if not parts or any(p.casefold() == "__macosx" for p in parts):
            continue
        if len(parts) > 1 and parts[0] not in folders:
            folders.append(parts[0])
        if info.is_dir():
            if len(parts) == 1 and parts[0] not in folders:
                folders.append(parts[0])
            continue
        base = parts[-1]
        lower = base.casefold()
        if lower.startswith("._") or lower in _IGNORED_NAMES:
            continue
        if lower.endswith(NESTED_ARCHIVE_SUFFIXES):
            raise ExportError(
                f"entry #{number} is itself an archive; nested archives are refused, upload the "
                "LinkedIn ZIP itself"
            )
        if info.flag_bits & 0x1:
            raise ExportError("the archive is password-protected (encrypted entries)")
        if stat.S_ISLNK(info.external_attr >> 16):
            links += 1
            continue
        if (
            info.file_size > limits.ratio_floor_bytes
            and info.file_size > limits.max_entry_ratio * max(info.compress_size, 1)
        ):
            raise ExportError(
                f"entry #{number} is compressed more than {limits.max_entry_ratio:.0f}:1 "
                "(zip bomb?)"
            )
        with contextlib.suppress(TypeError, ValueError):
            stamps[datetime(*info.date_time).date()] += 1
        suffix = PurePosixPath(lower).suffix
        if suffix in (".html", ".htm") and any(p.casefold() == "articles" for p in parts[:-1]):
            article_entries.append(info)
            continue
        if suffix != ".csv":
            continue
        stem = base[: -len(".csv")]
        m = _ID_SUFFIX.match(stem)
        exact = m is None
        key = normalise_key(m.group("stem") if m else stem)
        present.add(key)
        spec = rules.spec_for_key(key)
        if spec is not None:
            candidates.setdefault(spec.canonical, []).append(
                Entry(info=info, key=key, exact=exact, depth=len(parts) - 1)
            )
    if unsafe:
        warnings.append(
            f"{unsafe} entr{'y' if unsafe == 1 else 'ies'} with an absolute path or '..' ignored"
        )
    if links:
        warnings.append(f"{links} symbolic-link entr{'y' if links == 1 else 'ies'} ignored")
    chosen: dict[str, Entry] = {}
    for canonical, entries in candidates.items():
        entries.sort(key=lambda e: _entry_rank(e, canonical))
        chosen[canonical] = entries[0]
        if len(entries) > 1:
            which = ("the one with the canonical name"
                     if _entry_rank(entries[0], canonical)[:3] == (False, False, False)
                     else "the one with the name closest to the canonical one")
            warnings.append(f"{canonical}: {len(entries)} candidate entries; read {which}")
    if len(article_entries) > limits.max_articles:
        raise ExportError(f"the archive has more than {limits.max_articles:,} article files")
    return Archive(
        zf=zf, limits=limits, csv_entries=chosen, article_entries=article_entries,
        present_keys=frozenset(present), folder_names=folders, entry_dates=stamps,
        warnings=warnings,
    )
