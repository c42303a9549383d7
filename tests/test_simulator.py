"""The simulator, as a specification: calibration figures, contract validity, faults, the truth,
and the structural function's invariants (bounds, monotonicity, quality rates)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssi_model.contract import CONTRACT, PILLAR_LABELS, PILLARS, TOTAL_LABEL
from ssi_model.simulator import (
    BEST_COLUMNS,
    DEFAULT_SNAPSHOT,
    FAULT_COLUMN,
    TRUE_COLUMNS,
    calibration_summary,
    list_calibrations,
    load_calibration,
    simulate_cohort,
    structural_pillars,
)

N = 20_000
LABELS = [*PILLAR_LABELS.values(), TOTAL_LABEL]

# Columns where more is never worse. The two exceptions are quality rates (ssi-domain.md §3.1):
# sending invitations or InMails nobody answers lowers the acceptance or reply rate.
QUALITY_DENOMINATORS = {"invitations_sent_90d": "invitations_accepted_90d",
                        "inmails_sent_90d": "inmails_replied_90d"}
GOOD_BEHAVIOUR = [c for c in CONTRACT.behaviour_columns if c not in QUALITY_DENOMINATORS]
PARENT = {col: other for col, which, other in CONTRACT.cross_rules() if which == "max"}


# -- cohorts, built once per module --------------------------------------------------------------

@pytest.fixture(scope="module")
def linkedin() -> pd.DataFrame:
    return simulate_cohort(N, seed=0, with_truth=True)


@pytest.fixture(scope="module")
def linkedin_seed_7() -> pd.DataFrame:
    return simulate_cohort(N, seed=7, with_truth=True)


@pytest.fixture(scope="module")
def coaching() -> pd.DataFrame:
    return simulate_cohort(N, seed=0, calibration="coaching-guide", with_truth=True)


@pytest.fixture(scope="module")
def coaching_seed_7() -> pd.DataFrame:
    return simulate_cohort(N, seed=7, calibration="coaching-guide", with_truth=True)


def _clean(df: pd.DataFrame) -> pd.DataFrame:
    return df.loc[~df[FAULT_COLUMN]]


def contract_violations(df: pd.DataFrame, today: date | None = None) -> pd.Series:
    """Per row: does it break any contract rule? Read from CONTRACT, not from the simulator."""
    today = today or date.today()
    bad = pd.Series(False, index=df.index)
    for col in CONTRACT.columns:
        s = df[col.name]
        if col.required:
            bad |= s.isna()
        if col.kind in ("int", "float"):
            x = s.astype("Float64")
            if col.kind == "int":
                bad |= (x.round() != x).fillna(False)
            for which, op in (("min", np.less), ("max", np.greater)):
                bound = col.numeric_bound(which)  # type: ignore[arg-type]
                if bound is not None:
                    bad |= op(x, bound).fillna(False)
        if col.kind == "category":
            bad |= ~(s.isna() | s.astype(object).isin(col.values))
    for col, which, other in CONTRACT.cross_rules():
        x, y = df[col].astype("Float64"), df[other].astype("Float64")
        bad |= ((x > y) if which == "max" else (x < y)).fillna(False)
    bad |= df["snapshot_date"] > pd.Timestamp(today)
    bad |= (df["reported_on"] < df["snapshot_date"]).fillna(False)
    pillars = df[list(PILLAR_LABELS.values())].astype(float).sum(axis=1)
    bad |= ((pillars - df[TOTAL_LABEL].astype(float)).abs()
            > CONTRACT.label_sum_tolerance + 1e-9).fillna(False)
    return bad


# -- calibration figures (reported labels of rows without typing faults) -------------------------

def test_built_in_calibrations_are_listed() -> None:
    assert {"linkedin", "coaching-guide"} <= set(list_calibrations())
    assert load_calibration("coaching-guide").name == "coaching-guide"


@pytest.mark.parametrize("cohort", ["linkedin", "linkedin_seed_7"])
def test_linkedin_calibration_figures(cohort: str, request: pytest.FixtureRequest) -> None:
    df = _clean(request.getfixturevalue(cohort))
    total = df[TOTAL_LABEL].astype(float)
    assert 28 <= total.mean() <= 35
    assert 0.005 <= (total >= 70).mean() <= 0.03
    means = {p: df[PILLAR_LABELS[p]].astype(float).mean() for p in PILLARS}
    assert 11 <= means["brand"] <= 13
    assert 4 <= means["people"] <= 6
    assert 1.5 <= means["insights"] <= 3
    assert 11 <= means["relationships"] <= 16
    for q, target in {15: 16, 25: 20, 63: 33, 90: 50, 99: 70}.items():
        assert abs(np.percentile(total, q) - target) <= 5, f"P{q}"


@pytest.mark.parametrize("cohort", ["coaching", "coaching_seed_7"])
def test_coaching_guide_calibration_figures(cohort: str, request: pytest.FixtureRequest) -> None:
    df = _clean(request.getfixturevalue(cohort))
    total = df[TOTAL_LABEL].astype(float)
    by_role = total.groupby(df["role_family"].astype(str)).mean()
    assert 50 <= total.mean() <= 55
    for role in ("marketing_communications", "hr"):
        assert 60 <= by_role[role] <= 65, role
    for role in ("recruiting", "sales", "account_management"):
        assert by_role[role] >= 75, role
    assert 75 <= by_role["social_media"] <= 80


def test_calibration_summary_reports_the_figures(linkedin: pd.DataFrame) -> None:
    summary = calibration_summary(linkedin)
    clean = _clean(linkedin)
    assert summary["members"] == len(clean)
    assert summary["mean_total"] == pytest.approx(clean[TOTAL_LABEL].astype(float).mean())
    assert set(summary["pillar_means"]) == set(PILLARS)
    assert set(summary["percentiles"]) >= {"P15", "P25", "P63", "P90", "P99"}
    assert set(summary["role_family_means"]) == set(CONTRACT["role_family"].values)
    # without the truth columns, rows whose labels break a rule are left out all the same
    without_truth = calibration_summary(linkedin.drop(columns=[FAULT_COLUMN]))
    assert without_truth["mean_total"] == pytest.approx(summary["mean_total"], abs=0.05)


def test_context_shapes_scores_as_linkedin_reports(linkedin: pd.DataFrame) -> None:
    df = _clean(linkedin)
    total = df[TOTAL_LABEL].astype(float)
    by_region = total.groupby(df["region"].astype(str)).mean()
    assert by_region["namer"] > by_region["emea"] > by_region["asia"] > by_region["latam"]
    by_sub = total.groupby(df["subscription"].astype(str)).mean()
    assert by_sub["sales_navigator"] > by_sub["free"]


# -- reproducibility ---------------------------------------------------------------------------

def test_same_seed_same_cohort_and_different_seed_different() -> None:
    a = simulate_cohort(500, seed=11)
    pd.testing.assert_frame_equal(a, simulate_cohort(500, seed=11))
    assert not a.equals(simulate_cohort(500, seed=12))


def test_asking_for_the_truth_does_not_change_the_cohort() -> None:
    plain = simulate_cohort(300, seed=5)
    truth = simulate_cohort(300, seed=5, with_truth=True)
    pd.testing.assert_frame_equal(plain, truth[plain.columns])
    assert set(TRUE_COLUMNS + BEST_COLUMNS + [FAULT_COLUMN]) <= set(truth.columns)
    assert FAULT_COLUMN not in plain.columns


def test_snapshot_is_fixed_and_readings_are_never_in_the_future() -> None:
    df = _clean(simulate_cohort(1_000, seed=3, with_truth=True))
    assert (df["snapshot_date"] == pd.Timestamp(DEFAULT_SNAPSHOT)).all()
    lag = (df["reported_on"] - df["snapshot_date"]).dt.days
    assert lag.between(0, 30).all() and lag.nunique() > 10
    assert (df["reported_on"] <= pd.Timestamp(date.today())).all()
    recent = simulate_cohort(200, seed=3, snapshot_date=date.today())
    assert (recent["reported_on"] == pd.Timestamp(date.today())).all()
    with pytest.raises(ValueError, match="future"):
        simulate_cohort(10, seed=3, snapshot_date=date(2999, 1, 1))


def test_unknown_calibration_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown calibration"):
        simulate_cohort(10, seed=0, calibration="nope")


def test_a_calibration_file_can_extend_a_built_in_one(tmp_path: Path) -> None:
    custom = tmp_path / "eager.yaml"
    custom.write_text("extends: linkedin\nname: eager\ntraits:\n  mean: {content: 1.5}\n"
                      "reporting:\n  industry_reference: {members: 2000}\n")
    eager = calibration_summary(simulate_cohort(2_000, seed=1, calibration=str(custom)))
    plain = calibration_summary(simulate_cohort(2_000, seed=1))
    assert eager["pillar_means"]["insights"] > plain["pillar_means"]["insights"] + 1


def test_a_calibration_naming_an_unknown_column_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("extends: linkedin\nbehaviour:\n  tiktok_posts: {kind: count}\n")
    with pytest.raises(ValueError, match="tiktok_posts"):
        load_calibration(str(broken))


# -- contract validity and faults ------------------------------------------------------------------

def test_rows_are_typed_contract_rows(linkedin: pd.DataFrame) -> None:
    assert list(linkedin.columns[: len(CONTRACT.names)]) == CONTRACT.names
    for col in CONTRACT.columns:
        assert linkedin[col.name].dtype == col.pandas_dtype(), col.name
    assert linkedin["member_id"].map(lambda m: bool(re.fullmatch(r"sim-\d{6}", m))).all()
    assert linkedin["member_id"].is_unique
    assert (linkedin["source"] == "simulated").all()
    assert linkedin["industry_rank_top_pct"].dropna().between(1, 100).all()
    assert linkedin["network_rank_top_pct"].isna().all()


def test_fault_free_rows_satisfy_every_contract_rule(linkedin: pd.DataFrame,
                                                     coaching: pd.DataFrame) -> None:
    for df in (linkedin, coaching):
        broken = contract_violations(_clean(df))
        assert not broken.any(), _clean(df).loc[broken].head()


def test_typing_faults_are_rare_and_each_breaks_a_rule(linkedin: pd.DataFrame) -> None:
    faults = linkedin[FAULT_COLUMN]
    assert 0.01 <= faults.mean() <= 0.02
    assert contract_violations(linkedin.loc[faults]).all()


def test_labels_stay_in_range_except_faults(linkedin: pd.DataFrame) -> None:
    df = _clean(linkedin)
    assert df[list(PILLAR_LABELS.values())].astype(float).stack().between(0, 25).all()
    assert df[TOTAL_LABEL].astype(float).between(0, 100).all()
    assert (df[TOTAL_LABEL].astype(float) % 1 == 0).all()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), calibration=st.sampled_from(["linkedin", "coaching-guide"]))
def test_any_seed_gives_labels_in_range_and_valid_clean_rows(seed: int, calibration: str) -> None:
    df = simulate_cohort(150, seed=seed, calibration=calibration, with_truth=True)
    clean = _clean(df)
    assert clean[list(PILLAR_LABELS.values())].astype(float).stack().between(0, 25).all()
    assert clean[TOTAL_LABEL].astype(float).between(0, 100).all()
    assert not contract_violations(clean).any()
    assert contract_violations(df.loc[df[FAULT_COLUMN]]).all()


def test_unknown_cells_as_a_questionnaire_leaves_them(linkedin: pd.DataFrame) -> None:
    for col in ("profile_views_received_90d", "has_photo", "custom_url"):
        assert 0.05 <= linkedin[col].isna().mean() <= 0.4, col
    assert linkedin[CONTRACT.required].notna().all().all()
    assert linkedin[["industry", "role_family", "seniority", "region", "subscription"]
                    ].notna().all().all()
    assert linkedin[LABELS].notna().all().all()


# -- behaviour -------------------------------------------------------------------------------------

def test_behaviour_is_heavy_tailed_and_subscription_bound(linkedin: pd.DataFrame) -> None:
    posts = linkedin["posts_90d"].dropna().astype(float)
    assert (posts == 0).mean() > 0.5 and posts.quantile(0.99) >= 10
    free = linkedin["subscription"] == "free"
    for col in ("leads_saved_90d", "accounts_saved_90d", "inmails_sent_90d"):
        assert (linkedin.loc[free, col].dropna() == 0).all(), col
    navigator = linkedin["subscription"] == "sales_navigator"
    assert (linkedin.loc[navigator, "leads_saved_90d"].dropna() > 0).mean() > 0.5
    recruiter = linkedin["role_family"] == "recruiting"
    inmails = linkedin["inmails_sent_90d"].astype(float)
    assert inmails[recruiter].mean() > 3 * inmails[~recruiter].mean()


def test_behaviour_is_correlated_through_traits(linkedin: pd.DataFrame) -> None:
    logs = np.log1p(linkedin[["posts_90d", "comments_given_90d", "days_active_90d",
                              "searches_90d", "connections_count"]].astype(float))
    corr = logs.corr()
    assert corr.loc["posts_90d", "comments_given_90d"] > 0.3
    assert corr.loc["days_active_90d", "searches_90d"] > 0.3


# -- the truth -------------------------------------------------------------------------------------

def test_best_medians_are_close_to_the_truth(linkedin: pd.DataFrame) -> None:
    for p in PILLARS:
        gap = linkedin[f"best_{PILLAR_LABELS[p]}"] - linkedin[f"true_{p}"]
        assert abs(gap.mean()) < 0.1 and gap.abs().mean() < 0.2, p
    true_total = linkedin[TRUE_COLUMNS].sum(axis=1)
    assert (linkedin[f"best_{TOTAL_LABEL}"] - true_total).abs().mean() < 0.6


def test_features_explain_most_of_each_pillar(linkedin: pd.DataFrame) -> None:
    """Hidden factors stay moderate, so a good model can get near the noise floor."""
    df = _clean(linkedin)
    for p in PILLARS:
        reported = df[PILLAR_LABELS[p]].astype(float)
        residual = reported - df[f"true_{p}"]
        assert 0.3 <= residual.std() <= 1.7, p
        assert np.corrcoef(reported, df[f"true_{p}"])[0, 1] ** 2 > 0.85, p
        floor = (reported - df[f"best_{PILLAR_LABELS[p]}"]).abs().mean()
        assert floor < 1.3, p


def test_truth_is_the_structural_function_of_full_rows(linkedin: pd.DataFrame) -> None:
    inputs = CONTRACT.behaviour_columns
    complete = _clean(linkedin).loc[lambda d: d[inputs].notna().all(axis=1)]
    assert len(complete) > 2_000
    again = structural_pillars(complete)
    for p in PILLARS:
        np.testing.assert_allclose(again[p], complete[f"true_{p}"], atol=1e-9)


# -- the structural function ---------------------------------------------------------------------

def _value(col: str, known: bool) -> st.SearchStrategy[object]:
    c = CONTRACT[col]
    if c.kind == "bool":
        values: st.SearchStrategy[object] = st.booleans()
    else:
        lo = int(c.numeric_bound("min") or 0)
        hi = int(c.numeric_bound("max") or 100_000)
        values = st.one_of(st.integers(lo, min(hi, lo + 60)), st.integers(lo, hi))
    return values if known else st.one_of(st.none(), values)


def _row(known: bool) -> st.SearchStrategy[dict[str, object]]:
    return st.fixed_dictionaries({c: _value(c, known) for c in CONTRACT.behaviour_columns})


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """Valid contract rows (behaviour columns): children capped at their known parents."""
    for row in rows:
        for child, parent in PARENT.items():
            if child in row and row[child] is not None and row[parent] is not None:
                row[child] = min(int(row[child]), int(row[parent]))  # type: ignore[call-overload]
    return pd.DataFrame({
        c: pd.array([r[c] for r in rows], dtype=CONTRACT[c].pandas_dtype())
        for c in CONTRACT.behaviour_columns
    })


def contract_rows(known: bool = False) -> st.SearchStrategy[pd.DataFrame]:
    """A batch of valid contract rows drawn from CONTRACT's ranges, with unknown cells."""
    return st.lists(_row(known), min_size=1, max_size=8).map(_frame)


@settings(max_examples=40, deadline=None)
@given(rows=contract_rows(), calibration=st.sampled_from(["linkedin", "coaching-guide"]))
def test_structural_pillars_stay_between_0_and_25(rows: pd.DataFrame, calibration: str) -> None:
    pillars = structural_pillars(rows, calibration)
    assert list(pillars.columns) == list(PILLARS)
    assert pillars.index.equals(rows.index)
    assert pillars.notna().all().all()
    assert ((pillars >= 0) & (pillars <= 25)).all().all()


@settings(max_examples=60, deadline=None)
@given(rows=contract_rows(), column=st.sampled_from(GOOD_BEHAVIOUR),
       steps=st.lists(st.integers(1, 5_000), min_size=8, max_size=8))
def test_more_good_behaviour_never_lowers_a_pillar(rows: pd.DataFrame, column: str,
                                                   steps: list[int]) -> None:
    col = CONTRACT[column]
    # start from known values: an unknown cell stands for a typical value, not for the minimum
    start = False if col.kind == "bool" else col.numeric_bound("min")
    rows[column] = rows[column].fillna(start)
    raised = rows.copy()
    if col.kind == "bool":
        raised[column] = True
    else:
        new = rows[column].astype(float) + np.array(steps[: len(rows)])
        new = new.clip(upper=col.numeric_bound("max"))
        parent = PARENT.get(column)
        if parent is not None:  # stay a valid row: accepted <= sent, ...
            new = new.where(rows[parent].isna(), np.minimum(new, rows[parent].astype(float)))
        raised[column] = pd.array(np.maximum(new, rows[column].astype(float)), dtype="Int64")
    gain = structural_pillars(raised) - structural_pillars(rows)
    assert (gain.to_numpy() >= -1e-9).all(), gain


@settings(max_examples=25, deadline=None)
@given(rows=contract_rows(known=True),
       denominator=st.sampled_from(sorted(QUALITY_DENOMINATORS)), factor=st.integers(2, 20))
def test_more_requests_at_the_members_own_rate_never_lower_a_pillar(
        rows: pd.DataFrame, denominator: str, factor: int) -> None:
    numerator = QUALITY_DENOMINATORS[denominator]
    top = CONTRACT[denominator].numeric_bound("max")
    rows = rows.loc[rows[denominator].astype(float) * factor <= top].reset_index(drop=True)
    scaled = rows.assign(**{denominator: rows[denominator] * factor,
                            numerator: rows[numerator] * factor})
    gain = structural_pillars(scaled) - structural_pillars(rows)
    assert (gain.to_numpy() >= -1e-9).all(), gain


def test_every_good_behaviour_column_is_monotone_on_a_simulated_cohort() -> None:
    cohort = simulate_cohort(400, seed=21)
    for column in GOOD_BEHAVIOUR:
        col = CONTRACT[column]
        rows = cohort.assign(**{column: cohort[column].fillna(
            False if col.kind == "bool" else col.numeric_bound("min"))})
        before = structural_pillars(rows)
        for step in (1, 10, 1_000):
            raised = rows.copy()
            if col.kind == "bool":
                raised[column] = True
            else:
                new = (rows[column].astype(float) + step).clip(upper=col.numeric_bound("max"))
                parent = PARENT.get(column)
                if parent is not None:
                    new = new.where(rows[parent].isna(),
                                    np.minimum(new, rows[parent].astype(float)))
                raised[column] = pd.array(np.maximum(new, rows[column].astype(float)),
                                          dtype="Int64")
            gain = structural_pillars(raised) - before
            assert (gain.to_numpy() >= -1e-9).all(), (column, step)


def test_quality_matters_unanswered_requests_lower_the_pillar() -> None:
    base = simulate_cohort(1, seed=4).assign(
        invitations_sent_90d=20, invitations_accepted_90d=15,
        inmails_sent_90d=10, inmails_replied_90d=6)
    spammy = base.assign(invitations_sent_90d=200, inmails_sent_90d=100)
    gain = structural_pillars(spammy) - structural_pillars(base)
    assert gain.loc[0, "relationships"] < 0
    assert gain.loc[0, "insights"] < 0


def test_a_lever_has_a_measurable_true_gain() -> None:
    before = simulate_cohort(200, seed=8)
    after = before.assign(posts_90d=before["posts_90d"].fillna(0) + 13)
    gain = structural_pillars(after) - structural_pillars(before)
    assert (gain["insights"] > 0).all()
    assert (gain[["brand", "people", "relationships"]].abs() < 1e-12).all().all()


def test_context_does_not_enter_the_formula() -> None:
    df = simulate_cohort(300, seed=9)
    shuffled = df.assign(**{c: df[c].sample(frac=1, random_state=1).to_numpy()
                            for c in ("industry", "role_family", "region", "seniority",
                                      "subscription", "account_age_months")})
    pd.testing.assert_frame_equal(structural_pillars(df), structural_pillars(shuffled))


def test_unknown_cells_are_imputed_and_absent_columns_allowed() -> None:
    empty = structural_pillars(pd.DataFrame(index=[3, 4]))
    assert list(empty.index) == [3, 4]
    assert empty.notna().all().all() and ((empty >= 0) & (empty <= 25)).all().all()
    assert structural_pillars(CONTRACT.empty_frame()).empty


def test_relationships_near_saturated_and_insights_near_zero_for_ordinary_members(
        linkedin: pd.DataFrame) -> None:
    ordinary = linkedin["connections_count"].astype(float).between(300, 700)
    assert linkedin.loc[ordinary, "true_relationships"].median() > 12
    assert linkedin["true_insights"].median() < 1.5
