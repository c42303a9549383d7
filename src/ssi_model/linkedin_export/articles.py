"""Long-form articles: ``Articles/**/*.html`` (one file per article, published or draft).

Dates (reference §3.3): ``<p class="published">Published on YYYY-MM-DD HH:MM</p>`` (drafts:
``Published on ---`` or ``Not published yet``) in 2018 and 2024 files; 2026 files carry no date.
2018 file names are the creation time (``2017-12-09 04:54:08.html``); 2024 drafts are named
``YYYY-MM-DD HH_MM_SS.0-<Title>.html``. Only the date and the published flag leave this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import PurePosixPath

from .csvfiles import parse_when

_PUBLISHED = re.compile(r"Published on\s+(\d{4}-\d{2}-\d{2}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?)")
_DRAFT_MARKERS = re.compile(r"Published on\s+-{2,}|Not published yet", re.IGNORECASE)
_CREATED = re.compile(r"Created on\s+(\d{4}-\d{2}-\d{2}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?)")
_DRAFT_NAME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}_\d{2}_\d{2}\.\d+-")
_NAME_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True)
class Article:
    published: bool
    day: date | None  # publication day (else creation day); None if the export does not say


def classify_article(entry_name: str, html: str) -> Article:
    """Published or draft, and when, from the HTML text and the file name."""
    base = PurePosixPath(entry_name.replace("\\", "/")).name
    published = _PUBLISHED.search(html)
    if published:
        when = parse_when(published.group(1))
        return Article(published=True, day=when.date() if when else None)
    if _DRAFT_MARKERS.search(html) or _DRAFT_NAME.match(base):
        return Article(published=False, day=None)
    created = _CREATED.search(html)
    if created:
        when = parse_when(created.group(1))
        return Article(published=True, day=when.date() if when else None)
    named = _NAME_DATE.match(base)
    if named:
        when = parse_when(named.group(1))
        return Article(published=True, day=when.date() if when else None)
    return Article(published=True, day=None)
