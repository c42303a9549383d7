"""Validation: every row ends up clean or quarantined with a reason naming column and rule."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssi_model.contract import CONTRACT
from ssi_model.io import InputFileError, read_raw, write_table
from ssi_model.validation import validate, validate_file

TODAY = date(2026, 11, 22)

GOOD = {
    "member_id": "m-1",
    "snapshot_date": "2026-09-30",
    "industry": "technology",
    "role_family": "sales",
    "seniority": "senior",
    "region": "emea",
    "subscription": "free",
    "has_photo": "true",
    "posts_90d": "3",
    "invitations_sent_90d": "10",
    "invitations_accepted_90d": "6",
    "connections_count": "500",
    "vp_plus_connections": "40",
    "reported_on": "2026-10-02",
    "ssi_total": "31",
    "ssi_brand": "12.25",
    "ssi_people": "4.5",
    "ssi_insights": "1.75",
    "ssi_relationships": "12.8",
}


def frame(*rows: dict[str, str]) -> pd.DataFrame:
    """Rows as a CSV file would give them: every cell text, empty string for a blank cell."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return pd.DataFrame([{c: r.get(c, "") for c in columns} for r in rows], dtype=object)


def only_reason(df: pd.DataFrame) -> str:
    result = validate(df, today=TODAY)
    assert result.n_clean == 0 and result.n_quarantined == 1
    return str(result.quarantine["reason"].iloc[0])


def test_a_good_row_is_kept_with_contract_types() -> None:
    result = validate(frame(GOOD), today=TODAY)
    assert result.n_clean == 1 and result.n_quarantined == 0
    row = result.clean.iloc[0]
    assert row["posts_90d"] == 3 and str(result.clean["posts_90d"].dtype) == "Int64"
    assert bool(row["has_photo"]) is True
    assert row["snapshot_date"] == pd.Timestamp("2026-09-30")
    assert row["ssi_brand"] == pytest.approx(12.25)


def test_an_empty_cell_is_unknown_not_zero() -> None:
    result = validate(frame({**GOOD, "posts_90d": "", "has_photo": ""}), today=TODAY)
    row = result.clean.iloc[0]
    assert pd.isna(row["posts_90d"]) and pd.isna(row["has_photo"])
    # A column absent from the file is unknown too.
    assert pd.isna(row["about_chars"])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"posts_90d": "-1"}, "posts_90d: -1 is below the minimum 0"),
        ({"headline_chars": "221"}, "headline_chars: 221 is above the maximum 220"),
        ({"posts_90d": "3.5"}, "posts_90d: not a whole number ('3.5')"),
        ({"posts_90d": "three"}, "posts_90d: not a number ('three')"),
        ({"has_photo": "maybe"}, "has_photo: not true/false ('maybe')"),
        ({"industry": "tech"}, "industry: 'tech' is not one of the allowed values"),
        ({"snapshot_date": "30/09/2026"}, "snapshot_date: not an ISO 8601 date ('30/09/2026')"),
        ({"member_id": ""}, "member_id: required, but empty"),
        ({"invitations_accepted_90d": "11"},
         "invitations_accepted_90d: 11 exceeds invitations_sent_90d (10)"),
        ({"vp_plus_connections": "501"},
         "vp_plus_connections: 501 exceeds connections_count (500)"),
        ({"snapshot_date": "2026-12-01", "reported_on": "2026-12-02"},
         "snapshot_date: 2026-12-01 is in the future"),
        ({"reported_on": "2026-09-01"}, "reported_on: before snapshot_date"),
        ({"ssi_total": "33"}, "ssi_total: pillars add up to 31.30 but the reported total is 33"),
        ({"ssi_brand": "122.5"}, "ssi_brand: 122.5 is above the maximum 25"),
    ],
)
def test_each_rule_names_column_and_rule(change: dict[str, str], expected: str) -> None:
    assert expected in only_reason(frame({**GOOD, **change}))


def test_dashboard_rounding_of_the_total_is_tolerated() -> None:
    # Pillars add up to 31.30; the dashboard shows 31.
    assert validate(frame({**GOOD, "ssi_total": "31"}), today=TODAY).n_clean == 1
    assert validate(frame({**GOOD, "ssi_total": "32"}), today=TODAY).n_clean == 0


def test_several_broken_rules_are_all_reported() -> None:
    reason = only_reason(frame({**GOOD, "posts_90d": "-2", "industry": "space"}))
    assert "posts_90d" in reason and "industry" in reason and reason.count("; ") == 1


def test_quarantine_keeps_original_cells_and_row_number() -> None:
    bad = {**GOOD, "member_id": "m-2", "posts_90d": "3.5"}
    result = validate(frame(GOOD, bad), today=TODAY)
    q = result.quarantine.iloc[0]
    assert q["row"] == 2 and q["posts_90d"] == "3.5" and q["member_id"] == "m-2"
    assert list(result.quarantine.columns[1:-1]) == list(frame(GOOD).columns)


def test_exact_duplicates_keep_the_first_copy() -> None:
    result = validate(frame(GOOD, GOOD, GOOD), today=TODAY)
    assert result.n_clean == 1 and result.n_quarantined == 2
    assert set(result.quarantine["reason"]) == {"duplicate: exact copy of row 1"}


def test_conflicting_snapshots_of_one_member_are_all_quarantined() -> None:
    other = {**GOOD, "posts_90d": "4"}
    later = {**GOOD, "snapshot_date": "2026-10-01", "reported_on": "2026-10-02"}
    result = validate(frame(GOOD, other, later), today=TODAY)
    assert result.n_clean == 1 and result.clean["snapshot_date"].iloc[0] == pd.Timestamp(
        "2026-10-01")
    assert all("member_id+snapshot_date" in r for r in result.quarantine["reason"])
    assert list(result.quarantine["row"]) == [1, 2]


def test_missing_required_columns_is_one_clear_error() -> None:
    with pytest.raises(InputFileError, match=r"missing required column.*member_id"):
        validate(pd.DataFrame({"posts_90d": ["1"]}), today=TODAY)


def test_extra_columns_pass_through() -> None:
    result = validate(frame({**GOOD, "true_brand": "12.5"}), today=TODAY)
    assert result.clean["true_brand"].iloc[0] == pytest.approx(12.5)


def test_csv_and_parquet_round_trip(tmp_path: Path) -> None:
    clean = validate(frame(GOOD, {**GOOD, "member_id": "m-2", "posts_90d": ""}),
                     today=TODAY).clean
    for name in ("rows.csv", "rows.parquet"):
        path = write_table(clean, tmp_path / name)
        again = validate_file(path, today=TODAY)
        assert again.n_clean == 2 and again.n_quarantined == 0
        pd.testing.assert_frame_equal(again.clean, clean, check_dtype=False)
        assert pd.isna(again.clean["posts_90d"].iloc[1])


def test_unreadable_files_name_the_problem(tmp_path: Path) -> None:
    (tmp_path / "rows.txt").write_text("member_id\n")
    with pytest.raises(InputFileError, match="unsupported file type"):
        read_raw(tmp_path / "rows.txt")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputFileError, match="not a readable parquet file"):
        read_raw(tmp_path / "bad.parquet")
    (tmp_path / "latin.csv").write_bytes("member_id,snapshot_date\nJos\xe9,2026-01-01\n".encode(
        "latin-1"))
    with pytest.raises(InputFileError, match="not UTF-8"):
        read_raw(tmp_path / "latin.csv")


def test_cli_prints_counts_and_exits_2_without_traceback(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    frame(GOOD, {**GOOD, "member_id": "m-2", "posts_90d": "-1"}).to_csv(src, index=False)
    cmd = [sys.executable, "-m", "ssi_model", "validate", str(src),
           "--out", str(tmp_path / "clean.csv"), "--quarantine", str(tmp_path / "q.csv"),
           "--today", TODAY.isoformat()]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "rows read: 2, kept: 1, quarantined: 1" in done.stdout
    assert "posts_90d: -1 is below the minimum 0" in (tmp_path / "q.csv").read_text()

    (tmp_path / "wrong.csv").write_text("name,posts\nx,1\n")
    cmd[4] = str(tmp_path / "wrong.csv")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "missing required column(s): member_id, snapshot_date" in done.stderr
    assert "Traceback" not in done.stderr


# -- property: validation never loses a row --------------------------------------------------

def _cell(name: str) -> st.SearchStrategy[str]:
    col = CONTRACT[name]
    junk = st.sampled_from(["", "-1", "1e9", "abc", "3.5", "true", "2099-01-01"])
    if col.kind == "int":
        hi = col.numeric_bound("max") or 100
        good = st.integers(0, int(hi)).map(str)
    elif col.kind == "float":
        good = st.floats(0, col.numeric_bound("max") or 25, allow_nan=False).map(
            lambda v: f"{v:.2f}")
    elif col.kind == "bool":
        good = st.sampled_from(["true", "false", "1", "0"])
    elif col.kind == "category":
        good = st.sampled_from(list(col.values))
    elif col.kind == "date":
        good = st.dates(date(2020, 1, 1), TODAY).map(date.isoformat)
    else:
        good = st.sampled_from(["m-1", "m-2", "m-3"])
    return st.one_of(good, junk)


ROW_COLUMNS = ["member_id", "snapshot_date", "industry", "posts_90d", "has_photo",
               "invitations_sent_90d", "invitations_accepted_90d", "ssi_total", "ssi_brand",
               "ssi_people", "ssi_insights", "ssi_relationships"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({c: _cell(c) for c in ROW_COLUMNS}), min_size=0,
                max_size=25))
def test_validation_never_loses_a_row(rows: list[dict[str, str]]) -> None:
    raw = pd.DataFrame(rows, columns=ROW_COLUMNS, dtype=object)
    result = validate(raw, today=TODAY)
    assert result.n_read == len(raw)
    assert result.quarantine["reason"].astype(str).str.len().gt(0).all()
    rows_out = result.quarantine["row"].tolist()
    assert len(set(rows_out)) == len(rows_out)
    # Every member id read comes out exactly once, in clean or in quarantine.
    out_ids = result.clean["member_id"].astype(str).tolist() + result.quarantine[
        "member_id"].astype(str).tolist()
    assert sorted(out_ids) == sorted(raw["member_id"].astype(str).tolist())


def test_csv_text_reader_keeps_cells_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(io.StringIO("member_id,snapshot_date,posts_90d\n007,2026-01-01, 3\n").read())
    raw = read_raw(path)
    assert raw["member_id"].iloc[0] == "007" and raw["posts_90d"].iloc[0] == " 3"
