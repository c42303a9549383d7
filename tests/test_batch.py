"""ProfileBatch: one column-wise batch, however it is built, read by the contract's parse."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from ssi_model.batch import CATEGORY_COLUMNS, PROFILE_COLUMNS, ProfileBatch, as_batch
from ssi_model.contract import CONTRACT, CellError
from ssi_model.simulator import simulate_cohort
from ssi_model.validation import validate


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    typed = validate(simulate_cohort(80, 7)).clean
    typed.loc[::5, ["posts_90d", "has_photo", "industry"]] = pd.NA  # unknowns
    return typed


def _assert_same(a: ProfileBatch, b: ProfileBatch) -> None:
    assert len(a) == len(b) and list(a) == list(b) == list(PROFILE_COLUMNS)
    for column in PROFILE_COLUMNS:
        np.testing.assert_array_equal(a[column], b[column], err_msg=column)
        assert a[column].dtype == (object if column in CATEGORY_COLUMNS else np.float64)
    assert a.member_id.tolist() == b.member_id.tolist()


def test_typed_frames_csv_text_and_records_give_the_same_batch(rows: pd.DataFrame) -> None:
    typed = ProfileBatch.from_frame(rows)
    csv = ProfileBatch.from_frame(pd.read_csv(io.StringIO(rows.to_csv(index=False))))
    text = ProfileBatch.from_frame(pd.read_csv(io.StringIO(rows.to_csv(index=False)), dtype=str))
    records = ProfileBatch.from_records(CONTRACT.to_records(rows))
    json_like = ProfileBatch.from_records(CONTRACT.to_records(rows, for_json=True))
    for other in (csv, text, records, json_like):
        _assert_same(typed, other)
    assert np.isnan(typed["posts_90d"][::5]).all() and typed["industry"][0] is None
    assert set(typed["has_photo"][~np.isnan(typed["has_photo"])]) <= {0.0, 1.0}


def test_text_cells_go_through_the_contracts_parse() -> None:
    frame = pd.DataFrame({"member_id": ["a", "b", "c", "d"],
                          "has_photo": ["ja", "Nein", " ", None],
                          "posts_90d": [" 12 ", "0", "", None],
                          "industry": ["technology", " other ", "", None]})
    batch = ProfileBatch.from_frame(frame)
    np.testing.assert_array_equal(batch["has_photo"], [1.0, 0.0, np.nan, np.nan])
    np.testing.assert_array_equal(batch["posts_90d"], [12.0, 0.0, np.nan, np.nan])
    assert batch["industry"].tolist() == ["technology", "other", None, None]
    records = ProfileBatch.from_records(frame.astype(object).to_dict("records"))
    _assert_same(batch, records)
    # what validation rejects, the batch rejects with the same violation
    for cell, rule in (("2.5", "not_whole"), ("many", "not_a_number")):
        with pytest.raises(CellError) as raised:
            ProfileBatch.from_records([{"posts_90d": cell}])
        assert raised.value.violation.rule == rule
    with pytest.raises(CellError, match="not true/false"):
        ProfileBatch.from_frame(pd.DataFrame({"has_photo": ["maybe"]}))
    with pytest.raises(ValueError, match="industry"):
        ProfileBatch.from_frame(pd.DataFrame({"industry": ["aerospace"]}))


def test_absent_columns_are_unknown_and_rows_are_numbered() -> None:
    batch = ProfileBatch.from_frame(pd.DataFrame({"posts_90d": [3, 4], "note": ["x", "y"]}))
    assert batch.member_id.tolist() == ["0", "1"]
    assert np.isnan(batch["searches_90d"]).all() and batch["region"].tolist() == [None, None]
    assert len(ProfileBatch.from_records([])) == 0
    with pytest.raises(ValueError, match="duplicate"):
        ProfileBatch.from_frame(pd.DataFrame([[1, 2]], columns=["posts_90d", "posts_90d"]))


def test_take_with_values_and_concat(rows: pd.DataFrame) -> None:
    batch = ProfileBatch.from_frame(rows)
    picked = batch.take([3, 3, 0])
    assert picked.member_id.tolist() == [batch.member_id[3]] * 2 + [batch.member_id[0]]
    picked["posts_90d"][:] = 99.0  # new arrays: the original is untouched
    assert not (batch["posts_90d"] == 99.0).any()

    posts = batch["posts_90d"].copy()
    posts[0] = 1234.0
    changed = batch.with_values({"posts_90d": posts})
    assert changed["posts_90d"][0] == 1234.0 and batch["posts_90d"][0] != 1234.0
    assert changed["industry"] is batch["industry"]  # the other columns are shared
    with pytest.raises(KeyError):
        batch.with_values({"ssi_total": posts})
    with pytest.raises(ValueError, match="rows"):
        batch.with_values({"posts_90d": posts[:3]})

    both = ProfileBatch.concat([batch, changed])
    assert len(both) == 2 * len(batch)
    _assert_same(both.take(np.arange(len(batch))), batch)
    assert as_batch(both) is both
    # back to a typed frame: the same batch again
    _assert_same(ProfileBatch.from_frame(batch.to_frame()), batch)
