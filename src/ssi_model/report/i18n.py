"""Report languages: gettext catalogues read at runtime, and locale-aware number and date formats.

All fixed text lives in ``locales/<lang>/LC_MESSAGES/report.po``. The English catalogue is the
source: its msgids are the English text and its msgstrs stay empty. Two kinds of message:

- plain messages (``msgid`` only), used by the templates through ``_()`` / ``ngettext()``;
- keyed messages (``msgctxt`` such as ``column:posts_90d`` or ``driver:posts_90d:less``), looked up
  by key from code: column labels, category labels, pillar names and the driver sentences.

Catalogues are parsed with Babel (``read_po``) and compiled in memory into a
:class:`babel.support.Translations`, so no ``.mo`` file is kept in git.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache, lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Literal

from babel import Locale
from babel.dates import format_date
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent, get_decimal_symbol
from babel.support import Translations

from ssi_model.contract import SOURCE_LANG, languages

if TYPE_CHECKING:
    Lang = str
else:
    Lang = Literal[languages()]
# One language per catalogue folder under locales/ (the contract lists them for every module).
LANGS: tuple[str, ...] = languages()
DOMAIN = "report"
# Babel locales used for numbers and dates (British English: day-month-year dates).
LOCALE_IDS: dict[str, str] = {"en": "en_GB", "nl": "nl_NL", "de": "de_DE"}
MINUS = "\u2212"
# Thousands in running text for nl/de: none up to four digits (1500), a narrow no-break space
# above (12 500). "1.500" reads as a decimal in Switzerland; a plain space breaks lines.
THIN_GROUP = "\u202f"
GROUPED_LANGS = frozenset({"en"})
# Past the middle a rank reads better from the bottom ("bottom 2 %", not "Top 98 %").
RANK_FLIP = 50.0


def catalogue_path(lang: str) -> resources.abc.Traversable:
    return (resources.files("ssi_model.report") / "locales" / lang / "LC_MESSAGES"
            / f"{DOMAIN}.po")


@cache
def read_catalogue(lang: str) -> Catalog:
    """The parsed ``.po`` catalogue of one language."""
    if lang not in LANGS:
        raise ValueError(f"unsupported report language {lang!r}; expected one of {LANGS}")
    with catalogue_path(lang).open("rb") as fh:
        return read_po(fh, locale=LOCALE_IDS.get(lang, lang), domain=DOMAIN)


@dataclass(frozen=True)
class Texts:
    """One language's text and formats: gettext for templates, keyed lookups for code."""

    lang: str
    locale: Locale
    translations: Translations
    keyed: dict[str, str] = field(repr=False)

    # -- text --------------------------------------------------------------------------------
    def gettext(self, message: str, **values: object) -> str:
        """Translate and fill ``%(name)s`` placeholders (always %-formatted, as in templates)."""
        return self.translations.gettext(message) % values

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        return self.translations.ngettext(singular, plural, n) % {"num": n, **values}

    def key(self, key: str, **values: object) -> str:
        """A keyed message (``msgctxt``), e.g. ``column:posts_90d``; KeyError if absent."""
        return self.keyed[key] % values

    def has(self, key: str) -> bool:
        return key in self.keyed

    def label(self, kind: str, code: str | None) -> str:
        """Label of a category value or column (``industry``/``technology``); raw code if new."""
        if code is None:
            return self.gettext("Not known")
        return self.keyed.get(f"{kind}:{code}", code)

    # -- numbers and dates ----------------------------------------------------------------------
    def decimal(self, value: float, digits: int = 1) -> str:
        """A number with exactly ``digits`` decimals (``31.5`` / ``31,5``)."""
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return _format_number(self.lang, round(float(value), digits), pattern)

    def count(self, value: float) -> str:
        """A count as people read it: whole numbers without decimals, others with one."""
        return _format_number(self.lang, round(float(value), 1), "#,##0.#")

    def typical(self, value: float) -> str:
        """A peer median of a count, rounded to a whole count: peers post "usually 46" times,
        never "45.5" (half a post reads as an error)."""
        return _format_number(self.lang, float(_round_half_up(value)), "#,##0")

    def rank(self, top_pct: float, industry: str | None) -> str:
        """The estimated rank in the industry (or among all members without one): "Top 22 %"
        up to the middle, "Bottom 2 %" past it."""
        top = min(100.0, max(1.0, float(top_pct)))
        if top <= RANK_FLIP:
            if industry is None:
                return self.gettext("Top %(pct)s of all members", pct=self.percent(top))
            return self.gettext("Top %(pct)s in %(industry)s", pct=self.percent(top),
                                industry=self.label("industry", industry))
        bottom = max(1.0, 100.0 - top)
        if industry is None:
            return self.gettext("Bottom %(pct)s of all members", pct=self.percent(bottom))
        return self.gettext("Bottom %(pct)s in %(industry)s", pct=self.percent(bottom),
                            industry=self.label("industry", industry))

    def rank_short(self, top_pct: float) -> str:
        """The rank for a table cell: "top 22 %" or "bottom 2 %"."""
        top = min(100.0, max(1.0, float(top_pct)))
        if top <= RANK_FLIP:
            return self.gettext("top %(pct)s", pct=self.percent(top))
        return self.gettext("bottom %(pct)s", pct=self.percent(max(1.0, 100.0 - top)))

    def pillar_first(self, pillar: str) -> str:
        """A pillar's name at its first mention on a page: with LinkedIn's English name in
        brackets outside English, as most members see the SSI dashboard in English."""
        name = self.key(f"pillar:{pillar}")
        english = texts(SOURCE_LANG).key(f"pillar:{pillar}")
        if name == english:
            return name
        return self.gettext("%(name)s (%(english)s)", name=name, english=english)

    def signed(self, value: float, digits: int = 1) -> str:
        """``+2.3`` / ``−0.4``; a value that rounds to zero shows as ``±0``."""
        rounded = round(float(value), digits)
        if rounded == 0:
            return "\u00b1" + self.decimal(0.0, digits)
        sign = "+" if rounded > 0 else MINUS
        return sign + self.decimal(abs(rounded), digits)

    def percent(self, value: float) -> str:
        """A 0–100 figure as a whole percentage in the locale's style (``37%`` / ``37 %``)."""
        return format_percent(round(float(value)) / 100.0, locale=self.locale)

    def date(self, value: date | datetime | str | None) -> str | None:
        """A long date (``22 November 2025`` / ``22. November 2025``); bad strings as they are."""
        if value is None:
            return None
        day: date | datetime
        if isinstance(value, str):
            try:
                day = datetime.fromisoformat(value)
            except ValueError:
                return value
        else:
            day = value
        text: str = format_date(day, format="long", locale=self.locale)
        return text


def _round_half_up(value: float) -> int:
    """45.5 -> 46 (Python's round() would give 46 here but 44 for 44.5: banker's rounding)."""
    return int(Decimal(str(float(value))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@lru_cache(maxsize=65536)
def _format_number(lang: str, value: float, pattern: str) -> str:
    """Babel's formatting, memoised: reports repeat the same rounded numbers thousands of times.

    Outside English the locale's grouping is replaced (see ``THIN_GROUP``)."""
    locale = LOCALE_IDS[lang]
    if lang in GROUPED_LANGS:
        text: str = format_decimal(value, format=pattern, locale=locale)
        return text.replace("-", MINUS)
    text = format_decimal(value, format=pattern.replace("#,##", ""), locale=locale)
    sign = MINUS if text.startswith("-") else ""
    digits = text.lstrip("-")
    decimal_symbol = get_decimal_symbol(locale)
    whole, sep, fraction = digits.partition(decimal_symbol)
    if len(whole) > 4:
        groups = [whole[max(0, i - 3):i] for i in range(len(whole), 0, -3)][::-1]
        whole = THIN_GROUP.join(groups)
    return sign + whole + sep + fraction


def _keyed_messages(lang: str) -> dict[str, str]:
    """``msgctxt`` → text: the translation, the English source where the catalogue is English."""
    source = read_catalogue(SOURCE_LANG)
    catalogue = read_catalogue(lang)
    keyed: dict[str, str] = {}
    for message in source:
        if not message.context or not isinstance(message.id, str):
            continue
        text = message.id
        if lang != SOURCE_LANG:
            translated = catalogue.get(message.id, context=message.context)
            if translated is not None and translated.string and not translated.fuzzy:
                text = str(translated.string)
        keyed[message.context] = text
    return keyed


@cache
def texts(lang: str) -> Texts:
    """The cached :class:`Texts` of a language (parsed once per process)."""
    catalogue = read_catalogue(lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue, use_fuzzy=False)
    buffer.seek(0)
    translations = Translations(fp=buffer, domain=DOMAIN)
    return Texts(lang=lang, locale=Locale.parse(LOCALE_IDS[lang]), translations=translations,
                 keyed=_keyed_messages(lang))
