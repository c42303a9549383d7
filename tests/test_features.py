"""Pillar features: the specification of PillarFeatureBuilder (src/ssi_model/features.py).

Read as a list of promises: contract rows in any form give the same features; unknown stays unknown
and zero stays zero; more of a good behaviour never moves a feature the wrong way; the metadata the
boosters rely on (blocks, monotone signs, categorical codes, sources) is consistent; it composes
with scikit-learn; and it is fast.
"""

from __future__ import annotations

import io
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from ssi_model.batch import ProfileBatch
from ssi_model.contract import CONTRACT, PILLARS
from ssi_model.features import PillarFeatureBuilder, feature_spec

INPUTS = [c for c in CONTRACT.input_columns if c not in ("member_id", "snapshot_date")]
CONTEXT_FEATURES = [
    "industry", "role_family", "seniority", "region", "subscription", "account_age_months",
]
WEEKS = CONTRACT.window_days / 7


@pytest.fixture(scope="module")
def builder() -> PillarFeatureBuilder:
    return PillarFeatureBuilder().fit(CONTRACT.empty_frame())


# -- rows ------------------------------------------------------------------------------------------


def _upper(name: str, row: dict[str, Any]) -> int:
    """The largest valid value of an int column given the row so far (cross-column rules)."""
    col = CONTRACT[name]
    other = col.column_bound("max")
    if other is None:
        return int(col.numeric_bound("max") or 0)
    bound = row.get(other)
    return int(bound) if bound is not None else _upper(other, row)


def _cell_strategy(name: str) -> st.SearchStrategy[Any]:
    """Values of one column over its whole numeric range (cross-column rules applied later)."""
    col = CONTRACT[name]
    if col.kind == "category":
        return st.sampled_from(col.values)
    if col.kind == "bool":
        return st.booleans()
    return st.integers(int(col.numeric_bound("min") or 0), _upper(name, {}))


_KNOWN = {name: _cell_strategy(name) for name in INPUTS}
_MAYBE = {name: st.one_of(st.none(), strategy) for name, strategy in _KNOWN.items()}


@st.composite
def contract_rows(draw: st.DrawFn, unknown: bool = True) -> dict[str, Any]:
    """One valid contract row (plain Python values, ``None`` = unknown), in contract order."""
    row: dict[str, Any] = {"member_id": "m-" + str(draw(st.integers(0, 10**6)))}
    for name in INPUTS:
        value = draw(_MAYBE[name] if unknown else _KNOWN[name])
        other = CONTRACT[name].column_bound("max")
        if value is not None and other is not None and row[other] is not None:
            value %= row[other] + 1  # e.g. accepted <= sent
        row[name] = value
    return row


def random_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """n valid rows with plain numpy dtypes (a raw frame), heavy-tailed counts, no unknowns."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {"member_id": [f"m{i}" for i in range(n)]}
    for name in INPUTS:
        col = CONTRACT[name]
        if col.kind == "category":
            data[name] = rng.choice(list(col.values), n)
        elif col.kind == "bool":
            data[name] = rng.random(n) < 0.6
        else:
            lo, hi = int(col.numeric_bound("min") or 0), col.numeric_bound("max")
            other = col.column_bound("max")
            if other is not None:
                data[name] = (rng.random(n) * (data[other] + 1)).astype(np.int64)
            else:
                draw = np.floor(rng.lognormal(2.0, 1.5, n)).astype(np.int64)
                data[name] = np.clip(draw, lo, int(hi or 0))
    return pd.DataFrame(data)


def base_row() -> dict[str, Any]:
    """A complete, ordinary member: every column known and non-zero."""
    row = random_frame(1, seed=3).iloc[0].to_dict()
    row = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    row.update(posts_90d=13, reshares_90d=4, articles_90d=1, invitations_sent_90d=60,
               invitations_accepted_90d=30, connections_count=800, vp_plus_connections=40,
               coworker_connections=100, profile_views_given_90d=50, out_of_network_views_90d=20,
               messages_received_90d=40, messages_replied_90d=30, inmails_sent_90d=10,
               inmails_replied_90d=3)
    return row


def features_of(builder: PillarFeatureBuilder, rows: list[dict[str, Any]]) -> pd.DataFrame:
    return builder.transform(pd.DataFrame(rows))


# -- metadata --------------------------------------------------------------------------------------


def test_feature_set_size_and_blocks(builder: PillarFeatureBuilder) -> None:
    names = list(builder.get_feature_names_out())
    assert 60 <= len(names) <= 90
    assert names == list(builder.feature_names_out_) == feature_spec().names
    assert set(builder.feature_blocks_) == set(PILLARS)
    in_blocks = {f for block in builder.feature_blocks_.values() for f in block}
    assert in_blocks == set(names), "every feature feeds at least one booster"
    for pillar, block in builder.feature_blocks_.items():
        assert block[: len(CONTEXT_FEATURES)] == CONTEXT_FEATURES, pillar
        assert block == [f for f in names if f in block], "blocks keep the output order"
        # every input the contract files under this pillar reaches this pillar's booster
        used = {c for f in block for c in builder.sources_[f]}
        assert set(CONTRACT.pillar_inputs(pillar)) <= used, pillar
    # a feature may serve several pillars when the domain says so
    assert "posts_per_week" in builder.feature_blocks_["insights"]
    assert "posts_per_week" in builder.feature_blocks_["brand"]


def test_metadata_is_consistent(builder: PillarFeatureBuilder) -> None:
    names = set(builder.feature_names_out_)
    for attr in ("monotone_", "actionable_", "sources_"):
        assert set(getattr(builder, attr)) == names, attr
    assert set(builder.monotone_.values()) <= {-1, 0, 1}
    assert builder.categorical_features_ == [
        "industry", "role_family", "seniority", "region", "subscription"
    ]
    forbidden = {"member_id", "snapshot_date", *CONTRACT.label_columns}
    for feature, sources in builder.sources_.items():
        assert sources and set(sources) <= set(CONTRACT.input_columns) - forbidden, feature
        context = all(CONTRACT[c].is_context for c in sources)
        if context:
            assert builder.monotone_[feature] == 0 and not builder.actionable_[feature], feature
    for feature in builder.categorical_features_:
        # LightGBM cannot constrain a categorical feature
        assert builder.monotone_[feature] == 0
    # behaviour features are constrained; earned ones (followers) are not actionable
    assert builder.monotone_["posts_per_week"] == 1 and builder.actionable_["posts_per_week"]
    assert builder.monotone_["invitation_acceptance_rate"] == 1
    assert not builder.actionable_["log1p_followers_count"]


def test_input_monotone_states_which_columns_keep_the_guarantee(
    builder: PillarFeatureBuilder,
) -> None:
    spec = feature_spec()
    for pillar, columns in builder.input_monotone_.items():
        block = builder.feature_blocks_[pillar]
        assert set(columns) <= set(CONTRACT.behaviour_columns)
        for column, sign in columns.items():
            users = [f for f in block if column in builder.sources_[f]]
            assert users, (pillar, column)
            steps = {builder.monotone_[f] * spec[f].response(column) for f in users}
            assert sign == (1 if steps == {1} else -1 if steps == {-1} else 0), (pillar, column)
    # the product's promises: more posts never lower insights, more VP+ contacts never lower
    # relationships, more out-of-network views never lower people
    assert builder.input_monotone_["insights"]["posts_90d"] == 1
    assert builder.input_monotone_["relationships"]["vp_plus_connections"] == 1
    assert builder.input_monotone_["people"]["out_of_network_views_90d"] == 1
    # ... and the documented price of a quality rate: its denominator loses the guarantee
    assert builder.input_monotone_["relationships"]["invitations_sent_90d"] == 0


def test_exclude_drops_features_and_restores_guarantees() -> None:
    ratios = ("vp_plus_share", "coworker_share", "out_of_network_share", "engagement_per_post")
    builder = PillarFeatureBuilder(exclude=ratios).fit(CONTRACT.empty_frame())
    assert not set(ratios) & set(builder.feature_names_out_)
    assert builder.input_monotone_["relationships"]["connections_count"] == 1
    assert builder.input_monotone_["people"]["profile_views_given_90d"] == 1
    assert builder.input_monotone_["brand"]["posts_90d"] == 1
    with pytest.raises(ValueError, match="unknown features"):
        PillarFeatureBuilder(exclude=("no_such_feature",)).fit(CONTRACT.empty_frame())


# -- values ----------------------------------------------------------------------------------------


def test_a_worked_example(builder: PillarFeatureBuilder) -> None:
    row = base_row() | {
        "industry": "technology", "subscription": "recruiter", "has_photo": True,
        "has_banner": False, "custom_url": None, "skills_count": 4, "followers_count": 0,
    }
    f = features_of(builder, [row]).iloc[0]
    assert f["industry"] == 0 and f["subscription"] == 3  # contract category order
    assert f["posts_per_week"] == pytest.approx(13 / WEEKS)
    assert f["content_per_week"] == pytest.approx(18 / WEEKS)
    assert f["invitation_acceptance_rate"] == pytest.approx(0.5)
    assert f["message_reply_rate"] == pytest.approx(0.75)
    assert f["inmail_reply_rate"] == pytest.approx(0.3)
    assert f["vp_plus_share"] == pytest.approx(0.05)
    assert f["out_of_network_share"] == pytest.approx(0.4)
    engagement = row["reactions_received_90d"] + row["comments_received_90d"]
    assert f["engagement_per_post"] == pytest.approx(engagement / 18)
    assert f["log1p_followers_count"] == 0.0
    assert f["has_photo"] == 1.0 and f["has_banner"] == 0.0
    assert f["log1p_connections_count"] == pytest.approx(math.log1p(800))
    # completeness over the 10 known sections (custom_url unknown); banner and skills >= 5 missing
    sections = {
        "has_photo": 1, "has_banner": 0, "headline_chars": row["headline_chars"] >= 1,
        "about_chars": row["about_chars"] >= 1,
        "positions_with_description": row["positions_with_description"] >= 1,
        "education_count": row["education_count"] >= 1, "skills_count": 0,
        "featured_items": row["featured_items"] >= 1,
        "certifications_count": row["certifications_count"] >= 1,
        "name_pronunciation": bool(row["name_pronunciation"]),
    }
    assert f["profile_completeness"] == pytest.approx(sum(sections.values()) / 10)


def test_unknown_stays_unknown(builder: PillarFeatureBuilder) -> None:
    base = base_row()
    known = features_of(builder, [base]).iloc[0]
    assert known.notna().all(), known[known.isna()]
    spec = feature_spec()
    for column in INPUTS:
        f = features_of(builder, [base | {column: None}]).iloc[0]
        for name in builder.feature_names_out_:
            if column not in builder.sources_[name]:
                assert f[name] == known[name], (column, name)
            elif spec[name].op == "share_filled":
                assert not np.isnan(f[name]), "completeness counts the known sections"
            else:
                assert np.isnan(f[name]), (column, name)
    # nothing known: everything unknown, completeness included
    with pytest.warns(UserWarning, match="no contract input column"):
        empty = features_of(builder, [{"member_id": "m"}]).iloc[0]
    assert empty.isna().all()


def test_zero_stays_zero(builder: PillarFeatureBuilder) -> None:
    row = {c: 0 for c in INPUTS if CONTRACT[c].kind == "int"}
    row |= {c: False for c in INPUTS if CONTRACT[c].kind == "bool"}
    row |= {"profile_locales": 1}
    f = features_of(builder, [row]).iloc[0]
    spec = feature_spec()
    for name in builder.feature_names_out_:
        op = spec[name].op
        if op == "code":
            assert np.isnan(f[name])  # no category given
        elif op == "ratio" and spec[name].denominator_floor is None:
            assert np.isnan(f[name]), f"{name}: a rate over nothing is unknown, not 0"
        elif name == "profile_locales":
            assert f[name] == 1.0
        else:
            assert f[name] == 0.0, name


def test_extra_columns_ignored_and_absent_columns_unknown(builder: PillarFeatureBuilder) -> None:
    frame = random_frame(20, seed=1)
    expected = builder.transform(frame)
    shuffled = frame[frame.columns[::-1]].assign(ssi_total=50.0, note="x", source="simulated")
    pd.testing.assert_frame_equal(builder.transform(shuffled), expected)
    partial = builder.transform(frame.drop(columns=["posts_90d"]))
    assert partial["posts_per_week"].isna().all()
    assert partial["searches_per_week"].equals(expected["searches_per_week"])
    # the output keeps the caller's index
    reindexed = frame.set_index(pd.Index([f"r{i}" for i in range(20)]))
    assert list(builder.transform(reindexed).index) == list(reindexed.index)


def test_typed_raw_csv_and_records_agree(builder: PillarFeatureBuilder) -> None:
    frame = random_frame(300, seed=2)
    holes = ["has_photo", "posts_90d", "industry", "custom_url"]
    frame[holes] = frame[holes].astype(object)
    frame.loc[::7, holes] = None  # unknowns
    raw = builder.transform(frame)
    typed = builder.transform(CONTRACT.to_typed(frame))
    csv = builder.transform(pd.read_csv(io.StringIO(frame.to_csv(index=False))))
    pd.testing.assert_frame_equal(typed, raw)
    pd.testing.assert_frame_equal(csv, raw)
    assert all(dtype == np.float64 for dtype in raw.dtypes)
    records = [{k: (None if pd.isna(v) else v) for k, v in r.items()}
               for r in frame.to_dict("records")]
    np.testing.assert_array_equal(builder.features(ProfileBatch.from_records(records)),
                                  raw.to_numpy())


def test_text_cells_are_read_like_a_form(builder: PillarFeatureBuilder) -> None:
    frame = pd.DataFrame({"has_photo": ["true", "FALSE", "", None, "yes"],
                          "posts_90d": ["13", " 2 ", "", None, "0"],
                          "industry": ["technology", "", None, "other", "education"]})
    f = builder.transform(frame)
    np.testing.assert_array_equal(f["has_photo"], [1.0, 0.0, np.nan, np.nan, 1.0])
    np.testing.assert_array_equal(f["posts_per_week"] * WEEKS, [13.0, 2.0, np.nan, np.nan, 0.0])
    np.testing.assert_array_equal(f["industry"], [0.0, np.nan, np.nan, 15.0, 6.0])
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    np.testing.assert_array_equal(builder.features(ProfileBatch.from_records(records)),
                                  f.to_numpy())


@pytest.mark.parametrize(
    ("column", "value"),
    [("industry", "aerospace"), ("posts_90d", "many"), ("seniority", "intern")],
)
def test_values_outside_the_contract_raise(
    builder: PillarFeatureBuilder, column: str, value: str
) -> None:
    with pytest.raises(ValueError, match=column):
        builder.transform(pd.DataFrame({column: [value]}))
    with pytest.raises(ValueError, match=column):
        ProfileBatch.from_records([{column: value}])


# -- properties ------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(contract_rows(), min_size=1, max_size=12))
def test_any_valid_rows_give_finite_or_nan_features_the_same_in_every_form(
    builder: PillarFeatureBuilder, rows: list[dict[str, Any]]
) -> None:
    raw = builder.transform(pd.DataFrame(rows))
    values = raw.to_numpy()
    assert values.dtype == np.float64 and values.shape == (len(rows), len(raw.columns))
    assert not np.isinf(values).any()
    typed = builder.transform(CONTRACT.to_typed(pd.DataFrame(rows)))
    np.testing.assert_array_equal(typed.to_numpy(), values)
    # one batch, however it is built: records (the API), the typed frame, column arrays
    from_records = ProfileBatch.from_records(rows)
    np.testing.assert_array_equal(builder.features(from_records), values)
    from_typed = ProfileBatch.from_frame(CONTRACT.to_typed(pd.DataFrame(rows)))
    from_columns = ProfileBatch.from_columns(
        {c: [r.get(c) for r in rows] for c in INPUTS}, member_id=[r.get("member_id") for r in rows])
    for other in (from_typed, from_columns):
        assert list(other) == list(from_records)
        for column in from_records:
            np.testing.assert_array_equal(other[column], from_records[column], err_msg=column)
        np.testing.assert_array_equal(other.member_id, from_records.member_id)
    # rates and shares stay in 0..1 (engagement per post is a count per post, not a share)
    for name in ("invitation_acceptance_rate", "message_reply_rate", "inmail_reply_rate",
                 "vp_plus_share", "coworker_share", "out_of_network_share",
                 "profile_completeness", "all_star_completeness"):
        column = raw[name].dropna()
        assert ((column >= 0) & (column <= 1)).all(), name


def _raised(row: dict[str, Any], column: str, step: int) -> dict[str, Any] | None:
    """The row with ``column`` raised by ``step`` within its range; None if it cannot rise."""
    value = row[column]
    if value is None:
        return None
    if CONTRACT[column].kind == "bool":
        return row | {column: True} if not value else None
    new = min(value + step, _upper(column, row))
    return row | {column: new} if new > value else None


@settings(max_examples=150, deadline=None)
@given(
    row=contract_rows(unknown=False),
    column=st.sampled_from([c for c in INPUTS if CONTRACT[c].kind in ("int", "bool")]),
    step=st.integers(1, 1000),
)
def test_raising_an_input_moves_each_feature_in_its_declared_direction(
    builder: PillarFeatureBuilder, row: dict[str, Any], column: str, step: int
) -> None:
    raised = _raised(row, column, step)
    if raised is None:
        return
    before, after = builder.features(ProfileBatch.from_records([row, raised]))
    spec = feature_spec()
    for k, name in enumerate(builder.feature_names_out_):
        response = spec[name].response(column)
        if column not in builder.sources_[name]:
            assert after[k] == before[k] or (np.isnan(after[k]) and np.isnan(before[k])), name
        elif not (np.isnan(before[k]) or np.isnan(after[k])):
            assert response * (after[k] - before[k]) >= 0, (name, column, before[k], after[k])
            if builder.monotone_[name] == 1 and response == 1:
                assert after[k] >= before[k], name  # the brief's rule, stated plainly


# -- scikit-learn ----------------------------------------------------------------------------------

EXPECTED_FAILED_CHECKS = {
    "check_transformer_preserve_dtypes": (
        "transform returns a float64 pandas DataFrame by design (LightGBM and SHAP need the "
        "names), which has no .dtype; every column is float64 "
        "(asserted in test_typed_raw_csv_and_records_agree)"
    ),
}


@pytest.mark.filterwarnings("ignore:X has no contract input column")
@parametrize_with_checks(
    [PillarFeatureBuilder()], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS
)
def test_sklearn_compatible(estimator: PillarFeatureBuilder, check: Any) -> None:
    """Generic arrays carry no contract column names, so every feature is NaN (documented)."""
    check(estimator)


def test_unnamed_arrays_are_read_by_the_names_seen_in_fit() -> None:
    frame = random_frame(10)
    builder = PillarFeatureBuilder().fit(frame)
    assert list(builder.feature_names_in_) == list(frame.columns)
    assert builder.n_features_in_ == frame.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "X does not have valid feature names"
        from_array = builder.transform(frame.to_numpy())
    np.testing.assert_array_equal(from_array.to_numpy(), builder.transform(frame).to_numpy())
    with pytest.warns(UserWarning, match="no contract input column"):
        out = PillarFeatureBuilder().fit(np.zeros((3, 2))).transform(np.zeros((3, 2)))
    assert out.isna().all().all()


def test_works_in_a_pipeline_under_clone_and_cross_validation() -> None:
    lgb = pytest.importorskip("lightgbm")
    frame = random_frame(300, seed=5)
    y = np.log1p(frame["posts_90d"]) + frame["has_photo"]
    model = lgb.LGBMRegressor(n_estimators=20, min_child_samples=5, verbose=-1, n_jobs=1)
    pipe = Pipeline([("features", PillarFeatureBuilder()), ("model", model)])
    copy = clone(pipe)
    assert copy.get_params()["features__exclude"] == ()
    scores = cross_val_score(copy, frame, y, cv=3)
    assert np.all(np.isfinite(scores)) and scores.mean() > 0.5
    pipe.set_params(features__exclude=("engagement_per_post",)).fit(frame, y)
    assert "engagement_per_post" not in pipe[0].feature_names_out_
    # set_output keeps the names for the next step
    out = PillarFeatureBuilder().set_output(transform="pandas").fit_transform(frame)
    assert list(out.columns) == list(PillarFeatureBuilder().fit(frame).feature_names_out_)


def test_metadata_drives_a_monotone_lightgbm_booster_per_pillar() -> None:
    lgb = pytest.importorskip("lightgbm")
    frame = random_frame(600, seed=7)
    builder = PillarFeatureBuilder().fit(frame)
    X = builder.transform(frame)
    y = np.log1p(frame["posts_90d"] + frame["comments_given_90d"]).to_numpy()
    block = builder.feature_blocks_["insights"]
    model = lgb.LGBMRegressor(
        n_estimators=30, min_child_samples=5, verbose=-1, n_jobs=1,
        monotone_constraints=[builder.monotone_[f] for f in block],
        monotone_constraints_method="intermediate",
    )
    cats = [f for f in block if f in builder.categorical_features_]
    model.fit(X[block], y, categorical_feature=cats)
    # more posts never lower the insights estimate, holding the rest of the row fixed
    rows = [r | {"posts_90d": p} for r in frame.head(20).to_dict("records") for p in (0, 5, 50)]
    pred = model.predict(builder.transform(pd.DataFrame(rows))[block]).reshape(20, 3)
    assert (np.diff(pred, axis=1) >= -1e-12).all()
