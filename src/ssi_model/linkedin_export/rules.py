"""Load ``rules.yaml`` and match its keyword rules.

Keyword phrases match whole words of a normalised text (case-folded; every run of characters that
are neither letters nor digits becomes one space). ``*`` at either end of a word stands for any
letters there, so ``vertrieb*`` matches "Vertriebsleiter".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

_NON_WORD = re.compile(r"[\W_]+")
_NON_WORD_KEEP_STAR = re.compile(r"[^\w*]+")


def normalise_text(text: str) -> str:
    """Case-fold and reduce every run of non-alphanumerics to one space."""
    return _NON_WORD.sub(" ", text.casefold()).strip()


def normalise_key(text: str) -> str:
    """A header or file-name key: case-folded, letters and digits only."""
    return _NON_WORD.sub("", text.casefold())


def _phrase_pattern(phrase: str) -> str:
    words = _NON_WORD_KEEP_STAR.sub(" ", phrase.casefold()).split()
    parts = []
    for word in words:
        core = re.escape(word.strip("*"))
        head = r"\w*" if word.startswith("*") else ""
        tail = r"\w*" if word.endswith("*") else ""
        parts.append(f"{head}{core}{tail}")
    return r"(?<!\S)" + " ".join(parts) + r"(?!\S)"


@dataclass(frozen=True)
class KeywordSet:
    """A list of phrases; ``find`` returns the first phrase (as written) found in a text."""

    phrases: tuple[str, ...]
    _patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_patterns", tuple(re.compile(_phrase_pattern(p)) for p in self.phrases)
        )

    def find(self, normalised: str) -> str | None:
        for phrase, pattern in zip(self.phrases, self._patterns, strict=True):
            if pattern.search(normalised):
                return phrase
        return None


@dataclass(frozen=True)
class KeywordRule:
    keywords: KeywordSet
    unless: KeywordSet
    value: str


@dataclass(frozen=True)
class RuleList:
    """Ordered rules: the first whose keywords match (and no ``unless`` phrase does) wins."""

    rules: tuple[KeywordRule, ...]

    def match(self, text: str) -> tuple[str, str] | None:
        """``(value, matched keyword)`` or ``None``."""
        normalised = normalise_text(text)
        if not normalised:
            return None
        for rule in self.rules:
            hit = rule.keywords.find(normalised)
            if hit is not None and rule.unless.find(normalised) is None:
                return rule.value, hit
        return None


@dataclass(frozen=True)
class FileSpec:
    """How to find and read one LinkedIn file."""

    canonical: str
    names: tuple[str, ...]
    in_basic: bool
    layout: str
    columns: Mapping[str, tuple[str, ...]]
    required: tuple[str, ...]
    skip_unknown_header: bool


@dataclass(frozen=True)
class Rules:
    files: Mapping[str, FileSpec]
    complete_any_of: frozenset[str]
    complete_two_of: frozenset[str]
    articles_in_basic: bool
    whole_archive_requires: tuple[str, ...]
    column_files: Mapping[str, tuple[str, ...]]
    activity_days: tuple[str, ...]
    event_dates: Mapping[str, str]
    hidden_statuses: frozenset[str]
    month_aliases: Mapping[str, str]
    company_legal_suffixes: frozenset[str]
    industry: RuleList
    role_family: RuleList
    seniority: RuleList
    vp_plus: KeywordRule
    region: RuleList
    subscription_receipts: RuleList
    subscription_registration: RuleList
    annual_keywords: KeywordSet
    annual_days: int
    monthly_days: int
    photo: KeywordSet
    banner: KeywordSet
    unless_banner: KeywordSet
    unless_photo: KeywordSet
    list_separators: tuple[str, ...]
    by_name_key: Mapping[str, FileSpec]

    def spec_for_key(self, key: str) -> FileSpec | None:
        """The file spec whose ``names`` include this normalised file-name key."""
        return self.by_name_key.get(key)


def _keyword_set(items: Iterable[Any] | None) -> KeywordSet:
    return KeywordSet(tuple(str(i) for i in (items or ())))


def _rule_list(items: Sequence[Mapping[str, Any]]) -> RuleList:
    return RuleList(
        tuple(
            KeywordRule(
                keywords=_keyword_set(r["keywords"]),
                unless=_keyword_set(r.get("unless")),
                value=str(r["value"]),
            )
            for r in items
        )
    )


def _region_rules(spec: Mapping[str, Sequence[str]]) -> RuleList:
    return RuleList(
        tuple(
            KeywordRule(keywords=_keyword_set(words), unless=_keyword_set(()), value=str(region))
            for region, words in spec.items()
        )
    )


@cache
def load_rules() -> Rules:
    """The parsed ``rules.yaml`` (read once)."""
    text = (
        resources.files("ssi_model.linkedin_export")
        .joinpath("rules.yaml")
        .read_text(encoding="utf-8")
    )
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is 20x faster
    raw = yaml.load(text, Loader=loader)
    files = {
        canonical: FileSpec(
            canonical=canonical,
            names=tuple(normalise_key(n) for n in spec["names"]),
            in_basic=bool(spec.get("in_basic", False)),
            layout=str(spec.get("layout", "strict")),
            columns={
                logical: tuple(normalise_key(a) for a in aliases)
                for logical, aliases in spec["columns"].items()
            },
            required=tuple(spec.get("required", ())),
            skip_unknown_header=bool(spec.get("skip_unknown_header", False)),
        )
        for canonical, spec in raw["files"].items()
    }
    sub = raw["subscription"]
    periods = sub["period_days"]
    vp = raw["vp_plus"]
    media = raw["rich_media"]
    return Rules(
        files=files,
        complete_any_of=frozenset(normalise_key(n) for n in raw["complete_fingerprints"]["any_of"]),
        complete_two_of=frozenset(normalise_key(n) for n in raw["complete_fingerprints"]["two_of"]),
        articles_in_basic=bool(raw["articles"]["in_basic"]),
        whole_archive_requires=tuple(str(n) for n in raw["whole_archive_requires"]),
        column_files={str(c): tuple(str(f) for f in fs) for c, fs in raw["column_files"].items()},
        activity_days=tuple(raw["activity_days"]),
        event_dates={str(k): str(v) for k, v in raw["event_dates"].items()},
        hidden_statuses=frozenset(s.casefold() for s in raw["hidden_statuses"]),
        month_aliases={str(k).casefold(): str(v) for k, v in raw["month_aliases"].items()},
        company_legal_suffixes=frozenset(raw["company_legal_suffixes"]),
        industry=_rule_list(raw["industry"]),
        role_family=_rule_list(raw["role_family"]),
        seniority=_rule_list(raw["seniority"]),
        vp_plus=KeywordRule(
            keywords=_keyword_set(vp["keywords"]),
            unless=_keyword_set(vp["unless"]),
            value="vp_plus",
        ),
        region=_region_rules(raw["region"]),
        subscription_receipts=_rule_list(sub["receipts"]),
        subscription_registration=_rule_list(sub["registration"]),
        annual_keywords=_keyword_set(periods["annual"]["keywords"]),
        annual_days=int(periods["annual"]["days"]),
        monthly_days=int(periods["monthly"]["days"]),
        photo=_keyword_set(media["photo"]),
        banner=_keyword_set(media["banner"]),
        unless_banner=_keyword_set(media.get("unless_banner")),
        unless_photo=_keyword_set(media["unless_photo"]),
        list_separators=tuple(raw["list_separators"]),
        by_name_key={name: spec for spec in files.values() for name in spec.names},
    )
