"""Coach reports: self-contained, escaped, fully translated pages in English, Dutch and German.

Built against ``fixtures/explanations_sample.json``: six explanation documents (sales, recruiting,
marketing, executive, HR, and one export with many unknown facts; targets reachable and not).
"""

from __future__ import annotations

import ast
import base64
import json
import re
from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.ext import babel_extract

from ssi_model.contract import CONTRACT
from ssi_model.explain.schema import Explanation
from ssi_model.report import member_file_name, render_cohort, render_member, write_reports
from ssi_model.report.i18n import LANGS, read_catalogue
from ssi_model.report.views import coaching_benchmark

FIXTURE = Path(__file__).parent / "fixtures" / "explanations_sample.json"
PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ssi_model" / "report"
DAY = date(2025, 11, 22)
HOSTILE = "<script>alert(1)</script>"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def docs() -> list[Explanation]:
    return [Explanation.model_validate(d) for d in json.loads(FIXTURE.read_text("utf-8"))]


def in_lang(doc: Explanation, lang: str) -> Explanation:
    return doc.model_copy(update={"lang": lang})


def by_id(docs: list[Explanation], member_id: str) -> Explanation:
    return next(d for d in docs if d.member_id == member_id)


class _Text(HTMLParser):
    """Visible text nodes of a page (and the text of title/aria-label attributes)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._skip += 1
        for name, value in attrs:
            if name in ("title", "aria-label", "data-label") and value:
                self.nodes.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.nodes.append(" ".join(data.split()))


def visible_text(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.nodes


def all_pages(docs: list[Explanation]) -> Iterator[tuple[str, str]]:
    for lang in LANGS:
        for doc in docs:
            yield f"{doc.member_id}/{lang}", render_member(in_lang(doc, lang), generated_on=DAY)
        yield f"index/{lang}", render_cohort(docs, member_links={}, lang=lang, generated_on=DAY)


# -- the fixture ---------------------------------------------------------------------------------
def test_fixture_validates_and_covers_the_stories(docs: list[Explanation]) -> None:
    assert len(docs) == 6
    assert {d.lang for d in docs} == set(LANGS)
    assert len({d.context["role_family"] for d in docs}) >= 5
    for d in docs:
        p = d.prediction
        assert 10 <= p.ssi_total <= 80
        pillars = [p.ssi_brand, p.ssi_people, p.ssi_insights, p.ssi_relationships]
        assert all(0 <= x <= 25 for x in pillars)
        assert p.ssi_total == pytest.approx(sum(pillars), abs=0.05)
        assert p.ssi_total_lo <= p.ssi_total <= p.ssi_total_hi
        assert p.ssi_insights <= max(pillars)
    many_unknown = [d for d in docs if len(d.unknown) >= 20]
    assert many_unknown and len(many_unknown[0].levers) <= 2
    targets = [d.target for d in docs if d.target is not None]
    assert any(t.reachable and t.plan for t in targets)
    assert any(not t.reachable for t in targets)


# -- rendering -----------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", LANGS)
def test_every_member_page_renders_in_each_language(docs: list[Explanation], lang: str) -> None:
    pillar_names = {"en": "Establish your professional brand", "nl": "Professioneel merk opbouwen",
                    "de": "Professionelle Marke etablieren"}
    for doc in docs:
        html = render_member(in_lang(doc, lang), generated_on=DAY)
        assert html.startswith("<!DOCTYPE html>")
        assert f'<html lang="{lang}">' in html
        assert pillar_names[lang] in html
        assert html.count('<svg class="bar') == 5  # total and four pillars
        for lever in doc.levers:
            assert lever.text.replace("'", "&#39;") in html


@pytest.mark.parametrize("lang", LANGS)
def test_cohort_page_renders_in_each_language(docs: list[Explanation], lang: str) -> None:
    links = {d.member_id: member_file_name(d.member_id) for d in docs}
    html = render_cohort(docs, member_links=links, lang=lang, generated_on=DAY)
    assert f'<html lang="{lang}">' in html
    assert html.count("<tr>") == len(docs) + 1
    assert '<svg class="hist"' in html
    for name in links.values():
        assert f'href="{name}"' in html
    # Sorted by total without JavaScript: highest first.
    rows = re.findall(r'<td data-value="([\d.]+)" data-label', html)
    assert [float(x) for x in rows] == sorted((float(x) for x in rows), reverse=True)


def test_cohort_language_defaults_to_the_documents(docs: list[Explanation]) -> None:
    dutch = [in_lang(d, "nl") for d in docs]
    assert '<html lang="nl">' in render_cohort(dutch, member_links={})


# -- self-contained and safe ---------------------------------------------------------------------
def test_pages_reference_nothing_outside_themselves(docs: list[Explanation]) -> None:
    for name, html in all_pages(docs):
        lowered = html.lower()
        assert "http://" not in lowered and "https://" not in lowered, name
        assert "<script src" not in lowered and "<link" not in lowered, name
        assert "@import" not in lowered, name
        assert not re.search(r"\bsrc\s*=", lowered), name
        urls = re.findall(r"url\(\s*['\"]?([^)'\"]*)", lowered)
        assert all(u.startswith("#") for u in urls), name
        assert "<iframe" not in lowered and "<img" not in lowered and "<object" not in lowered


def test_data_values_are_escaped(docs: list[Explanation]) -> None:
    doc = docs[0]
    hostile_lever = doc.levers[0].model_copy(update={"text": f"Post {HOSTILE} weekly"})
    hostile_tip = doc.tips[0].model_copy(update={"text": f'Tip "{HOSTILE}"'})
    evil = doc.model_copy(update={
        "member_id": f'{HOSTILE}"\'><b>x</b>',
        "levers": [hostile_lever, *doc.levers[1:]],
        "tips": [hostile_tip],
        "context": {**doc.context, "industry": "<img src=x onerror=alert(2)>"},
        "model": doc.model.model_copy(update={"name": HOSTILE}),
    })
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for lang in LANGS:
        member = render_member(in_lang(evil, lang), generated_on=DAY)
        cohort = render_cohort([in_lang(evil, lang)], member_links={evil.member_id: "a.html"})
        for html in (member, cohort):
            assert HOSTILE not in html and "<img" not in html and "<b>x</b>" not in html
            assert escaped in html
        assert "<script" not in member
        assert cohort.count("<script") == 1  # the inline table sort, nothing else


def test_cohort_links_must_stay_relative(docs: list[Explanation]) -> None:
    links = {docs[0].member_id: "javascript:alert(1)", docs[1].member_id: "//evil.example/x",
             docs[2].member_id: "/etc/passwd", docs[3].member_id: "ok-page.html"}
    html = render_cohort(docs, member_links=links)
    assert "javascript:" not in html and "evil.example" not in html and "/etc/passwd" not in html
    assert 'href="ok-page.html"' in html


# -- translations --------------------------------------------------------------------------------
def _messages(catalogue: Catalog) -> Iterator[Any]:
    return (m for m in catalogue if m.id)


def _strings(catalogue: Catalog, message: Any) -> tuple[str, ...]:
    """The translation(s) of ``message`` in ``catalogue`` (plural forms as several strings)."""
    translated = catalogue.get(message.id, context=message.context)
    assert translated is not None, (catalogue.locale, message.id)
    assert not translated.fuzzy, (catalogue.locale, message.id)
    string = translated.string
    return tuple(string) if isinstance(string, tuple | list) else (str(string or ""),)


def test_catalogues_are_complete_and_consistent() -> None:
    source = read_catalogue("en")
    assert len(list(_messages(source))) > 250
    for lang in ("nl", "de"):
        catalogue = read_catalogue(lang)
        ids = {(m.id, m.context) for m in _messages(catalogue)}
        for message in _messages(source):
            assert (message.id, message.context) in ids, (lang, message.id)
            strings = _strings(catalogue, message)
            assert all(strings), (lang, message.context, message.id)
            ids_text = "".join(message.id) if isinstance(message.id, tuple) else message.id
            for string in strings:
                assert set(PLACEHOLDER.findall(string)) == set(PLACEHOLDER.findall(ids_text)), (
                    lang, message.id)
                assert string.count("%%") == ids_text.count("%%") or "%%" in string, (
                    lang, message.id)


def _used_msgids() -> set[Any]:
    """msgids the templates and the view code ask for (Babel's Jinja extractor + the AST)."""
    used: set[Any] = set()
    options = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}
    for template in (PACKAGE / "templates").glob("*.j2"):
        with template.open("rb") as fh:
            for _, func, message, _ in babel_extract(fh, ["_", "gettext", "ngettext"], [],
                                                     options):
                if func == "ngettext":
                    used.add((message[0], message[1]))  # type: ignore[index]
                else:
                    used.add(message if isinstance(message, str) else message[0])  # type: ignore[index]
    for module in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text("utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("gettext", "ngettext") and node.args
                    and isinstance(node.args[0], ast.Constant)):
                args = [a.value for a in node.args if isinstance(a, ast.Constant)]
                used.add((args[0], args[1]) if node.func.attr == "ngettext" else args[0])
    return used


def test_every_text_the_code_uses_is_in_the_catalogue() -> None:
    source = read_catalogue("en")
    plain = {m.id for m in _messages(source) if not m.context}
    used = _used_msgids()
    assert len(used) > 80
    missing = [m for m in used if m not in plain]
    assert not missing, missing


def test_every_contract_column_and_category_has_wording() -> None:
    keys = {m.context for m in _messages(read_catalogue("en")) if m.context}
    for column in CONTRACT.behaviour_columns:
        assert f"column:{column}" in keys, column
        kinds = ("yes", "no") if CONTRACT[column].kind == "bool" else ("more", "less")
        for kind in kinds:
            assert f"driver:{column}:{kind}" in keys, (column, kind)
    for column in ("industry", "role_family", "seniority", "region", "subscription"):
        assert f"column:{column}" in keys
        for value in CONTRACT[column].values:
            assert f"{column}:{value}" in keys, (column, value)
    for pillar in ("brand", "people", "insights", "relationships"):
        assert {f"pillar:{pillar}", f"pillar_short:{pillar}"} <= keys


def _english_patterns(lang: str) -> list[tuple[str, re.Pattern[str]]]:
    """English text that must not appear on a page in ``lang``: every English msgid whose
    translation differs, as literal fragments (placeholders removed) of one word of 5+ letters
    or of two or more words."""
    source = read_catalogue("en")
    catalogue = read_catalogue(lang)
    # Words the target language itself uses (product names such as "Sales Navigator").
    own_words = " ".join(s for m in _messages(catalogue)
                         for s in (m.string if isinstance(m.string, tuple) else (m.string,)))
    patterns = []
    for message in _messages(source):
        if message.context and message.context.startswith("pillar:"):
            continue  # LinkedIn's English pillar name follows the translated one on purpose
        english = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = _strings(catalogue, message)
        for text in english:
            if text in strings:
                continue
            for fragment in PLACEHOLDER.split(text)[::2]:
                fragment = fragment.replace("%%", "%").strip(" .,:;()·–+")
                words = re.findall(r"[A-Za-z']+", fragment)
                if len(words) >= 2 or (len(words) == 1 and len(words[0]) >= 5):
                    pattern = re.compile(rf"(?<![\w-]){re.escape(fragment)}(?![\w-])")
                    if not pattern.search(own_words):
                        patterns.append((text, pattern))
    return patterns


@pytest.mark.parametrize("lang", ["nl", "de"])
def test_no_english_left_on_dutch_and_german_pages(docs: list[Explanation], lang: str) -> None:
    patterns = _english_patterns(lang)
    assert len(patterns) > 250
    data_values = {d.member_id for d in docs}
    data_values |= {lever.text for d in docs for lever in d.levers}
    data_values |= {tip.text for d in docs for tip in d.tips}
    data_values |= {d.model.name for d in docs}
    pages = [render_member(in_lang(d, lang), generated_on=DAY) for d in docs]
    pages.append(render_cohort([in_lang(d, lang) for d in docs], member_links={}))
    for html in pages:
        for node in visible_text(html):
            for value in sorted(data_values, key=len, reverse=True):
                node = node.replace(value, " ")
            for english, pattern in patterns:
                assert not pattern.search(node), f"English {english!r} on a {lang} page: {node!r}"


@pytest.mark.parametrize(("lang", "total", "thousands", "day"), [
    ("en", "43.5", "2,310", "22 November 2025"),
    ("nl", "43,5", "2310", "22 november 2025"),
    ("de", "43,5", "2310", "22. November 2025"),
])
def test_numbers_and_dates_follow_the_locale(docs: list[Explanation], lang: str, total: str,
                                             thousands: str, day: str) -> None:
    doc = in_lang(by_id(docs, "tech-sales-0001"), lang)
    text = " ".join(visible_text(render_member(doc, generated_on=DAY)))
    assert total in text
    assert thousands in text  # connections_count 2310 in a driver sentence
    assert day in text
    wrong = "43,5" if lang == "en" else "43.5"
    assert wrong not in text


def test_drivers_read_as_plain_sentences(docs: list[Explanation]) -> None:
    doc = by_id(docs, "tech-sales-0001")
    text = " ".join(visible_text(render_member(doc, generated_on=DAY)))
    assert ("You comment on others' posts less than your peers: 4 in 90 days (peers: usually "
            "20).") in text
    assert "Your profile has no background photo." in text
    assert "Pushes up" in text and "Pushes down" in text
    assert not re.search(r"\bSHAP\b", text, flags=re.IGNORECASE)
    html = render_member(doc, generated_on=DAY)
    drivers = html[html.index('id="h-drivers"'):html.index('id="h-tips"')]
    for jargon in ("gain", "contribution", "SHAP"):  # contributions "push", they do not "gain"
        assert not re.search(rf"\b{jargon}", " ".join(visible_text(drivers)), re.I), jargon
    hr = by_id(docs, 'HR Jörg/Köln #6 "quoted" <b>bold</b>')
    german = " ".join(visible_text(render_member(hr, generated_on=DAY)))
    assert ("Sie kommentieren" not in german
            and "Ihr Info-Abschnitt ist kürzer als der Ihrer Vergleichsgruppe: 0 Zeichen "
                "(in Ihrer Vergleichsgruppe meist 540)." in german)
    assert "Aktivität in Gruppen (90 Tage): 0, wie in Ihrer Vergleichsgruppe üblich." in german


def test_unknown_values_are_phrased_as_unknown(docs: list[Explanation]) -> None:
    doc = by_id(docs, "de-marketing-0003")
    text = " ".join(visible_text(render_member(in_lang(doc, "en"), generated_on=DAY)))
    assert "Leads saved (90 days): not known; the model estimated without it." in text


# -- content -------------------------------------------------------------------------------------
def test_many_unknowns_page_renders_and_lists_them(docs: list[Explanation]) -> None:
    doc = by_id(docs, "export-7f3a9c")
    for lang, heading, label in [("en", "30 facts were unknown", "Headline length (characters)"),
                                 ("nl", "30 gegevens waren onbekend", "Lengte van de kopregel"),
                                 ("de", "30 Angaben waren unbekannt",
                                  "Länge der Überschrift")]:
        text = " ".join(visible_text(render_member(in_lang(doc, lang), generated_on=DAY)))
        assert heading in text and label in text
    text = " ".join(visible_text(render_member(doc, generated_on=DAY)))
    assert "30 of 50 facts are unknown" in text
    assert "Industry Not known" in text  # the colon comes from the style sheet
    assert "version not recorded" in text


def test_coaching_benchmarks_by_role() -> None:
    assert (coaching_benchmark("sales").low, coaching_benchmark("sales").high) == (75, None)
    assert (coaching_benchmark("recruiting").low, coaching_benchmark("recruiting").high) == (
        75, None)
    assert (coaching_benchmark("hr").low, coaching_benchmark("hr").high) == (60, 65)
    assert (coaching_benchmark("marketing_communications").low,
            coaching_benchmark("marketing_communications").high) == (60, 65)
    assert (coaching_benchmark("social_media").low, coaching_benchmark("social_media").high) == (
        75, 80)
    other = coaching_benchmark("engineering")
    assert (other.low, other.high, other.role_family) == (50, 55, None)
    assert coaching_benchmark(None).role_family is None


def test_benchmark_is_labelled_as_hearsay_next_to_peer_figures(docs: list[Explanation]) -> None:
    text = " ".join(visible_text(render_member(by_id(docs, "tech-sales-0001"),
                                               generated_on=DAY)))
    assert "Coaching-guide benchmark for Sales: 75+" in text
    assert "not a LinkedIn figure" in text
    assert "Most members score far lower: your peers (Technology · Sales) average 35.4" in text
    unknown_role = " ".join(visible_text(render_member(by_id(docs, "export-7f3a9c"),
                                                       generated_on=DAY)))
    assert "Coaching-guide benchmark for the average member: 50–55" in unknown_role


def test_plan_targets_and_tips(docs: list[Explanation]) -> None:
    sales = " ".join(visible_text(render_member(by_id(docs, "tech-sales-0001"),
                                                generated_on=DAY)))
    assert "Recommended plan" in sales and "+5.3" in sales
    assert "the combined gain is not the sum of the single gains (+6.3)" in sales
    assert "No catalogue plan of up to three actions reaches 75" in sales
    assert "about 49.7" in sales
    assert "70 min/week plus about 40 min once" in sales
    assert "Good practice the model does not measure" in sales
    assert "Values are estimated and may vary." in sales
    assert "not a figure from LinkedIn" in sales
    assert "Model ssi-estimator, version 7, trained on 18 November 2025." in sales
    recruiter = " ".join(visible_text(render_member(in_lang(by_id(docs, "nl-recruiter-0002"),
                                                            "en"), generated_on=DAY)))
    assert "Target 60 reachable" in recruiter
    assert "The least-effort plan reaches about 60.9" in recruiter


def test_a_sparse_document_still_renders(docs: list[Explanation]) -> None:
    doc = by_id(docs, "export-7f3a9c")
    sparse = doc.model_copy(update={
        "levers": [], "plan": None, "target": None, "tips": [],
        "drivers": {"brand": doc.drivers["brand"]},
        "context": {}, "unknown": [],
    })
    for lang in LANGS:
        html = render_member(in_lang(sparse, lang), generated_on=DAY)
        assert html.count('<svg class="bar') == 5
    text = " ".join(visible_text(render_member(sparse, generated_on=DAY)))
    assert "No action in the catalogue is estimated to raise your SSI." in text
    assert "All facts were known." in text
    assert "Coaching tips" not in text
    cohort = render_cohort([sparse], member_links={})
    assert "No plans yet." in cohort


def test_an_empty_cohort_renders() -> None:
    html = render_cohort([], member_links={})
    assert '<html lang="en">' in html and "0 clients" in html


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_any_member_id_gives_a_safe_file_name(member_id: str) -> None:
    name = member_file_name(member_id)
    assert re.fullmatch(r"[a-z0-9-]{1,40}-[0-9a-f]{10}\.html", name)
    assert member_file_name(member_id) == name
    assert member_file_name(member_id + "x") != name


# -- files ---------------------------------------------------------------------------------------
def test_write_reports_uses_safe_unique_file_names(docs: list[Explanation],
                                                   tmp_path: Path) -> None:
    tricky = [docs[0].model_copy(update={"member_id": mid}) for mid in
              ("../../etc/passwd", "a/b", "a b", "", "ÄÖÜ", "a/b", HOSTILE, "x" * 300)]
    paths = write_reports([*docs, *tricky], tmp_path / "out", generated_on=DAY)
    names = [p.name for p in paths]
    assert names[-1] == "index.html"
    assert len(set(names)) == len(names) == len(docs) + len(tricky) + 1
    for path in paths:
        assert path.parent == tmp_path / "out"
        assert re.fullmatch(r"[a-z0-9-]{1,60}\.html", path.name), path.name
    assert member_file_name("a/b") != member_file_name("a b")
    assert member_file_name("ÄÖÜ").startswith("aou-")
    index = (tmp_path / "out" / "index.html").read_text("utf-8")
    for path in paths[:-1]:
        assert f'href="{path.name}"' in index or path.name.endswith("-2.html")


# -- in a real browser (Chromium from `make system-deps`: the `chromium` fixture in conftest) ---


def _check_page(driver: Any, url: str, shot: Path, width: int) -> None:
    driver.set_window_size(width, 900)
    driver.get(url)
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
    sizes = driver.execute_script(
        "return Array.from(document.querySelectorAll('svg.bar, svg.hist, svg.gbar'))"
        ".map(function (s) { var r = s.getBoundingClientRect(); return [r.width, r.height]; });")
    assert sizes and all(w > 0 and h > 0 for w, h in sizes), sizes
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
    assert overflow <= 0, f"horizontal scrolling at {width}px: {overflow}px"
    height = driver.execute_script("return document.documentElement.scrollHeight;")
    driver.set_window_size(width, height + 120)  # full page: the window is as tall as the page
    driver.save_screenshot(str(shot))


@pytest.mark.browser
def test_pages_in_a_real_browser(docs: list[Explanation], browser: Any, screenshots: Path,
                                 tmp_path: Path) -> None:
    pages: list[Path] = []
    for lang in LANGS:
        folder = tmp_path / lang
        language_docs = [in_lang(d, lang) for d in docs]
        paths = write_reports(language_docs, folder, generated_on=DAY)
        by_member = dict(zip((d.member_id for d in docs), paths, strict=False))
        pages += [by_member["tech-sales-0001"], paths[-1]]
        if lang == "en":
            pages.append(by_member["export-7f3a9c"])
    for page in pages:
        stem = "index" if page.name == "index.html" else page.name.rsplit("-", 1)[0]
        for width in (1280, 390):
            shot = screenshots / f"{page.parent.name}-{stem}-{width}.png"
            _check_page(browser, page.as_uri(), shot, width)

    # The client table sorts with the inline script: a click on "SSI" reverses the order.
    browser.set_window_size(1280, 900)
    browser.get(pages[1].as_uri())
    first = browser.execute_script(
        "return document.querySelector('#members tbody tr td').textContent.trim();")
    browser.execute_script("document.querySelectorAll('#members th button')[1].click();")
    after = browser.execute_script(
        "return document.querySelector('#members tbody tr td').textContent.trim();")
    assert first == "ceo-ps-0005" and after != first

    # Printing on A4: a member page fits on a few pages; keep the PDF and a print-media view.
    browser.get(pages[0].as_uri())
    pdf = base64.b64decode(browser.execute_cdp_cmd("Page.printToPDF", {
        "paperWidth": 8.27, "paperHeight": 11.69, "printBackground": True,
        "preferCSSPageSize": True})["data"])
    (screenshots / "en-member-print.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF")
    assert 1 <= len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) <= 3
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        _check_page(browser, pages[0].as_uri(), screenshots / "en-member-print-794.png", 794)
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
