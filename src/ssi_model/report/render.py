"""Render explanation documents into self-contained HTML pages (one per member, one per cohort).

A page carries its CSS inline and its charts as inline SVG, references nothing outside itself and
escapes every data value (Jinja autoescape): member ids and texts are untrusted input.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, Template

from ssi_model.explain.schema import Explanation
from ssi_model.progress import track

from .history import MemberHistory
from .i18n import LANGS, texts
from .views import cohort_view, member_view
from .whatif import WhatIf, whatif_view

INDEX_NAME = "index.html"
_SLUG_MAX = 40


@cache
def environment(lang: str) -> Environment:
    """One Jinja environment per language, with that language's catalogue installed (cached)."""
    t = texts(lang)
    env = Environment(
        loader=PackageLoader("ssi_model.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(t.translations, newstyle=True)  # type: ignore[attr-defined]
    return env


@cache
def _template(lang: str, name: str) -> Template:
    return environment(lang).get_template(name)


def render_member(doc: Explanation, *, generated_on: date | None = None,
                  whatif: WhatIf | None = None,
                  history: MemberHistory | None = None) -> str:
    """One member's report as a self-contained HTML page in ``doc.lang``.

    With ``whatif`` (the model and the member's row, :func:`ssi_model.report.whatif.for_member`)
    the page carries the model and its what-if controls re-score the profile in the browser.
    With ``history`` (``member_history``: the member's snapshots scored by the same model), the
    page adds a chart of reported and estimated SSI over the snapshots and what changed since
    the previous one.
    """
    t = texts(doc.lang)
    view = member_view(doc, t, generated_on or date.today(), history)
    w = whatif_view(whatif, doc, t) if whatif is not None else None
    return _template(doc.lang, "member.html.j2").render(v=view, w=w)


def render_cohort(docs: list[Explanation], *, member_links: dict[str, str],
                  lang: str | None = None, generated_on: date | None = None,
                  histories: Mapping[str, MemberHistory] | None = None) -> str:
    """The coach's client list (``index.html``): every member, the distribution, common levers.

    ``member_links`` maps member ids to *relative* links (other links are shown as plain text).
    ``lang`` defaults to the language most of the documents are in (English for none).
    ``histories`` (by member id) adds each client's trend: the change since the previous snapshot.
    """
    if lang is None:
        lang = Counter(d.lang for d in docs).most_common(1)[0][0] if docs else "en"
    if lang not in LANGS:
        raise ValueError(f"unsupported report language {lang!r}; expected one of {LANGS}")
    t = texts(lang)
    view = cohort_view(docs, t, member_links, generated_on or date.today(), histories)
    return _template(lang, "cohort.html.j2").render(v=view)


def member_file_name(member_id: str) -> str:
    """A safe, stable file name for a member id: readable slug plus a short hash of the id.

    The id is never used as a path: accents are folded, anything outside ``a-z0-9`` becomes a
    hyphen, and the hash keeps ids that slug alike (``a/b`` and ``a b``) apart.
    """
    folded = unicodedata.normalize("NFKD", member_id).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")[:_SLUG_MAX].strip("-")
    digest = hashlib.sha256(member_id.encode("utf-8")).hexdigest()[:10]
    return f"{slug or 'member'}-{digest}.html"


def _unique_names(member_ids: Iterable[str]) -> list[str]:
    """File names for each document; a member id that repeats gets ``-2``, ``-3`` …"""
    seen: Counter[str] = Counter()
    names = []
    for member_id in member_ids:
        name = member_file_name(member_id)
        seen[name] += 1
        if seen[name] > 1:
            name = f"{name.removesuffix('.html')}-{seen[name]}.html"
        names.append(name)
    return names


def write_reports(docs: list[Explanation], out_dir: Path, *,
                  generated_on: date | None = None,
                  whatifs: Sequence[WhatIf | None] | None = None,
                  histories: Mapping[str, MemberHistory] | None = None) -> list[Path]:
    """Write one page per member and ``index.html`` into ``out_dir``; return the paths written.

    The index is in the documents' most common language and links each member to its page.
    ``whatifs`` (one per document, or ``None``) gives the pages their what-if controls;
    ``histories`` (by member id, optional) add history to the pages and trends to the index.
    """
    if whatifs is not None and len(whatifs) != len(docs):
        raise ValueError("whatifs: one per document")
    histories = histories or {}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    day = generated_on or date.today()
    names = _unique_names(d.member_id for d in docs)
    written: list[Path] = []
    links: dict[str, str] = {}
    pages = track(enumerate(zip(docs, names, strict=True)), "report", total=len(docs),
                  unit="pages")
    for i, (doc, name) in pages:
        path = out_dir / name
        whatif = whatifs[i] if whatifs is not None else None
        path.write_text(render_member(doc, generated_on=day, whatif=whatif,
                                      history=histories.get(doc.member_id)), encoding="utf-8")
        links.setdefault(doc.member_id, name)
        written.append(path)
    index = out_dir / INDEX_NAME
    index.write_text(render_cohort(docs, member_links=links, generated_on=day,
                                   histories=histories), encoding="utf-8")
    written.append(index)
    return written
