"""One glossary for every text a client reads (report/glossary.yaml).

The Dutch and German report catalogues and lever sentences must name each LinkedIn concept with
the word LinkedIn's own interface uses, and never with a competing one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
import yaml

from ssi_model.report.i18n import read_catalogue
from ssi_model.report.i18n import texts as lang_texts

LANGS = ("nl", "de")


def _glossary() -> dict[str, Any]:
    text = resources.files("ssi_model.report").joinpath("glossary.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _levers() -> dict[str, Any]:
    text = resources.files("ssi_model.explain").joinpath("levers.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _texts() -> Iterator[tuple[str, dict[str, str]]]:
    """(where, {"en": ..., "nl": ..., "de": ...}) for every text a client can read."""
    source = read_catalogue("en")
    targets = {lang: read_catalogue(lang) for lang in LANGS}
    for message in source:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        translated = {lang: cat.get(message.id, context=message.context)
                      for lang, cat in targets.items()}
        for i, english in enumerate(ids):
            texts: dict[str, str] = {"en": str(english)}
            for lang, m in translated.items():
                assert m is not None, (lang, message.context, english)
                strings = m.string if isinstance(m.string, tuple) else (m.string,)
                texts[lang] = str(strings[min(i, len(strings) - 1)])
            yield f"report.po {message.context or english[:40]!r}", texts
    levers = _levers()
    for kind in ("levers", "tips"):
        for entry in levers[kind]:
            yield f"levers.yaml {entry['id']}", dict(entry["text"])
    yield "levers.yaml caveat", dict(levers["caveat"])


def _placeholders_out(text: str) -> str:
    return re.sub(r"%\([a-z_]+\)s", " ", text)


def test_glossary_covers_the_issue_terms_in_both_languages() -> None:
    glossary = _glossary()
    concepts = {t["concept"]: t for t in glossary["terms"]}
    expected = {"featured": ("Uitgelicht", "Im Fokus"), "skills": ("vaardigheden", "Kenntnisse"),
                "endorsements": ("onderschrijvingen", "Bestätigungen"),
                "background_photo": ("achtergrondfoto", "Hintergrundbild"),
                "connections": ("connecties", "Kontakte"),
                "profile_views": ("profielweergaven", "Profilaufrufe"),
                "save": ("opslaan", "speichern"), "post": ("post", "Beitrag"),
                "comment": ("opmerking", "Kommentar"), "degree": ("2e/3e graad", "2./3. Grades")}
    for concept, (nl, de) in expected.items():
        assert concepts[concept]["nl"]["term"] == nl
        assert concepts[concept]["de"]["term"] == de
    for term in glossary["terms"]:
        for lang in LANGS:
            # the glossary's own word must satisfy its own rule
            assert re.search(term[lang]["match"], term[lang]["term"], re.I), (term["concept"], lang)


def test_the_glossary_rule_can_fail() -> None:
    """The competing words the issue found are caught (so the main test is not vacuous)."""
    glossary = _glossary()
    avoid = {lang: [p for t in glossary["terms"] for p in t[lang].get("avoid", [])]
             + glossary["avoid"][lang] for lang in LANGS}
    for lang, bad in [("nl", "Je plaatst vaker bijdragen dan je vakgenoten."),
                      ("nl", "Reageer met een reactie-icoon op posts."),
                      ("nl", "Bewaar elke week drie leads."),
                      ("nl", "Volgens de schatting verhoogt niets de SSI van dit lid."),
                      ("de", "Fügen Sie ein Titelbild (Banner) hinzu."),
                      ("de", "Formulieren Sie Ihre Headline neu."),
                      ("de", "Die Aktionen wurden gemeinsam geschätzt."),
                      ("de", "mindestens 1.500 Zeichen")]:
        assert any(re.search(p, bad, re.I) for p in avoid[lang]), (lang, bad)


@pytest.mark.parametrize("lang", LANGS)
def test_every_text_uses_the_glossary_term(lang: str) -> None:
    glossary = _glossary()
    failures = []
    for where, texts in _texts():
        english = _placeholders_out(texts["en"])
        translated = _placeholders_out(texts[lang])
        for term in glossary["terms"]:
            if re.search(term["en"], english, re.I) and not re.search(
                    term[lang]["match"], translated, re.I):
                failures.append(f"{where}: {term['concept']} should read "
                                f"{term[lang]['term']!r}: {texts[lang]!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("lang", LANGS)
def test_no_text_uses_a_competing_word(lang: str) -> None:
    glossary = _glossary()
    avoid = [(t["concept"], p) for t in glossary["terms"] for p in t[lang].get("avoid", [])]
    avoid += [("policy", p) for p in glossary["avoid"][lang]]
    failures = [f"{where}: {concept} {pattern!r} in {texts[lang]!r}"
                for where, texts in _texts() for concept, pattern in avoid
                if re.search(pattern, _placeholders_out(texts[lang]), re.I)]
    assert not failures, "\n".join(failures)


# -- numbers a client understands ------------------------------------------------------------------
def test_peer_medians_of_counts_are_whole_numbers_rounded_half_up() -> None:
    assert lang_texts("en").typical(45.5) == "46"
    assert lang_texts("en").typical(44.5) == "45"  # not banker's rounding
    assert lang_texts("de").typical(42.4) == "42"


def test_ranks_past_the_middle_read_from_the_bottom() -> None:
    assert lang_texts("en").rank(98.0, "technology") == "Bottom 2% in Technology"
    assert lang_texts("en").rank(22.0, None) == "Top 22% of all members"
    assert lang_texts("nl").rank(98.0, "other") == "Onderste 2% in je branche: Overig"
    assert (lang_texts("de").rank(50.0, "technology")
            == "Top 50\u00a0% in Ihrer Branche: Technologie")
    assert lang_texts("de").rank_short(99.6) == "Untere 1\u00a0%"  # never "bottom 0 %"


@pytest.mark.parametrize("lang", LANGS)
def test_thousands_never_use_a_point(lang: str) -> None:
    t = lang_texts(lang)
    assert t.count(1500) == "1500"
    assert t.count(12345.5) == "12\u202f345,5"
    assert t.count(-2310) == "\u22122310"


def test_pillars_carry_linkedins_english_name_at_first_mention() -> None:
    assert (lang_texts("nl").pillar_first("relationships")
            == "Relaties opbouwen (Build relationships)")
    assert lang_texts("en").pillar_first("relationships") == "Build relationships"
