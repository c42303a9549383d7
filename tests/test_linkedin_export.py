"""The LinkedIn export reader: a member's data-export ZIP becomes one contract row.

Specification by example: the fixture archive (counts recomputed here from the raw files with the
csv module), a small "story" archive whose every count is known by construction, each quirk of
the reference (linkedin-export.md), damaged archives, attacks, and privacy.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import re
import stat
import threading
import zipfile
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from export_builder import (
    CONNECTIONS,
    DOS_EPOCH,
    ENDORSEMENTS_WITH_REDACTED,
    NOTES_PREAMBLE,
    PROFILE,
    RECOMMENDATIONS_RECEIVED,
    STORY_ACTIVE_DAYS,
    STORY_DATE,
    STORY_EXPECTED,
    STORY_FILES,
    STORY_NAME,
    XLS_HEADER,
    legacy_endorsements,
    make_zip,
    patch_central_directory,
    rich_media,
    story_export,
    utf16_tsv,
    xlsx_workbook,
)
from ssi_model.cli import app
from ssi_model.contract import CONTRACT
from ssi_model.errors import UserError
from ssi_model.linkedin_export import (
    ArchiveLimits,
    ColumnSource,
    ExportError,
    ExportResult,
    read_export,
)
from ssi_model.linkedin_export.archive import open_archive
from ssi_model.linkedin_export.csvfiles import parse_when
from ssi_model.linkedin_export.features import is_vp_plus
from ssi_model.linkedin_export.rules import load_rules
from ssi_model.linkedin_export.secret import installation_secret

# In the repository (MIT, see fixtures/linkedin-export/LICENSE), so a fresh clone runs every test.
FIXTURE = Path(__file__).parent / "fixtures" / "linkedin-export" / "sample_export.zip"

FIXTURE_AS_OF = date(1851, 12, 31)  # the fictional persona's activity is in the 1840s-50s


@pytest.fixture(scope="module", autouse=True)
def installation_secret_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Member ids are keyed with the installation's secret: keep it out of the checkout."""
    path = tmp_path_factory.mktemp("secret") / ".ssi-secret"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SSI_SECRET_FILE", str(path))
        yield path


def known(result: ExportResult) -> dict[str, object]:
    """The row's known input values as plain Python objects."""
    row = result.row.iloc[0]
    out: dict[str, object] = {}
    for name in CONTRACT.input_columns:
        value = row[name]
        if pd.isna(value):
            continue
        out[name] = value.item() if hasattr(value, "item") else value
    return out


def read_story(**kwargs: object) -> ExportResult:
    return read_export(story_export(), filename=STORY_NAME, **kwargs)  # type: ignore[arg-type]


def assert_within_contract(result: ExportResult) -> None:
    """Ranges, categories and cross-column rules, checked from CONTRACT directly."""
    row = result.row.iloc[0]
    assert list(result.row.columns[: len(CONTRACT.names)]) == CONTRACT.names
    assert len(result.row) == 1
    for column in CONTRACT.columns:
        value = row[column.name]
        if pd.isna(value):
            continue
        if column.kind in ("int", "float"):
            low, high = column.numeric_bound("min"), column.numeric_bound("max")
            assert low is None or value >= low, column.name
            assert high is None or value <= high, column.name
        if column.kind == "category":
            assert value in column.values, column.name
    for name, which, other in CONTRACT.cross_rules():
        if pd.isna(row[name]) or pd.isna(row[other]):
            continue
        assert (row[name] <= row[other]) if which == "max" else (row[name] >= row[other]), name
    assert row["snapshot_date"].date() <= date.today()
    assert isinstance(row["member_id"], str) and row["member_id"]
    assert row["source"] == "export"
    assert all(pd.isna(row[c]) for c in CONTRACT.label_columns if c != "source")


def assert_partition(result: ExportResult) -> None:
    groups = [set(result.from_archive), set(result.derived), set(result.overridden),
              set(result.unknown)]
    assert sum(len(g) for g in groups) == len(CONTRACT.input_columns)
    assert set().union(*groups) == set(CONTRACT.input_columns)
    row = result.row.iloc[0]
    assert all(pd.isna(row[c]) for c in result.unknown)
    assert not any(pd.isna(row[c]) for c in result.from_archive + list(result.derived))
    # the provenance accounts for every input column, consistently with the lists above
    assert list(result.provenance) == CONTRACT.input_columns
    for column, entry in result.provenance.items():
        assert entry.status.known == (column not in result.unknown), column
        if entry.status in (ColumnSource.FROM_ARCHIVE, ColumnSource.EMPTY_BY_EXPORT_KIND):
            assert column in result.from_archive, column
        if entry.status is ColumnSource.UNKNOWN_FILE_UNREADABLE:
            assert entry.files and all(f in result.unreadable_files for f in entry.files)
            assert entry.reason
        if entry.status in (ColumnSource.UNKNOWN_FILE_ABSENT, ColumnSource.EMPTY_BY_EXPORT_KIND):
            assert entry.files and entry.reason
            assert not set(entry.files) & set(result.files_read), column


def status(result: ExportResult, column: str) -> ColumnSource:
    return result.provenance[column].status


# =============================================================================================
# The fixture archive, against counts computed here from its raw files


@lru_cache(maxsize=64)
def _raw_csv(archive: zipfile.ZipFile, name: str, skip: int = 0) -> list[dict[str, str]]:
    text = archive.read(name).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))[skip:]
    header = rows[0]
    return [dict(zip(header, r, strict=False)) for r in rows[1:] if any(c.strip() for c in r)]


def _stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S UTC")


@pytest.fixture(scope="module")
def raw() -> zipfile.ZipFile:
    return zipfile.ZipFile(FIXTURE)


@pytest.fixture(scope="module")
def fixture_default() -> ExportResult:
    return read_export(FIXTURE)


@pytest.fixture(scope="module")
def fixture_1851() -> ExportResult:
    return read_export(FIXTURE, as_of=FIXTURE_AS_OF)


def independent_counts(raw: zipfile.ZipFile, end: date) -> dict[str, object]:
    """The fixture's counts for the 90 days ending at ``end``, computed with plain csv code."""
    start = end - timedelta(days=89)

    def in_window(when: datetime) -> bool:
        return start <= when.date() <= end

    counts: dict[str, object] = {}
    profile = _raw_csv(raw, "Profile.csv")[0]
    counts["headline_chars"] = len(profile["Headline"].strip())
    counts["about_chars"] = len(profile["Summary"].strip())
    positions = _raw_csv(raw, "Positions.csv")
    counts["positions_count"] = len(positions)
    counts["positions_with_description"] = sum(1 for p in positions if p["Description"].strip())
    counts["education_count"] = len(_raw_csv(raw, "Education.csv"))
    counts["skills_count"] = len(_raw_csv(raw, "Skills.csv"))
    counts["languages_count"] = len(_raw_csv(raw, "Languages.csv"))
    counts["certifications_count"] = 0  # no Certifications.csv in the archive
    for name, column in (("Endorsement_Received_Info.csv", "endorsements_received"),
                         ("Recommendations_Received.csv", "recommendations_received"),
                         ("Recommendations_Given.csv", "recommendations_given")):
        rows = _raw_csv(raw, name)
        date_key = "Endorsement Date" if "Endorsement" in name else "Creation Date"
        counts[column] = sum(1 for r in rows
                             if datetime.strptime(r[date_key], "%d %b %Y").date() <= end)
    ad = next(csv.reader(io.StringIO(raw.read("Ad_Targeting.csv").decode())))
    ad_row = list(csv.reader(io.StringIO(raw.read("Ad_Targeting.csv").decode())))[1]
    counts["groups_count"] = len(ad_row[ad.index("Member Groups")].split("|"))

    connections = _raw_csv(raw, "Connections.csv", skip=3)
    people = [c for c in connections if c["First Name"] or c["Last Name"] or c["URL"]]
    people = [c for c in people
              if datetime.strptime(c["Connected On"], "%d %b %Y").date() <= end]
    counts["connections_count"] = len(people)
    senior = re.compile(r"\b(owner|head|chief|partner|director|founder|ceo|cto|vp|president)\b",
                        re.IGNORECASE)
    counts["vp_plus_connections"] = sum(1 for c in people if senior.search(c["Position"]))

    invitations = _raw_csv(raw, "Invitations.csv")
    outgoing = [i for i in invitations if i["Direction"] == "OUTGOING"]
    me = Counter(i["inviterProfileUrl"] for i in outgoing).most_common(1)[0][0]
    sent_invites = [i for i in outgoing if in_window(_stamp(i["Sent At"]))]
    counts["invitations_sent_90d"] = len(sent_invites)

    messages = [m for m in _raw_csv(raw, "messages.csv") if m["IS MESSAGE DRAFT"] != "Yes"]
    sent = [m for m in messages if m["SENDER PROFILE URL"] == me]
    received = [m for m in messages if m["SENDER PROFILE URL"] not in ("", me)]
    counts["messages_sent_90d"] = sum(1 for m in sent if in_window(_stamp(m["DATE"])))
    counts["messages_received_90d"] = sum(1 for m in received if in_window(_stamp(m["DATE"])))
    end_of_window = datetime.combine(end, datetime.max.time())
    sent_times: dict[str, list[datetime]] = {}
    for m in sent:
        sent_times.setdefault(m["CONVERSATION ID"], []).append(_stamp(m["DATE"]))
    replied = set()
    for inbound in received:
        when = _stamp(inbound["DATE"])
        if in_window(when) and any(when < s <= end_of_window
                                   for s in sent_times.get(inbound["CONVERSATION ID"], [])):
            replied.add(inbound["CONVERSATION ID"])
    counts["messages_replied_90d"] = len(replied)

    days: set[date] = set()
    activity: tuple[tuple[str, str | None], ...] = (
        ("Comments.csv", "comments_given_90d"), ("Reactions.csv", "reactions_given_90d"),
        ("Shares.csv", "posts_90d"), ("Votes.csv", None))
    for file_name, counted in activity:
        stamps = [_stamp(r["Date"]) for r in _raw_csv(raw, file_name)]
        if counted:
            counts[counted] = sum(1 for s in stamps if in_window(s))
        days |= {s.date() for s in stamps if in_window(s)}
    counts["reshares_90d"] = 0  # no Shares row points at a LinkedIn post
    counts["searches_90d"] = 0  # no SearchQueries.csv in a Complete archive
    days |= {_stamp(m["DATE"]).date() for m in sent if in_window(_stamp(m["DATE"]))}
    days |= {_stamp(i["Sent At"]).date() for i in sent_invites}
    article_days = [date.fromisoformat(Path(n).name[:10]) for n in raw.namelist()
                    if n.startswith("Articles/")]
    counts["articles_90d"] = sum(1 for d in article_days if start <= d <= end)
    days |= {d for d in article_days if start <= d <= end}
    counts["days_active_90d"] = len(days)
    return counts


def test_fixture_export_date_is_the_latest_timestamp(raw: zipfile.ZipFile,
                                                     fixture_default: ExportResult) -> None:
    # the name "sample_export.zip" carries no date; the newest article is the latest timestamp
    newest_article = max(date.fromisoformat(Path(n).name[:10]) for n in raw.namelist()
                         if n.startswith("Articles/"))
    assert fixture_default.export_date == newest_article == date(2026, 2, 1)
    assert fixture_default.window_end == fixture_default.export_date
    assert fixture_default.window_start == date(2025, 11, 4)
    assert fixture_default.archive_kind == "complete"  # has Shares/Comments/Reactions


@pytest.mark.parametrize("which", ["default", "1851"])
def test_fixture_counts_match_the_raw_files(raw: zipfile.ZipFile, which: str,
                                           fixture_default: ExportResult,
                                           fixture_1851: ExportResult) -> None:
    result = fixture_default if which == "default" else fixture_1851
    expected = independent_counts(raw, result.window_end)
    values = known(result)
    assert {k: values.get(k) for k in expected} == expected


def test_fixture_activity_window_has_real_activity(fixture_1851: ExportResult) -> None:
    values = known(fixture_1851)
    assert fixture_1851.window_start == date(1851, 10, 3)
    assert values["snapshot_date"] == pd.Timestamp(FIXTURE_AS_OF)
    assert int(str(values["messages_sent_90d"])) > 0
    assert int(str(values["messages_replied_90d"])) > 0
    assert int(str(values["days_active_90d"])) > 0
    # Registered 1833-06-05: 18 years and 6 months before the window end.
    assert values["account_age_months"] == 222
    assert "snapshot_date" in fixture_1851.overridden


def test_fixture_context_and_unknowns(fixture_default: ExportResult) -> None:
    values = known(fixture_default)
    assert values["industry"] == "technology"  # "Mathematics and Computation"
    assert values["region"] == "emea"  # "London, England, United Kingdom"
    assert values["has_photo"] is True  # profile image uploads in Rich_Media.csv
    # Registered in 1833: an account age beyond the contract's 300 months is left unknown.
    assert "account_age_months" in fixture_default.unknown
    assert any("account_age_months" in w for w in fixture_default.warnings)
    # No current position: role, seniority and coworkers cannot be told.
    assert {"role_family", "seniority", "coworker_connections"} <= set(fixture_default.unknown)
    # What an export never holds stays unknown, never zero.
    for column in ("followers_count", "profile_views_received_90d", "custom_url",
                   "featured_items", "inmails_sent_90d", "leads_saved_90d"):
        assert column in fixture_default.unknown
    assert fixture_default.files_read[0] == "Ad_Targeting.csv"
    assert "messages.csv" in fixture_default.files_read


@pytest.mark.parametrize("which", ["default", "1851"])
def test_fixture_row_satisfies_the_contract(which: str, fixture_default: ExportResult,
                                            fixture_1851: ExportResult) -> None:
    result = fixture_default if which == "default" else fixture_1851
    assert_within_contract(result)
    assert_partition(result)


# =============================================================================================
# The story archive: every count known by construction


def test_story_row_has_every_expected_value() -> None:
    result = read_story()
    values = known(result)
    assert {k: values.get(k) for k in STORY_EXPECTED} == STORY_EXPECTED
    assert values["days_active_90d"] == len(STORY_ACTIVE_DAYS)
    assert result.export_date == STORY_DATE
    assert (result.window_start, result.window_end) == (date(2023, 12, 17), STORY_DATE)
    assert result.archive_kind == "complete"
    assert_within_contract(result)
    assert_partition(result)


def test_story_provenance() -> None:
    result = read_story()
    assert result.derived["role_family"] == "title rule 'account executive'"
    assert result.derived["subscription"] == "receipt rule 'sales navigator'"
    assert set(result.derived) == {"member_id", "industry", "role_family", "seniority", "region",
                                   "subscription"}
    assert {"connections_count", "posts_90d", "snapshot_date"} <= set(result.from_archive)
    assert result.overridden == []
    assert any("ghost" in w for w in result.warnings)


def test_member_id_is_a_stable_pseudonym() -> None:
    first, second = read_story(), read_story()
    member = str(first.row.loc[0, "member_id"])
    assert re.fullmatch(r"li-[0-9a-f]{16}", member)
    assert member == str(second.row.loc[0, "member_id"])
    assert "alex" not in member.casefold() and "example" not in member.casefold()
    # the same person in another archive layout gets the same id
    assert str(read_export(story_export(prefix="x/")).row.loc[0, "member_id"]) == member
    with pytest.raises(ExportError):
        read_story(member_id="alex@example.com")
    given_id = read_story(member_id="coach-42")
    assert str(given_id.row.loc[0, "member_id"]) == "coach-42"
    assert "member_id" in given_id.overridden and "member_id" not in given_id.derived


def test_overrides_replace_derived_context() -> None:
    result = read_story(overrides={"role": "recruiting", "industry": "Staffing Recruiting",
                                   "region": "", "seniority": None})
    values = known(result)
    assert values["role_family"] == "recruiting"
    assert values["industry"] == "staffing_recruiting"
    assert values["region"] == "emea"  # empty override = no override
    assert result.overridden == ["industry", "role_family"]
    assert "role_family" not in result.derived
    assert_partition(result)


@pytest.mark.parametrize("overrides", [
    {"industry": "space piracy"}, {"ssi_total": "50"}, {"member_id": "x"},
    {"connections_count": "many"}, {"headline_chars": "999"}, {"no_such_column": "1"},
])
def test_invalid_overrides_are_refused(overrides: dict[str, str]) -> None:
    with pytest.raises(ExportError):
        read_story(overrides=overrides)


def test_override_contradicting_the_archive_is_resolved_in_its_favour() -> None:
    # 5 connections of which 3 VP+; the caller says 2 connections: vp_plus (3) is left unknown.
    result = read_story(overrides={"connections_count": "2"})
    assert known(result)["connections_count"] == 2
    assert "vp_plus_connections" in result.unknown
    assert_within_contract(result)


def test_as_of_moves_the_window() -> None:
    result = read_story(as_of=date(2024, 1, 29))
    values = known(result)
    assert (result.window_start, result.window_end) == (date(2023, 11, 1), date(2024, 1, 29))
    assert values["snapshot_date"] == pd.Timestamp("2024-01-29")
    assert values["posts_90d"] == 1  # only 2024-01-05
    assert values["connections_count"] == 3  # Bo (Mar) and Fi (Feb) came later
    assert values["messages_received_90d"] == 1  # c-5, 2023-11-01
    assert values["messages_replied_90d"] == 1  # answered 2024-01-10
    assert any("before the export date" in w for w in result.warnings)
    with pytest.raises(ExportError):
        read_story(as_of=date.today() + timedelta(days=1))


def test_sources_path_bytes_and_stream_agree(tmp_path: Path) -> None:
    data = story_export()
    path = tmp_path / STORY_NAME
    path.write_bytes(data)
    from_path = read_export(path)
    from_str = read_export(str(path))
    from_stream = read_export(io.BytesIO(data), filename=STORY_NAME)
    from_bytes = read_export(data, filename=STORY_NAME)
    for other in (from_str, from_stream, from_bytes):
        pd.testing.assert_frame_equal(from_path.row, other.row)
    with pytest.raises(ExportError):
        read_export(tmp_path)  # a folder
    with pytest.raises(ExportError):
        read_export(tmp_path / "missing.zip")


# =============================================================================================
# Archive layout quirks


def test_files_under_a_wrapping_folder_and_the_folder_dates_the_export() -> None:
    data = story_export(prefix="Complete_LinkedInDataExport_03-14-2024/")
    result = read_export(data)  # no file name: the folder tells type and date
    assert result.archive_kind == "complete"
    assert result.export_date == date(2024, 3, 14)
    assert known(result)["connections_count"] == 5


def test_export_date_without_a_name_comes_from_the_entry_stamps() -> None:
    result = read_export(story_export())
    assert result.export_date == STORY_DATE
    assert any("entry timestamps" in w for w in result.warnings)
    # one file re-saved later does not move it: the most common stamp wins
    files = {**STORY_FILES}
    data = make_zip(files)
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr(zipfile.ZipInfo("Votes.csv", (2024, 5, 1, 0, 0, 0)), "Date,Link\n")
    assert read_export(buffer.getvalue()).export_date == STORY_DATE


def test_export_date_without_name_or_stamps_is_the_latest_record() -> None:
    result = read_export(story_export(stamp=DOS_EPOCH))
    assert result.export_date == date(2024, 3, 11)  # the latest search query
    assert any("latest record" in w for w in result.warnings)


def test_member_id_suffixed_files_and_exact_name_preferred() -> None:
    shares = STORY_FILES["Shares.csv"]
    suffixed = story_export(drop=("Shares.csv", "Comments.csv"), replace={
        "Shares_181682616.csv": shares, "Comments_181682616.csv": STORY_FILES["Comments.csv"]})
    values = known(read_export(suffixed, filename=STORY_NAME))
    assert values["posts_90d"] == 4 and values["comments_given_90d"] == 3
    one_post = "Date,ShareLink,ShareCommentary,SharedUrl,MediaUrl,Visibility\n" \
               "2024-03-01 09:00:00,https://x.example/1,Hi,,,MEMBER_NETWORK\n"
    both = story_export(replace={"Shares_99.csv": one_post})
    result = read_export(both, filename=STORY_NAME)
    assert known(result)["posts_90d"] == 4  # the exact name wins
    assert any("candidate entries" in w for w in result.warnings)


def test_macosx_and_appledouble_entries_are_ignored() -> None:
    junk = b"\x00\x05\x16\x07" + b"\x00" * 60
    data = story_export(replace={"__MACOSX/._Connections.csv": junk,
                                 "__MACOSX/Shares.csv": junk, "._Profile.csv": junk})
    assert known(read_export(data, filename=STORY_NAME)) == known(read_story())


def test_basic_archive_missing_activity_is_unknown_not_zero() -> None:
    data = story_export(drop=("Shares.csv", "Comments.csv", "Reactions.csv", "SearchQueries.csv",
                              "Receipts_v2.csv", "Recommendations_Received.csv",
                              "Skills.csv"))
    result = read_export(data, filename="Basic_LinkedInDataExport_03-15-2024.zip")
    assert result.archive_kind == "basic"
    for column in ("posts_90d", "reshares_90d", "comments_given_90d", "reactions_given_90d",
                   "searches_90d", "days_active_90d", "articles_90d", "recommendations_received",
                   "recommendations_given"):
        assert column in result.unknown, column
    values = known(result)
    # Skills ship in Basic archives too, but the endorsements name skills: the file is missing
    # from this archive, not empty on the profile.
    assert status(result, "skills_count") is ColumnSource.UNKNOWN_FILE_ABSENT
    assert "endorsements of named skills" in str(result.provenance["skills_count"].reason)
    assert values["certifications_count"] == 0  # a whole Basic export without the file: none
    assert status(result, "certifications_count") is ColumnSource.EMPTY_BY_EXPORT_KIND
    assert "a Basic export (so named)" in str(result.provenance["certifications_count"].reason)
    assert status(result, "posts_90d") is ColumnSource.UNKNOWN_FILE_ABSENT
    assert "a Basic export does not carry it" in str(result.provenance["posts_90d"].reason)
    assert values["messages_sent_90d"] == 3  # messages.csv is in Basic archives
    assert_partition(result)


def test_complete_archive_missing_activity_is_zero() -> None:
    data = story_export(drop=("Shares.csv", "Reactions.csv"))
    values = known(read_export(data, filename=STORY_NAME))
    assert values["posts_90d"] == 0 and values["reshares_90d"] == 0
    assert values["reactions_given_90d"] == 0
    assert values["comments_given_90d"] == 3


def test_unnamed_archive_without_complete_files_is_read_as_basic() -> None:
    data = story_export(drop=("Shares.csv", "Comments.csv", "Reactions.csv", "SearchQueries.csv"))
    result = read_export(data)
    assert result.archive_kind == "basic"
    assert "posts_90d" in result.unknown


def test_old_rich_media_pointer_file_is_ignored() -> None:
    pointers = ("Type,Link\nVideo content can be downloaded at,https://x.example/v\n"
                "Documents can be downloaded at,https://x.example/d\n")
    result = read_export(story_export(drop=("Rich_Media.csv",),
                                      replace={"Rich Media.csv": pointers}), filename=STORY_NAME)
    assert "has_photo" in result.unknown
    assert "Rich_Media.csv: header not recognised; file ignored" in result.warnings


def test_connections_notes_preamble_and_ghost_rows() -> None:
    ghosts = ",,,,,,15 Jan 2024\n" * 3
    data = story_export(replace={"Connections.csv": CONNECTIONS + ghosts})
    result = read_export(data, filename=STORY_NAME)
    assert known(result)["connections_count"] == 5
    assert any("4 ghost row(s)" in w for w in result.warnings)
    no_preamble = CONNECTIONS.replace(NOTES_PREAMBLE, "")
    result = read_export(story_export(replace={"Connections.csv": no_preamble}),
                         filename=STORY_NAME)
    assert known(result)["connections_count"] == 5


def test_legacy_2018_archive_utf16_tsv_and_old_headers() -> None:
    files: dict[str, str | bytes] = {
        "Profile.csv": "First Name,Last Name,Maiden Name,Address,Birth Date,Contact Instructions,"
                       "Headline,Summary,Industry,Country,Zip Code,Geo Location,Twitter Handles,"
                       "Websites,Instant Messengers\n"
                       "Lee,Legacy,,,\"Dec 4, 1980\",,Sales Director,,Staffing and Recruiting,"
                       "us,,,,,\n",
        "Positions.csv": "Company Name,Title,Description,Location,Started On,Finished On\n"
                         "Oldco,Sales Director,,,Mar 2015,\n",
        "Connections.csv": "First Name,Last Name,Email Address,Company,Position,Connected On\n"
                           'Ann,One,,Oldco,Head of Sales,"10/30/18, 9:12 PM"\n'
                           'Bob,Two,,Other,Clerk,"10/02/18, 8:00 AM"\n',
        "Invitations.csv": "From,To,Sent At,Message,Direction\n"
                           'Lee Legacy,Ann One,"10/29/18, 9:00 AM",,OUTGOING\n'
                           'Lee Legacy,Cat Three,"10/28/18, 9:00 AM",,OUTGOING\n',
        "Messages.csv": "From,To,Date,Subject,Content,Direction,Folder\n"
                        'Ann One,Lee Legacy,"10/31/18, 8:00 AM",,"Hello, Lee",INCOMING,INBOX\n'
                        'Lee Legacy,Ann One,"10/31/18, 9:00 AM",,Hi Ann,OUTGOING,INBOX\n',
        "Registration.csv": "Registration Date,Registration IP Address,Invited by (First Name),"
                            "Invited by (Last Name),Subscription Types\n"
                            '"5/1/10, 10:00 AM",198.51.100.1,,,Basic\n',
        "Shares.csv": utf16_tsv([
            ["Date", "Share Title", "Share Description", "Share Link", "Share Commentary",
             "Shared URL", "Media URL", "Type", "Visibility"],
            ["2018/10/20 12:00:00 UTC", "", "", "https://x.example/1", "Line one\nline two", "",
             "", "", "MEMBER_NETWORK"],
            ["2018/10/21 12:00:00 UTC", "", "", "https://x.example/2", "Second", "", "", "",
             "MEMBER_NETWORK"],
        ]),
        "Search Queries.csv": utf16_tsv([["Time", "Search Query"],
                                         ["2018/11/01 10:00:00 UTC", "sales, amsterdam"]]),
        "Ad Targeting.csv": utf16_tsv([["Age Group", "Groups", "Skills"],
                                       ["25-34", "Group A; Group B", "Sales"]]),
    }
    data = make_zip({f"Complete_LinkedInDataExport_11-04-2018/{k}": v for k, v in files.items()})
    result = read_export(data)
    values = known(result)
    assert result.export_date == date(2018, 11, 4)
    assert values["connections_count"] == 2 and values["vp_plus_connections"] == 1
    assert values["coworker_connections"] == 1  # "Oldco" = current employer
    assert values["invitations_sent_90d"] == 2
    assert values["invitations_accepted_90d"] == 1  # matched by name (no URLs in 2018)
    assert values["messages_sent_90d"] == 1 and values["messages_received_90d"] == 1
    assert values["messages_replied_90d"] == 1
    assert values["posts_90d"] == 2  # UTF-16 TSV, multi-line quoted commentary
    assert values["searches_90d"] == 1
    assert values["groups_count"] == 2
    assert values["account_age_months"] == 102  # 2010-05-01 .. 2018-11-04
    assert values["subscription"] == "free"
    assert values["role_family"] == "sales" and values["seniority"] == "director"
    assert values["industry"] == "staffing_recruiting" and values["region"] == "namer"
    assert "Search Queries.csv" not in result.files_read  # canonical names only
    assert "SearchQueries.csv" in result.files_read and "messages.csv" in result.files_read


def test_header_variants_across_years() -> None:
    # 2023: invitee URNs instead of URLs (accepted invitations matched by name instead);
    # 2026: every messages header and field quoted, with draft flags.
    invitations = STORY_FILES["Invitations.csv"].replace(
        "inviterProfileUrl,inviteeProfileUrl", "inviterProfileUrn,inviteeProfileUrn"
    ).replace("https://www.linkedin.com/in/bo-buyer", "urn:li:member:1").replace(
        "https://www.linkedin.com/in/fi-founder", "urn:li:member:2")
    rows = list(csv.reader(io.StringIO(STORY_FILES["messages.csv"])))
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow([*rows[0], "ATTACHMENTS", "IS MESSAGE DRAFT", "IS CONVERSATION DRAFT"])
    for row in rows[1:]:
        writer.writerow([*row, "", "No", "No"])
    writer.writerow(["c-9", "", "Alex Example", "https://www.linkedin.com/in/alex-example",
                     "Bo Buyer", "https://www.linkedin.com/in/bo-buyer",
                     "2024-03-12 10:00:00 UTC", "", "draft", "DRAFT", "", "Yes", "Yes"])
    shares = STORY_FILES["Shares.csv"].replace("SharedURL,MediaURL", "SharedUrl,MediaUrl")
    data = story_export(replace={"Invitations.csv": invitations, "messages.csv": out.getvalue(),
                                 "Shares.csv": shares})
    result = read_export(data, filename=STORY_NAME)
    values = known(result)
    assert values["invitations_accepted_90d"] == 2
    assert values["messages_sent_90d"] == 3  # the draft is not counted
    assert values["reshares_90d"] == 1
    assert any("draft" in w for w in result.warnings)


def test_excel_resave_semicolons_cp1252_and_day_first_dates() -> None:
    connections = (
        "Notes:;;;;;;\r\n"
        '"When exporting your connection data, you may notice ...";;;;;;\r\n'
        ";;;;;;\r\n"
        "First Name;Last Name;URL;Email Address;Company;Position;Connected On\r\n"
        "Jürgen;Müller;;;Acme;Geschäftsführer;16.02.2024\r\n"
        "Zoë;Österberg;;;Acme;Bereichsleiterin;03/02/2024\r\n"  # ambiguous: day-first (EU)
        "Amélie;Sørensen;;;Other;Engineer;06-Mar-24\r\n"
        "Sven;Späth;;;Other;Verkäufer;20/03/2024\r\n"  # after the window end: not counted
    ).encode("cp1252")
    result = read_export(story_export(replace={"Connections.csv": connections}),
                         filename=STORY_NAME)
    values = known(result)
    assert values["connections_count"] == 3
    assert values["vp_plus_connections"] == 2  # German titles
    assert values["coworker_connections"] == 2
    assert any("Windows-1252" in w for w in result.warnings)
    # Day-first is settled by 20/03/2024 (so 03/02/2024 is 3 February), which is after the
    # window end, hence 3 connections of 4.


def test_excel_resave_of_an_activity_file() -> None:
    reactions = ("Date;Type;Link\r\n"
                 "04/03/2024 10:00;LIKE;https://x.example/1\r\n"  # ambiguous, ';' -> day-first
                 "16.01.2024 10:00;LIKE;https://x.example/2\r\n"
                 "05-Feb-24;LIKE;https://x.example/3\r\n"
                 "06-mrt-24;LIKE;https://x.example/4\r\n").encode("cp1252")
    result = read_export(story_export(replace={"Reactions.csv": reactions}), filename=STORY_NAME)
    assert known(result)["reactions_given_90d"] == 4
    assert any("ambiguous" in w for w in result.warnings)


@pytest.mark.parametrize(("text", "expected"), [
    ("07 Mar 2026", datetime(2026, 3, 7)),
    ("9/27/25, 8:41 AM", datetime(2025, 9, 27, 8, 41)),
    ("04/15/24, 09:25 PM", datetime(2024, 4, 15, 21, 25)),
    ("12/26/24 10:14 PM UTC", datetime(2024, 12, 26, 22, 14)),
    ("2025-10-06 23:49:02 UTC", datetime(2025, 10, 6, 23, 49, 2)),
    ("2025-10-06 23:04:46", datetime(2025, 10, 6, 23, 4, 46)),
    ("2024/10/24 14:11:21 UTC", datetime(2024, 10, 24, 14, 11, 21)),
    ("2025/04/15", datetime(2025, 4, 15)),
    ("Wed Oct 01 16:02:32 UTC 2025", datetime(2025, 10, 1, 16, 2, 32)),
    ("2023-04-17 00:19 UTC", datetime(2023, 4, 17, 0, 19)),
    ("N/A", None),
    ("Aug 2023", datetime(2023, 8, 1)),
    ("2015", datetime(2015, 1, 1)),
    ("Jan 30, 2020", datetime(2020, 1, 30)),
    ("Apr 2012", datetime(2012, 4, 1)),
    ("You uploaded a video on March 26, 2025 at 10:54 PM (GMT)", datetime(2025, 3, 26, 22, 54)),
    ("Jul 08, 2020 01:00 PM - Jul 08, 2020 03:00 PM", datetime(2020, 7, 8, 13, 0)),
    ("2024-11-26", datetime(2024, 11, 26)),
    ("06-Mar-22", datetime(2022, 3, 6)),
    ("16.09.2021", datetime(2021, 9, 16)),
    ("16/09/2021 14:30", datetime(2021, 9, 16, 14, 30)),
    ("2024/1/5 9:05", datetime(2024, 1, 5, 9, 5)),
    ("06-mrt-22", datetime(2022, 3, 6)),
    ("Dec 4", datetime(1900, 12, 4)),  # Profile.csv Birth Date has no year
    ("", None),
    ("not a date", None),
    ("13/13/2020", None),
])
def test_every_date_format_of_the_reference(text: str, expected: datetime | None) -> None:
    assert parse_when(text) == expected


@pytest.mark.parametrize(("title", "role", "seniority", "vp_plus"), [
    ("Senior Account Executive", "sales", "senior", False),
    ("Key Account Manager DACH", "account_management", None, False),
    ("Sales Development Representative", "business_development", None, False),
    ("Talent Acquisition Partner", "recruiting", None, False),
    ("Head of Marketing", "marketing_communications", "director", True),
    ("Co-Founder & CEO", "founder", "owner", True),
    ("Product Owner", None, None, False),
    ("VP Sales EMEA", "sales", "vp", True),
    ("Chief Revenue Officer", "executive", "cxo", True),
    ("Werkstudent Vertrieb", "student", "entry", False),
    ("Vertriebsleiter", "sales", "director", True),
    ("Geschäftsführer", "executive", "cxo", True),
    ("Teamleider klantenservice", None, "manager", False),
    ("Eigenaar", "founder", "owner", True),
    ("Nurse", None, None, False),
])
def test_title_rules(title: str, role: str | None, seniority: str | None, vp_plus: bool) -> None:
    rules = load_rules()
    assert (rules.role_family.match(title) or (None,))[0] == role
    assert (rules.seniority.match(title) or (None,))[0] == seniority
    assert is_vp_plus(title) is vp_plus


@pytest.mark.parametrize(("industry", "expected"), [
    ("IT Services and IT Consulting", "technology"), ("Hospitality", "hospitality_leisure"),
    ("Hospital & Health Care", "healthcare_pharma"), ("Staffing and Recruiting",
                                                      "staffing_recruiting"),
    ("Informatietechnologie en -diensten", "technology"), ("Maschinenbau", "manufacturing"),
    ("Non-profit Organizations", "government_nonprofit"), ("Banking", "financial_services"),
    ("Unheard-of Industry", None),
])
def test_industry_rules(industry: str, expected: str | None) -> None:
    assert (load_rules().industry.match(industry) or (None,))[0] == expected


def test_ambiguous_numeric_dates_follow_the_callers_order() -> None:
    assert parse_when("03/02/2024", True) == datetime(2024, 2, 3)
    assert parse_when("03/02/2024", False) == datetime(2024, 3, 2)
    assert parse_when("03/02/2024") == datetime(2024, 3, 2)  # LinkedIn's own order


def test_articles_published_drafts_and_undated() -> None:
    published = ('<html><body><h1><a href="https://www.linkedin.com/pulse/x">T</a></h1>'
                 '<p class="created">Created on 2024-02-01 10:00</p>'
                 '<p class="published">Published on 2024-02-02 10:00</p></body></html>')
    draft = ('<html><p class="created">Created on 2024-03-01 10:00</p>'
             '<p class="published">Published on ---</p></html>')
    files = {"Articles/Articles/pulse-x.html": published, "Articles/Articles/draft.html": draft,
             "Articles/2024-03-02 10:00:00.html": "<html>old style, dated by its name</html>"}
    values = known(read_export(story_export(replace=files), filename=STORY_NAME))
    assert values["articles_90d"] == 2
    undated = read_export(story_export(replace={"Articles/Articles/slug.html": "<html></html>"}),
                          filename=STORY_NAME)
    assert "articles_90d" in undated.unknown


def test_row_limit_is_reported_and_its_columns_left_unknown() -> None:
    result = read_story(limits=ArchiveLimits(max_rows_per_file=3))
    assert any("row limit" in w for w in result.warnings)
    assert "connections_count" in result.unknown  # 5 connections > 3 rows
    assert "days_active_90d" in result.unknown  # Shares was cut
    assert known(result)["skills_count"] == 3


# =============================================================================================
# Damaged input: ExportError naming the file and the line, nothing else


def test_truncated_zip() -> None:
    data = story_export()
    for cut in (10, len(data) // 2, len(data) - 30):
        with pytest.raises(ExportError, match="archive"):
            read_export(data[:cut])


def test_not_a_zip_and_empty_archive() -> None:
    with pytest.raises(ExportError):
        read_export(b"First Name,Last Name\nA,B\n")
    with pytest.raises(ExportError, match="none of the LinkedIn export files"):
        read_export(make_zip({"notes.txt": "hello"}))


def read_damaged(name: str, content: str | bytes) -> ExportResult:
    """The story archive with one file replaced: read, not refused."""
    result = read_export(story_export(replace={name: content}), filename=STORY_NAME)
    assert_within_contract(result)
    assert_partition(result)
    return result


def assert_only_these_unknown(result: ExportResult, file: str, columns: set[str]) -> None:
    """The columns computed from ``file`` are unknown (file unreadable); the rest of the story
    is read as usual."""
    values = known(result)
    unreadable = {c for c, e in result.provenance.items()
                  if e.status is ColumnSource.UNKNOWN_FILE_UNREADABLE}
    assert unreadable == columns
    assert all(result.provenance[c].files == (file,) for c in columns if c != "days_active_90d")
    expected = {k: v for k, v in STORY_EXPECTED.items() if k not in columns}
    assert {k: values.get(k) for k in expected} == expected
    assert list(result.unreadable_files) == [file]
    assert file not in result.files_read
    assert any(w.startswith(f"{file}: not read (") for w in result.warnings)


def test_truncated_file_leaves_its_columns_unknown_naming_file_and_line() -> None:
    cut = CONNECTIONS[: CONNECTIONS.index("Cy,Colleague") + 30]  # mid-row
    result = read_damaged("Connections.csv", cut)
    assert_only_these_unknown(result, "Connections.csv", {
        "connections_count", "vp_plus_connections", "coworker_connections",
        "invitations_accepted_90d"})
    assert result.unreadable_files["Connections.csv"].startswith("line 6: row has 3 field(s)")
    assert result.provenance["invitations_accepted_90d"].reason == (
        "Connections.csv: " + result.unreadable_files["Connections.csv"])


def test_unterminated_quote_leaves_messages_unknown() -> None:
    broken = (STORY_FILES["messages.csv"]
              + 'c-6,,Bo Buyer,,Alex,,2024-03-03 08:00:00 UTC,,"never closed\n')
    result = read_damaged("messages.csv", broken)
    assert_only_these_unknown(result, "messages.csv", {
        "messages_sent_90d", "messages_received_90d", "messages_replied_90d", "days_active_90d"})
    assert re.match(r"line \d+: malformed CSV", result.unreadable_files["messages.csv"])


def test_garbled_file_names_file_and_line() -> None:
    garbled = STORY_FILES["Invitations.csv"].encode() + b"\x00\x13\x37garbage\x00\xff"
    result = read_damaged("Invitations.csv", garbled)
    assert_only_these_unknown(result, "Invitations.csv", {
        "invitations_sent_90d", "invitations_accepted_90d", "days_active_90d"})
    assert result.unreadable_files["Invitations.csv"] == (
        "line 7: contains binary data (NUL characters), not CSV text")


def test_file_without_its_header() -> None:
    result = read_damaged("Profile.csv", "just,some,words\n1,2,3\n")
    assert_only_these_unknown(result, "Profile.csv", {
        "headline_chars", "about_chars", "industry", "region"})
    assert result.unreadable_files["Profile.csv"].startswith("line 1: no header row naming")
    # Profile.csv is there, so the archive is still whole: a missing file still means none.
    assert status(result, "certifications_count") is ColumnSource.EMPTY_BY_EXPORT_KIND


def test_skills_resaved_without_its_header_row() -> None:
    # issue 13 (4): one broken file no longer refuses the whole archive
    result = read_damaged("Skills.csv", "Negotiation\nSaaS\nCRM\n")
    assert_only_these_unknown(result, "Skills.csv", {"skills_count"})
    assert result.provenance["skills_count"].reason == (
        "Skills.csv: line 1: no header row naming the column(s) 'name'")


def test_recommendations_resaved_by_a_spreadsheet() -> None:
    # pandas/Excel round trip: a duplicated header name gets a ".1" suffix
    resaved = RECOMMENDATIONS_RECEIVED.replace("Creation Date", "Creation Date.1")
    result = read_damaged("Recommendations_Received.csv", resaved)
    assert_only_these_unknown(result, "Recommendations_Received.csv",
                              {"recommendations_received"})
    assert "no header row naming the column(s) 'date'" in (
        result.unreadable_files["Recommendations_Received.csv"])


@pytest.mark.parametrize(("content", "what"), [
    (xlsx_workbook([["Name"], ["Negotiation"], ["SaaS"]]), "an Excel workbook (.xlsx)"),
    (XLS_HEADER, "an Excel 97-2003 workbook (.xls)"),
])
def test_a_spreadsheet_named_csv_is_reported_as_such(content: bytes, what: str) -> None:
    # issue 13 (5): not "itself an archive; nested archives are refused"
    result = read_damaged("Skills.csv", content)
    assert_only_these_unknown(result, "Skills.csv", {"skills_count"})
    reason = result.unreadable_files["Skills.csv"]
    assert reason.startswith(f"is {what}, a spreadsheet file where CSV text was expected")
    assert "nested" not in reason


def test_nothing_readable_refuses_the_archive() -> None:
    with pytest.raises(ExportError, match="none of the archive's LinkedIn files could be read"):
        read_export(make_zip({"Skills.csv": "Negotiation\nSaaS\n",
                              "Profile.csv": "no,header\n"}), filename=STORY_NAME)


# =============================================================================================
# Attacks


def test_path_traversal_entries_are_ignored() -> None:
    evil = {"../../etc/Connections.csv": "x", "/abs/Profile.csv": "y",
            "..\\..\\windows\\Shares.csv": "z", "C:/temp/Skills.csv": "w"}
    data = make_zip({**STORY_FILES, **evil})
    result = read_export(data, filename=STORY_NAME)
    assert known(result)["connections_count"] == 5  # the real file, not the traversal one
    assert any("4 entries with an absolute path or '..' ignored" in w for w in result.warnings)


def test_zip_bomb_by_ratio() -> None:
    bomb = story_export(replace={"Learning.csv": b"\x00" * (20 * 1024 * 1024)})
    with pytest.raises(ExportError, match="zip bomb"):
        read_export(bomb, filename=STORY_NAME)


def test_zip_bomb_by_total_size_with_default_limits() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        chunk = b"a,b\n" * (256 * 1024)  # 1 MiB, plausible ratio per entry? no: refused by total
        for i in range(205):
            archive.writestr(f"part{i}/Connections_{i}.csv", chunk)
    with pytest.raises(ExportError, match="200 MB"):
        read_export(buffer.getvalue())


def test_declared_sizes_that_lie_are_caught() -> None:
    payload = STORY_FILES["Connections.csv"].encode() + b"Zed,Zero,,,,,01 Jan 2024\n" * 60_000
    lying = patch_central_directory(story_export(replace={"Connections.csv": payload}),
                                    file_size=100)
    with pytest.raises(ExportError, match="damaged"):
        read_export(lying, filename=STORY_NAME)


@pytest.mark.parametrize(("limits", "message"), [
    (ArchiveLimits(max_total_bytes=1024 * 1024), "expands to more than 1 MB"),
    (ArchiveLimits(max_entry_ratio=2.0, ratio_floor_bytes=60_000), "compressed more than 2:1"),
])
def test_real_decompressed_bytes_are_counted(monkeypatch: pytest.MonkeyPatch,
                                             limits: ArchiveLimits, message: str) -> None:
    # Python's zipfile never yields more than an entry declares, so fake a decompressor that
    # does: the reader must stop on the bytes it actually gets.
    archive = open_archive(story_export(), load_rules(), limits)
    monkeypatch.setattr(archive.zf, "open", lambda info: io.BytesIO(b"x" * (2 * 1024 * 1024)))
    with pytest.raises(ExportError, match=message) as error:
        archive.read("Skills.csv")
    assert error.value.file == "Skills.csv"


def test_nested_archives_are_refused() -> None:
    inner = story_export()
    with pytest.raises(ExportError, match="nested"):
        read_export(make_zip({"Complete_LinkedInDataExport_03-15-2024.zip": inner}))
    disguised = story_export(replace={"Skills.csv": inner})
    with pytest.raises(ExportError, match="nested") as error:
        read_export(disguised, filename=STORY_NAME)
    assert error.value.file == "Skills.csv"


def test_archive_with_too_many_entries_is_refused() -> None:
    many = make_zip({f"Jobs/file{i}.txt": "" for i in range(60)})
    with pytest.raises(ExportError, match="more than 50 entries"):
        read_export(many, limits=ArchiveLimits(max_entries=50))


def test_encrypted_archive_is_refused() -> None:
    with pytest.raises(ExportError, match="password"):
        read_export(patch_central_directory(story_export(), flag_bits=0x1))


@pytest.mark.parametrize(("payload", "line"), [
    (b"\xff\xfe" + "Name\nSales\n".encode("utf-16-le") + b"\x00", 3),  # odd UTF-16
    ("Name\nSales\nCaf\u00e9\n".encode() + b"\x81\x8d\x8f\n", 4),  # neither UTF-8 nor cp1252
    ("Name\nSales\n".encode("utf-16-le"), 1),  # UTF-16 without BOM: NUL bytes
])
def test_wrong_encoding_names_file_and_line(payload: bytes, line: int) -> None:
    result = read_damaged("Skills.csv", payload)
    assert_only_these_unknown(result, "Skills.csv", {"skills_count"})
    assert result.unreadable_files["Skills.csv"].startswith(f"line {line}: ")


def test_symlink_entries_are_ignored() -> None:
    # (without endorsements, which would prove that the member lists skills)
    buffer = io.BytesIO(story_export(drop=("Skills.csv", "Endorsement_Received_Info.csv")))
    with zipfile.ZipFile(buffer, "a") as archive:
        info = zipfile.ZipInfo("Skills.csv")
        info.external_attr = (0o120777 << 16)
        archive.writestr(info, "/etc/passwd")
    result = read_export(buffer.getvalue(), filename=STORY_NAME)
    assert known(result)["skills_count"] == 0
    assert status(result, "skills_count") is ColumnSource.EMPTY_BY_EXPORT_KIND
    assert any("symbolic-link" in w for w in result.warnings)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_damage_raises_export_error_or_reads(data: st.DataObject) -> None:
    archive = bytearray(SMALL_ARCHIVE)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(archive) - 1))
        archive[position] = data.draw(st.integers(0, 255))
    try:
        result = read_export(bytes(archive), filename=STORY_NAME)
    except ExportError as error:
        assert str(error)
    else:
        assert_within_contract(result)


SMALL_ARCHIVE = make_zip({k: STORY_FILES[k] for k in (
    "Profile.csv", "Connections.csv", "Shares.csv", "Comments.csv", "SearchQueries.csv",
    "messages.csv")}, compression=zipfile.ZIP_STORED)


@given(st.binary(max_size=2000))
@settings(max_examples=40, deadline=None)
def test_any_bytes_in_a_known_file_raise_export_error_or_read(payload: bytes) -> None:
    for name in ("Connections.csv", "Comments.csv", "SearchQueries.csv"):
        with contextlib.suppress(ExportError):
            read_export(story_export(replace={name: payload}), filename=STORY_NAME)


# =============================================================================================
# Privacy: nothing personal in the row, the result or the errors


@lru_cache(maxsize=1)
def _personal_strings(raw: zipfile.ZipFile) -> tuple[frozenset[str], frozenset[str]]:
    """(words: name parts, case-folded; phrases: e-mail addresses, URLs, message and profile
    text) collected from the raw files."""
    words: set[str] = set()
    phrases: set[str] = set()
    name_columns = {"First Name", "Last Name", "FROM", "TO", "From", "To",
                    "Endorser First Name", "Endorser Last Name", "Endorsee First Name",
                    "Endorsee Last Name"}
    text_columns = {"CONTENT", "SUBJECT", "CONVERSATION TITLE", "Message", "Text", "Headline",
                    "Summary", "Address", "ShareCommentary", "SharedUrl", "Email Address"}
    files = {"Profile.csv": 0, "Connections.csv": 3, "Invitations.csv": 0, "messages.csv": 0,
             "Recommendations_Received.csv": 0, "Recommendations_Given.csv": 0,
             "Endorsement_Received_Info.csv": 0, "Comments.csv": 0, "Shares.csv": 0,
             "Email Addresses.csv": 0, "Receipts_v2.csv": 0}
    for name, skip in files.items():
        for row in _raw_csv(raw, name, skip=skip):
            for column, value in row.items():
                value = value.strip()
                if not value:
                    continue
                if column in name_columns:
                    words.update(w.casefold() for w in re.findall(r"[^\W\d_]{3,}", value))
                if column in text_columns and len(value) >= 12:
                    phrases.add(value[:40])
                phrases.update(re.findall(r"https?://\S+|[\w.+-]+@[\w-]+\.[\w.]+", value))
    return frozenset(words), frozenset(phrases)


def _output_strings(result: ExportResult) -> list[str]:
    row = result.row.iloc[0]
    return [*(str(v) for v in row.tolist()), *result.from_archive, *result.derived,
            *result.derived.values(), *result.unknown, *result.overridden, *result.files_read,
            *result.warnings, result.archive_kind, repr(result.row),
            *(str(r) for r in result.provenance_records()), *result.unreadable_files.values()]


def _assert_nothing_personal(texts: list[str], words: frozenset[str],
                             phrases: frozenset[str]) -> None:
    blob = "\n".join(texts)
    leaked_phrases = [p for p in phrases if p in blob]
    assert not leaked_phrases, f"{len(leaked_phrases)} personal phrase(s) leaked"
    leaked = words & {w.casefold() for w in re.findall(r"[^\W\d_]+", blob)}
    assert not leaked, f"{len(leaked)} personal name word(s) leaked"


@pytest.mark.parametrize("which", ["default", "1851"])
def test_fixture_output_holds_nothing_personal(raw: zipfile.ZipFile, which: str,
                                               fixture_default: ExportResult,
                                               fixture_1851: ExportResult) -> None:
    words, phrases = _personal_strings(raw)
    assert len(words) > 100 and len(phrases) > 100  # the check has teeth
    result = fixture_default if which == "default" else fixture_1851
    _assert_nothing_personal(_output_strings(result), words, phrases)


def test_fixture_errors_hold_nothing_personal(raw: zipfile.ZipFile) -> None:
    words, phrases = _personal_strings(raw)
    files = {i.filename: raw.read(i) for i in raw.infolist() if not i.is_dir()}
    connections = files["Connections.csv"]
    invitations = files["Invitations.csv"]
    damaged = [
        ("Connections.csv",
         {**files, "Connections.csv": connections[: connections.index(b"Mary,Somerville") + 20]}),
        ("Invitations.csv", {**files, "Invitations.csv": invitations + b'\nAda,"Lord Byron\x00'}),
        ("messages.csv", {**files, "messages.csv": files["messages.csv"][:-200] + b'\n1,"open'}),
        ("Profile.csv", {**files, "Profile.csv": b"Ada,Byron-Lovelace,ada.example@example.com\n"}),
    ]
    texts: list[str] = []
    for broken, variant in damaged:
        result = read_export(make_zip(variant, compression=zipfile.ZIP_STORED))
        assert list(result.unreadable_files) == [broken]
        assert result.unreadable_files[broken].startswith("line ")
        texts += _output_strings(result)
    _assert_nothing_personal(texts, words, phrases)
    with pytest.raises(ExportError) as error:  # nothing readable: refused, still nothing personal
        read_export(make_zip({"Connections.csv": damaged[0][1]["Connections.csv"]}))
    _assert_nothing_personal([str(error.value)], words, phrases)
    assert str(error.value).startswith("Connections.csv: none of the archive's LinkedIn files")


# =============================================================================================
# Quirks of real archives: read what is there, say what is not


@pytest.mark.parametrize("legacy_first", [True, False])
def test_two_endorsement_files_the_canonical_one_wins_and_redacted_rows_are_not_shown(
        legacy_first: bool) -> None:
    # The older UTF-16 "Endorsement Received Info.csv" (6 rows) beside the current file (3 shown,
    # 2 redacted): whichever comes first in the ZIP, the canonical file is read.
    files: dict[str, str | bytes] = {k: v for k, v in STORY_FILES.items()
                                     if k != "Endorsement_Received_Info.csv"}
    both: list[tuple[str, str | bytes]] = [
        ("Endorsement Received Info.csv", legacy_endorsements()),
        ("Endorsement_Received_Info.csv", ENDORSEMENTS_WITH_REDACTED)]
    if not legacy_first:
        both.reverse()
    result = read_export(make_zip({**files, **dict(both)}), filename=STORY_NAME)
    assert known(result)["endorsements_received"] == 3
    assert result.provenance["endorsements_received"].files == ("Endorsement_Received_Info.csv",)
    assert ("Endorsement_Received_Info.csv: 2 candidate entries; read the one with the canonical "
            "name") in result.warnings
    # without the canonical file, the legacy one is read (it is the same data, older name)
    alone = read_export(make_zip({**files, "Endorsement Received Info.csv":
                                  legacy_endorsements()}), filename=STORY_NAME)
    assert known(alone)["endorsements_received"] == 6


def test_a_display_status_hides_an_endorsement() -> None:
    hidden = ENDORSEMENTS_WITH_REDACTED.replace("ACCEPTED,\n", "ACCEPTED,HIDDEN\n", 1)
    result = read_export(story_export(replace={"Endorsement_Received_Info.csv": hidden}),
                         filename=STORY_NAME)
    assert known(result)["endorsements_received"] == 2


@pytest.mark.parametrize(("uploads", "banner"), [
    (("a group background photo", "a article cover photo"), None),
    (("an event background photo", "a company page cover photo", "a feed photo"), None),
    (("a profile background photo",), True),
    (("a article cover photo", "a profile background photo"), True),
])
def test_only_the_members_own_background_photo_is_a_banner(uploads: tuple[str, ...],
                                                           banner: bool | None) -> None:
    result = read_export(story_export(replace={"Rich_Media.csv": rich_media(*uploads)}),
                         filename=STORY_NAME)
    assert known(result).get("has_banner") is banner
    assert "has_photo" in result.unknown  # none of these is a profile photo either


def test_a_group_profile_photo_is_not_the_members_photo() -> None:
    result = read_export(story_export(replace={"Rich_Media.csv": rich_media(
        "a group profile photo")}), filename=STORY_NAME)
    assert "has_photo" in result.unknown
    own = read_export(story_export(replace={"Rich_Media.csv": rich_media("a profile photo")}),
                      filename=STORY_NAME)
    assert known(own)["has_photo"] is True


def test_html_entities_count_as_the_characters_linkedin_shows() -> None:
    profile = PROFILE.replace("Helping teams buy better software",
                              "Sales &amp; Marketing &gt; everything").replace(
        "I sell software.", "R&amp;D &quot;and&quot; sales.")
    values = known(read_export(story_export(replace={"Profile.csv": profile}),
                               filename=STORY_NAME))
    assert values["headline_chars"] == len("Sales & Marketing > everything")
    assert values["about_chars"] == len('R&D "and" sales.\nSecond line of the About section.')


SECTION_FILES = ("Skills.csv", "Positions.csv", "Education.csv", "Languages.csv",
                 "Certifications.csv")
SECTION_COLUMNS = ("skills_count", "positions_count", "education_count", "languages_count",
                   "certifications_count")


def test_missing_files_in_an_archive_without_profile_are_unknown() -> None:
    # issue 13 (3): a Complete export by name, but without Profile.csv: partial or re-packed
    data = story_export(drop=("Profile.csv", *SECTION_FILES, "Reactions.csv"))
    result = read_export(data, filename=STORY_NAME)
    for column in (*SECTION_COLUMNS, "positions_with_description", "reactions_given_90d",
                   "days_active_90d"):
        assert status(result, column) is ColumnSource.UNKNOWN_FILE_ABSENT, column
        assert "lacks Profile.csv" in str(result.provenance[column].reason), column
    assert result.provenance["skills_count"].files == ("Skills.csv",)
    assert known(result)["posts_90d"] == 4  # what is there is still read
    assert_partition(result)


def test_missing_files_in_an_archive_of_unknown_type_are_unknown() -> None:
    # re-packed without its name and without Complete-only files: absence proves nothing
    data = story_export(drop=("Shares.csv", "Comments.csv", "Reactions.csv", "SearchQueries.csv",
                              "Endorsement_Received_Info.csv", *SECTION_FILES))
    result = read_export(data, filename="my-linkedin.zip")
    for column in SECTION_COLUMNS:
        assert status(result, column) is ColumnSource.UNKNOWN_FILE_ABSENT, column
        assert "type is not known" in str(result.provenance[column].reason)
    assert status(result, "endorsements_received") is ColumnSource.UNKNOWN_FILE_ABSENT
    assert_partition(result)


def test_missing_files_in_a_whole_complete_export_are_empty_and_say_why() -> None:
    drop = ("Endorsement_Received_Info.csv", *SECTION_FILES)
    result = read_export(story_export(drop=drop), filename=STORY_NAME)
    values = known(result)
    for column in (*SECTION_COLUMNS, "endorsements_received", "recommendations_given"):
        assert values[column] == 0, column
        entry = result.provenance[column]
        assert entry.status is ColumnSource.EMPTY_BY_EXPORT_KIND, column
        assert "a Complete export (so named) holding Profile.csv" in str(entry.reason)
    assert result.provenance["certifications_count"].files == ("Certifications.csv",)
    # named by its Complete-only files instead of its name
    by_files = read_export(story_export(drop=drop))
    assert "Complete-only files" in str(by_files.provenance["skills_count"].reason)
    assert_partition(result)


def test_missing_skills_beside_endorsements_of_named_skills_is_unknown() -> None:
    # one real archive gave skills_count = 0 beside 14 endorsements of named skills
    result = read_export(story_export(drop=("Skills.csv",)), filename=STORY_NAME)
    entry = result.provenance["skills_count"]
    assert entry.status is ColumnSource.UNKNOWN_FILE_ABSENT
    assert entry.files == ("Skills.csv",)
    assert "endorsements of named skills" in str(entry.reason)
    assert known(result)["endorsements_received"] == 4


def test_story_provenance_per_column() -> None:
    result = read_story()
    assert_partition(result)
    p = result.provenance
    assert p["connections_count"].status is ColumnSource.FROM_ARCHIVE
    assert p["connections_count"].files == ("Connections.csv",)
    assert p["subscription"].status is ColumnSource.DERIVED
    assert p["subscription"].reason == "receipt rule 'sales navigator'"
    assert p["followers_count"].status is ColumnSource.UNKNOWN
    assert p["followers_count"].reason == "a LinkedIn export does not hold it"
    assert p["member_id"].status is ColumnSource.DERIVED
    assert {c for c, e in p.items() if e.status is ColumnSource.EMPTY_BY_EXPORT_KIND} == {
        "recommendations_given", "certifications_count", "articles_90d"}
    assert result.unreadable_files == {}
    records = result.provenance_records()
    assert records[0] == {"column": "member_id", "status": "derived", "files": [],
                          "reason": "keyed hash (HMAC) of the profile URL"}


def test_a_file_cut_at_the_row_limit_is_reported_per_column() -> None:
    result = read_story(limits=ArchiveLimits(max_rows_per_file=3))
    entry = result.provenance["connections_count"]
    assert entry.status is ColumnSource.UNKNOWN_FILE_UNREADABLE
    assert entry.reason == "Connections.csv: only the first 3 rows were read (row limit)"
    assert status(result, "skills_count") is ColumnSource.FROM_ARCHIVE


def test_unsafe_content_in_one_file_still_refuses_the_whole_archive() -> None:
    with pytest.raises(ExportError, match="zip bomb"):
        read_export(story_export(replace={"Skills.csv": b"\x00" * (20 * 1024 * 1024)}),
                    filename=STORY_NAME)
    with pytest.raises(ExportError, match="nested"):  # a ZIP that is not a workbook
        read_export(story_export(replace={"Skills.csv": make_zip({"a.txt": "x"})}),
                    filename=STORY_NAME)


# ---------------------------------------------------------------------------------------------
# The member id: a keyed hash with a per-installation secret


def test_member_id_is_keyed_with_the_installations_secret(tmp_path: Path,
                                                          installation_secret_file: Path) -> None:
    first = read_story(secret_file=tmp_path / "a" / ".ssi-secret")
    again = read_story(secret_file=tmp_path / "a" / ".ssi-secret")
    other = read_story(secret_file=tmp_path / "b" / ".ssi-secret")
    member = str(first.row.loc[0, "member_id"])
    assert member == str(again.row.loc[0, "member_id"])
    assert member != str(other.row.loc[0, "member_id"])  # another installation, another id
    key_file = tmp_path / "a" / ".ssi-secret"
    assert re.fullmatch(r"[0-9a-f]{64}\n", key_file.read_text())
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # the old public-salt hash of the profile URL, which anyone could recompute, is not the id
    public = hashlib.sha256(b"ssi-model/linkedin-export/member-id/v1\x00"
                            b"url:linkedin.com/in/alex-example").hexdigest()[:16]
    assert member != f"li-{public}"
    # by default the secret comes from SSI_SECRET_FILE (Settings)
    assert str(read_story().row.loc[0, "member_id"]) == str(
        read_story(secret_file=installation_secret_file).row.loc[0, "member_id"])
    assert installation_secret_file.exists()


def test_name_based_member_id_needs_the_secret(tmp_path: Path) -> None:
    # no profile URL anywhere: the id comes from the name, keyed so nobody can recompute it
    data = story_export(drop=("Invitations.csv", "messages.csv"))
    result = read_export(data, filename=STORY_NAME, secret_file=tmp_path / "k")
    assert result.derived["member_id"] == "keyed hash (HMAC) of the profile name"
    public = hashlib.sha256(b"ssi-model/linkedin-export/member-id/v1\x00"
                            b"name:alex example").hexdigest()[:16]
    assert str(result.row.loc[0, "member_id"]) != f"li-{public}"
    given = read_export(data, filename=STORY_NAME, member_id="coach-7",
                        secret_file=tmp_path / "never")
    assert str(given.row.loc[0, "member_id"]) == "coach-7"
    assert not (tmp_path / "never").exists()  # an explicit id needs no secret


def test_secret_file_concurrent_first_use_and_bad_content(tmp_path: Path) -> None:
    path = tmp_path / "shared" / ".ssi-secret"
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(installation_secret(path)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1 and len(keys[0]) == 32
    assert sorted(p.name for p in path.parent.iterdir()) == [".ssi-secret"]  # no temp files left
    short = tmp_path / "short"
    short.write_text("abc123\n")
    with pytest.raises(UserError, match="at least 32 hex digits"):
        installation_secret(short)


# ---------------------------------------------------------------------------------------------
# The command prints the provenance of every contract column


def test_ingest_export_prints_provenance_and_warns_about_an_unreadable_file(
        tmp_path: Path) -> None:
    archive = tmp_path / STORY_NAME
    archive.write_bytes(story_export(drop=("Certifications.csv",), replace={
        "Skills.csv": "Negotiation\nSaaS\nCRM\n",
        "Languages.csv": xlsx_workbook([["Name"], ["Dutch"]])}))
    out = tmp_path / "row.csv"
    done = CliRunner().invoke(app, ["ingest-export", str(archive), "--out", str(out)])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()

    def line_of(column: str) -> str:
        return next(line for line in lines if line.split()[:1] == [column])

    assert "unknown_file_unreadable" in line_of("skills_count")
    assert "Skills.csv: line 1: no header row naming the column(s) 'name'" in line_of(
        "skills_count")
    assert "spreadsheet file where CSV text was expected" in line_of("languages_count")
    assert "empty_by_export_kind" in line_of("certifications_count")
    assert "from_archive" in line_of("connections_count")
    assert "Connections.csv" in line_of("connections_count")
    assert "a LinkedIn export does not hold it" in line_of("followers_count")
    assert all(any(line.split()[:1] == [c] for line in lines) for c in CONTRACT.input_columns)
    assert any(line.startswith("warning: Skills.csv: not read (line 1: no header row")
               for line in lines)
    row = pd.read_csv(out)
    assert row["skills_count"].isna().all() and row.loc[0, "connections_count"] == 5
