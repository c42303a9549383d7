"""The contract is the rule engine: every surface reaches the same verdict with the same reasons.

The same random rows (valid, out of range, cross-column faults, odd bool words, unknowns, dates
too early or in the future) go to validation (CSV text), the API's request model (JSON values),
lever application (float tables) and the export reader's rule check; each must agree with
``Contract.parse_cell`` + ``Contract.check_row``.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from ssi_model.api.schemas import Profile
from ssi_model.batch import ProfileBatch
from ssi_model.contract import (
    CONTRACT,
    FALSE_WORDS,
    PILLAR_LABELS,
    TOTAL_LABEL,
    TRUE_WORDS,
    CellError,
    Violation,
    languages,
    parse_bool_word,
)
from ssi_model.explain.catalogue import Change, LeverSpec, apply_lever
from ssi_model.features import PillarFeatureBuilder
from ssi_model.io import read_raw
from ssi_model.linkedin_export.errors import ExportError
from ssi_model.linkedin_export.features import Findings
from ssi_model.linkedin_export.reader import _enforce_contract, parse_overrides
from ssi_model.validation import validate, validate_file

TODAY = date.today()
# Columns with every kind of rule: ranges (min 0, min 1, a context range), cross-column pairs,
# bools, a category and the date; the rest of the contract is unknown in these rows.
INTS = ["account_age_months", "headline_chars", "profile_locales", "posts_90d",
        "connections_count", "vp_plus_connections", "coworker_connections",
        "invitations_sent_90d", "invitations_accepted_90d", "profile_views_given_90d",
        "out_of_network_views_90d"]
BOOLS = ["has_photo", "custom_url"]
ODD_WORDS = ["maybe", "2", "oui", "-1", "truee"]


def _int_cell(name: str) -> st.SearchStrategy[str | None]:
    col = CONTRACT[name]
    lo = int(col.numeric_bound("min") or 0)
    hi = int(col.numeric_bound("max") or 50)
    return st.one_of(st.none(), st.integers(lo - 2, min(hi, 60) + 2),
                     st.sampled_from([hi, hi + 1])).map(lambda v: None if v is None else str(v))


def _bool_cell() -> st.SearchStrategy[str | None]:
    words = sorted(TRUE_WORDS | FALSE_WORDS)
    spelled = st.tuples(st.sampled_from(words), st.sampled_from(["upper", "title", "lower"]),
                        st.sampled_from(["", " "])).map(
        lambda t: getattr(t[0], t[1])() + t[2])
    return st.one_of(st.none(), spelled, st.sampled_from(ODD_WORDS))


@st.composite
def raw_rows(draw: st.DrawFn) -> dict[str, str | None]:
    row: dict[str, str | None] = {"member_id": "m-1"}
    day = draw(st.one_of(
        st.dates(date(1890, 1, 1), TODAY + timedelta(days=400)),
        st.dates(TODAY - timedelta(days=3), TODAY + timedelta(days=3)),
        st.dates(date(1400, 1, 1), date(3000, 1, 1))))  # beyond a datetime64[ns] too
    row["snapshot_date"] = day.isoformat()
    row["industry"] = draw(st.one_of(st.none(), st.sampled_from(
        [*CONTRACT["industry"].values[:3], "astrology"])))
    for name in INTS:
        row[name] = draw(_int_cell(name))
    for name in BOOLS:
        row[name] = draw(_bool_cell())
    return row


def _parse(row: dict[str, str | None]) -> tuple[dict[str, Any], list[Violation]]:
    """The contract's parse of every cell: the record, and the cells that do not parse."""
    record: dict[str, Any] = {}
    faults: list[Violation] = []
    for name, raw in row.items():
        try:
            record[name] = CONTRACT.parse_cell(name, "" if raw is None else raw)
        except CellError as exc:
            faults.append(exc.violation)
    return record, faults


class _Request(BaseModel):
    profiles: list[Profile]


def _api_problems(record: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The API's 422 problems for a profile (the pydantic model, as the server builds it)."""
    profile = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in record.items()
               if v is not None}
    try:
        _Request.model_validate({"profiles": [profile]})
    except ValidationError as exc:
        out = []
        for e in exc.errors(include_url=False):
            assert e["loc"][:2] == ("profiles", 0)
            out.append((str(e["loc"][2]), e["type"], e["ctx"]["message"]))
        return sorted(out)
    return []


def _lever_verdict(record: dict[str, Any]) -> tuple[bool, set[str]]:
    """apply_lever setting every known behaviour number of the record: applied, and the
    columns it set (starting from valid values: the minimum, or unknown elsewhere)."""
    numeric = [n for n in CONTRACT.behaviour_columns if CONTRACT[n].kind == "int"]
    known = [n for n in numeric if record.get(n) is not None]
    start: dict[str, Any] = {"member_id": "probe", "has_photo": False}
    for n in known:
        start[n] = CONTRACT[n].numeric_bound("min") or 0
    table = ProfileBatch.from_records([start])
    changes = (Change(column="has_photo", op="set", value=1.0),
               *(Change(column=n, op="set", value=float(record[n])) for n in known))
    lever = LeverSpec(id="probe", pillars=("brand",), one_off=True, effort_minutes=1.0,
                      changes=changes, text={lang: "probe" for lang in languages()})
    applied = bool(apply_lever(lever, table)[0])
    if applied:  # it wrote exactly the record's values
        assert all(table[n][0] == float(record[n]) for n in known)
    return applied, {"has_photo", *known}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row=raw_rows())
def test_every_surface_gives_the_same_verdict_and_reasons(row: dict[str, str | None]) -> None:
    record, faults = _parse(row)
    broken = [] if faults else CONTRACT.check_row(record, today=TODAY)
    expected = sorted(v.message for v in [*faults, *broken])

    # Validation (a CSV row, cells as text): the same reasons, nothing more.
    raw = pd.DataFrame([{k: ("" if v is None else v) for k, v in row.items()}], dtype=object)
    result = validate(raw, today=TODAY)
    reasons = (sorted(str(result.quarantine["reason"].iloc[0]).split("; "))
               if result.n_quarantined else [])
    if faults:  # a cell that does not parse: validation names it (and may name more rules)
        assert {v.message for v in faults} <= set(reasons)
        return
    assert reasons == expected

    # The API's request model: strict JSON types, the contract's rules with path and rule.
    problems = _api_problems(record)
    assert problems == sorted((v.column, v.rule, v.message) for v in broken)

    # Lever application: applies exactly when no rule reading a column it sets is broken.
    applied, columns = _lever_verdict(record)
    assert applied == (not any(columns & set(_rule_columns(v)) for v in broken))

    # The export reader: overridden values that break a rule are an error; values from the
    # archive that do are left unknown, and what is left keeps every rule.
    numbers = {k: v for k, v in record.items() if v is not None and CONTRACT[k].kind == "int"}
    numeric_broken = [v for v in broken if v.rule in
                      ("greater_than_equal", "less_than_equal", "cross_column_rule")]
    if numeric_broken:
        with pytest.raises(ExportError):
            _enforce_contract(dict(numbers), Findings(), set(numbers), [])
    else:
        _enforce_contract(dict(numbers), Findings(), set(numbers), [])
    kept, warnings = dict(numbers), list[str]()
    _enforce_contract(kept, Findings(), set(), warnings)
    assert not CONTRACT.check_row(kept)
    assert {v.column for v in numeric_broken} <= set(numbers) - set(kept)
    assert len(warnings) == len(set(numbers) - set(kept))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row=raw_rows(), labels=st.lists(st.one_of(st.none(), st.floats(-2, 27)), min_size=5,
                                       max_size=5))
def test_the_compiled_verdict_is_the_rule_walk(row: dict[str, str | None],
                                               labels: list[float | None]) -> None:
    """check_row asks the compiled verdict first and walks the rules only when it says broken:
    both must agree on every record, labels and their sum included."""
    record, faults = _parse(row)
    if faults:
        return
    record.update(zip([*PILLAR_LABELS.values(), TOTAL_LABEL], labels, strict=True))
    values = CONTRACT._row_values(record)
    walked = any(bool(broken) for _, broken, _, _ in
                 CONTRACT._evaluate(values, CONTRACT.rules, TODAY))
    assert CONTRACT._verdict.any_broken(values, TODAY) == walked


def _rule_columns(v: Violation) -> tuple[str, ...]:
    rule = next(r for r in CONTRACT.rules if r.column == v.column and r.rule == v.rule
                and r.expression == v.expression)
    return rule.columns


def test_check_frame_is_check_row_for_every_row() -> None:
    rows = pd.DataFrame({
        "posts_90d": pd.array([-1, 5, None, 20000], dtype="Int64"),
        "connections_count": pd.array([3, 3, None, 2], dtype="Int64"),
        "vp_plus_connections": pd.array([5, 3, 4, 3], dtype="Int64"),
        "snapshot_date": pd.to_datetime(pd.Series(["2020-01-01", "1899-12-31", None,
                                                    "2200-01-01"])),
    })
    by_frame = CONTRACT.check_frame(rows, today=TODAY)
    by_row = [CONTRACT.check_row(r, today=TODAY) for r in CONTRACT.to_records(rows)]
    assert by_frame == by_row
    assert [v.message for v in by_frame[0]] == [
        "posts_90d: -1 is below the minimum 0 (valid 0–10000)",
        "vp_plus_connections: 5 exceeds connections_count (3)"]
    assert [v.rule for v in by_frame[1]] == ["date_too_early"]
    assert by_frame[2] == []  # unknown values break no rule
    # An out-of-range value is not judged again by a cross-column rule.
    assert [v.rule for v in by_frame[3]] == ["less_than_equal", "cross_column_rule",
                                             "date_in_future"]


@pytest.mark.parametrize(("word", "value"), [
    ("t", True), ("F", False), ("ja", True), ("nee", False), ("waar", True),
    ("Onwaar", False), ("wahr", True), ("falsch", False), ("nein", False), (" YES ", True),
    ("1.0", True), ("0", False), ("maybe", None), ("", None)])
def test_the_bool_words_are_one_set(word: str, value: bool | None) -> None:
    assert parse_bool_word(word) is value
    if value is None and word:
        with pytest.raises(CellError, match="not true/false"):
            CONTRACT.parse_cell("has_photo", word)
    else:
        assert CONTRACT.parse_cell("has_photo", word) is value
    if value is not None:
        assert parse_overrides({"custom_url": word}) == {"custom_url": value}


def test_dutch_and_german_bools_validate_and_build_features(tmp_path: Path) -> None:
    words = [("t", "f"), ("ja", "nee"), ("waar", "onwaar"), ("wahr", "falsch"), ("J", "Nein")]
    path = tmp_path / "rows.csv"
    pd.DataFrame({
        "member_id": [f"m{i}" for i in range(len(words))],
        "snapshot_date": "2024-03-01",
        "has_photo": [yes for yes, _ in words],
        "custom_url": [no for _, no in words],
        "posts_90d": "3",
    }).to_csv(path, index=False)
    result = validate_file(path, today=TODAY)
    assert result.n_quarantined == 0, result.quarantine["reason"].tolist()
    assert result.clean["has_photo"].tolist() == [True] * len(words)
    assert result.clean["custom_url"].tolist() == [False] * len(words)

    builder = PillarFeatureBuilder().fit(CONTRACT.empty_frame())
    from_text = builder.transform(read_raw(path))  # the CSV's own words, not validated
    from_clean = builder.transform(result.clean)
    pd.testing.assert_frame_equal(from_text, from_clean)


def test_the_languages_are_the_locale_folders() -> None:
    from ssi_model.explain.catalogue import LANGS
    from ssi_model.explain.schema import Explanation
    from ssi_model.report.i18n import LANGS as REPORT_LANGS

    folders = Path(__file__).resolve().parents[1] / "src/ssi_model/report/locales"
    assert set(languages()) == {p.name for p in folders.iterdir() if p.is_dir()}
    assert languages()[0] == "en" and LANGS == REPORT_LANGS == languages()
    assert Explanation.model_json_schema()["properties"]["lang"]["enum"] == list(languages())


def test_ingest_export_offers_every_context_option() -> None:
    import typer.main

    from ssi_model.cli import app

    command = typer.main.get_command(app).commands["ingest-export"]  # type: ignore[attr-defined]
    options = {opt for p in command.params for opt in p.opts}
    for name in CONTRACT.context_categories:
        assert f"--{name.replace('_', '-')}" in options
    assert "--subscription" in options and "--role" in options
