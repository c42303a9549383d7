"""Drivers, levers and plans: gains come from the model, plans are re-scored jointly."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ssi_model.batch import ProfileBatch
from ssi_model.cli import app
from ssi_model.contract import CONTRACT, PILLARS
from ssi_model.explain import Explanation, explain_rows, load_catalogue, translate
from ssi_model.explain.catalogue import CatalogueError, apply_lever, parse_catalogue
from ssi_model.explain.evaluate import evaluate_levers, stability
from ssi_model.model.estimator import SSIEstimator
from ssi_model.simulator import simulate_cohort
from ssi_model.validation import validate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def estimator(fitted_estimator: SSIEstimator) -> SSIEstimator:
    return fitted_estimator  # in memory (conftest): explaining needs a model, not a store


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return validate(simulate_cohort(60, 31)).clean


@pytest.fixture(scope="module")
def docs(estimator: SSIEstimator, rows: pd.DataFrame) -> list[Explanation]:
    return explain_rows(estimator, rows, target=45)


# -- the catalogue -------------------------------------------------------------------------------

def test_catalogue_covers_every_pillar_in_three_languages() -> None:
    catalogue = load_catalogue()
    assert len(catalogue.levers) >= 20
    for pillar in PILLARS:
        assert sum(lv.pillar == pillar for lv in catalogue.levers) >= 3, pillar
    for lever in catalogue.levers:
        assert set(lever.text) >= {"en", "nl", "de"}
        assert all(c in CONTRACT.behaviour_columns for c in lever.columns)
        assert lever.effort_minutes > 0
    assert {t.pillar for t in catalogue.tips} <= set(PILLARS) and catalogue.tips


def test_the_catalogue_refuses_a_lever_that_changes_context() -> None:
    spec = {"version": 1, "window_weeks": 13, "default_budget_minutes": 60,
            "plan_candidates": 5, "caveat": {"en": "x", "nl": "x", "de": "x"},
            "levers": [{"id": "be_senior", "pillars": ["brand"], "one_off": True,
                        "effort_minutes": 1, "text": {"en": "x", "nl": "x", "de": "x"},
                        "changes": [{"column": "seniority", "op": "set", "value": 1}]}]}
    with pytest.raises(CatalogueError, match="seniority is context"):
        parse_catalogue(spec)


def _one(**values: object) -> ProfileBatch:
    base = {"member_id": "m", "snapshot_date": "2026-09-30", "subscription": "free"}
    frame = CONTRACT.to_typed(pd.DataFrame([{**base, **values}]))
    return ProfileBatch.from_frame(frame)


def test_apply_lever_rules() -> None:
    catalogue = load_catalogue()
    table = _one(posts_90d=35)
    assert apply_lever(catalogue["post_weekly"], table)[0]
    assert table["posts_90d"][0] == 40  # +13, but no more than the lever's ceiling of 40
    table = _one(posts_90d=45)
    assert not apply_lever(catalogue["post_weekly"], table)[0]  # already past the ceiling
    table = _one()
    assert not apply_lever(catalogue["post_weekly"], table)[0]  # unknown: gain not estimable

    table = _one(invitations_sent_90d=10, invitations_accepted_90d=5, connections_count=300)
    assert apply_lever(catalogue["invite_weekly"], table)[0]
    assert table["invitations_sent_90d"][0] == 49
    assert table["invitations_accepted_90d"][0] == 5 + 19  # 39 more at the member's 50 %
    assert table["connections_count"][0] == 300 + 19

    table = _one(messages_received_90d=12, messages_replied_90d=4)
    assert apply_lever(catalogue["answer_messages"], table)[0]
    assert table["messages_replied_90d"][0] == 12

    table = _one(leads_saved_90d=0)
    assert not apply_lever(catalogue["save_leads"], table)[0]  # needs Sales Navigator
    table = _one(has_banner=True)
    assert not apply_lever(catalogue["add_banner"], table)[0]  # already done


# -- explanations --------------------------------------------------------------------------------

def test_every_listed_gain_is_the_models_rescore(estimator: SSIEstimator, rows: pd.DataFrame,
                                                 docs: list[Explanation]) -> None:
    checked = 0
    for i, doc in enumerate(docs[:20]):
        before = estimator.predict_pillars(rows.iloc[[i]])[0]
        for lever in doc.levers:
            changed = rows.iloc[[i]].copy()
            for column, value in lever.changes.items():
                changed[column] = pd.array([value], dtype=CONTRACT[column].pandas_dtype())
            after = estimator.predict_pillars(changed)[0]
            gain = after - before
            assert [getattr(lever.gain, p) for p in PILLARS] == pytest.approx(gain, abs=0.006)
            assert lever.gain.total == pytest.approx(gain.sum(), abs=0.006)
            checked += 1
    assert checked > 50


def test_records_and_single_members_get_the_batch_documents(
        estimator: SSIEstimator, rows: pd.DataFrame, docs: list[Explanation]) -> None:
    records = CONTRACT.to_records(rows.head(8))  # as the API hands profiles over
    assert explain_rows(estimator, records, target=45) == docs[:8]
    for i in (0, 5):
        (alone,) = explain_rows(estimator, records[i:i + 1], target=45)
        assert alone == docs[i]
    predicted = estimator.predict(rows.head(8)).to_frame()
    for doc, (_, expected) in zip(docs, predicted.iterrows(), strict=False):
        assert doc.prediction.ssi_total == expected["ssi_total"]
        assert doc.prediction.industry_top_pct == expected["industry_top_pct"]



def test_explanations_on_many_threads_at_once_are_the_sequential_ones(
        estimator: SSIEstimator, rows: pd.DataFrame, docs: list[Explanation],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The API explains on its event loop and in its thread pool at once, each explanation
    computing its SHAP values on a second thread, and the peer profiles' remembered SHAP values
    are shared by every caller. A memory of two rows is cleared by most calls, so callers clear
    it under each other's feet while LightGBM computes (it releases the GIL)."""
    import ssi_model.model.estimator as estimator_module

    monkeypatch.setattr(estimator_module, "PEER_CACHE_ROWS", 2)
    records = CONTRACT.to_records(rows.head(12))
    with ThreadPoolExecutor(max_workers=4) as pool:
        alone = list(pool.map(lambda i: explain_rows(estimator, records[i:i + 1], target=45)[0],
                              [i % 12 for i in range(48)]))
    assert alone == [docs[i % 12] for i in range(48)]

    x = estimator.builder.features(ProfileBatch.from_records(records))
    expected = estimator.contribution_arrays(x)

    def shap_of(i: int) -> dict[str, np.ndarray]:
        k = i % 12  # member k with member k + 1's row as its "peer": 12 rows, 2 remembered
        return estimator.member_contribution_arrays(x[k:k + 1], x[(k + 1) % 12:(k + 1) % 12 + 1])

    with ThreadPoolExecutor(max_workers=4) as pool:
        for i, got in enumerate(pool.map(shap_of, range(1500))):
            k = i % 12
            for p in PILLARS:
                np.testing.assert_array_equal(got[p], expected[p][[k, (k + 1) % 12]])


def test_levers_never_touch_context_and_stay_in_the_contract(docs: list[Explanation],
                                                             rows: pd.DataFrame) -> None:
    for i, doc in enumerate(docs):
        for lever in doc.levers:
            assert lever.gain.total > 0
            for column, value in lever.changes.items():
                col = CONTRACT[column]
                assert column in CONTRACT.behaviour_columns
                lo, hi = col.numeric_bound("min"), col.numeric_bound("max")
                assert (lo is None or float(value) >= lo) and (hi is None or float(value) <= hi)
            changed = rows.iloc[i].copy()
            for column, value in lever.changes.items():
                changed[column] = value
            for column, _, other in CONTRACT.cross_rules():
                if not (pd.isna(changed[column]) or pd.isna(changed[other])):
                    assert float(changed[column]) <= float(changed[other])


def test_the_plan_is_rescored_jointly_and_respects_the_budget(
        estimator: SSIEstimator, rows: pd.DataFrame, docs: list[Explanation]) -> None:
    catalogue = load_catalogue()
    for i, doc in enumerate(docs):
        if doc.plan is None:
            continue
        assert 1 <= len(doc.plan.levers) <= 3
        assert doc.plan.effort_minutes_per_week <= catalogue.default_budget_minutes
        changed = rows.iloc[[i]].copy()
        for column, value in doc.plan.changes.items():
            changed[column] = pd.array([value], dtype=CONTRACT[column].pandas_dtype())
        joint = estimator.predict_pillars(changed)[0] - estimator.predict_pillars(
            rows.iloc[[i]])[0]
        assert doc.plan.gain.total == pytest.approx(joint.sum(), abs=0.01)
        assert doc.plan.total_after == pytest.approx(doc.prediction.ssi_total + joint.sum(),
                                                     abs=0.02)
        singles = {lv.id: lv.gain.total for lv in doc.levers}
        assert doc.plan.gain.total >= max(singles[k] for k in doc.plan.levers) - 1e-6


def test_a_tight_budget_gives_a_cheaper_plan(estimator: SSIEstimator,
                                             rows: pd.DataFrame) -> None:
    tight = explain_rows(estimator, rows.head(10), budget_minutes=20)
    for doc in tight:
        assert doc.plan is None or doc.plan.effort_minutes_per_week <= 20
        assert doc.plan is None or doc.plan.budget_minutes == 20


def test_target_plans(docs: list[Explanation]) -> None:
    seen = set()
    for doc in docs:
        assert doc.target is not None and doc.target.target == 45
        if doc.target.reachable and doc.target.plan is not None:
            assert doc.target.plan.total_after >= 45
            seen.add("reachable")
        elif not doc.target.reachable:
            assert doc.target.best_total < 45
            seen.add("unreachable")
    assert seen == {"reachable", "unreachable"}


def test_drivers_compare_with_peers(docs: list[Explanation]) -> None:
    some = 0
    for doc in docs:
        assert set(doc.drivers) == set(PILLARS)
        for pillar, d in doc.drivers.items():
            assert all(x.contribution > 0 for x in d.up)
            assert all(x.contribution < 0 for x in d.down)
            for x in d.up + d.down:
                assert x.column in CONTRACT.pillar_inputs(pillar) or x.column in \
                    CONTRACT.behaviour_columns
                assert x.value != x.peer_median
                some += 1
    assert some > 0


def test_unknown_facts_are_listed_and_not_levered(estimator: SSIEstimator,
                                                  rows: pd.DataFrame) -> None:
    sparse = rows.head(1).copy()
    sparse["posts_90d"] = pd.array([pd.NA], dtype="Int64")
    doc = explain_rows(estimator, sparse)[0]
    assert "posts_90d" in doc.unknown
    assert all("posts_90d" not in lv.changes for lv in doc.levers)


def test_texts_follow_the_language(estimator: SSIEstimator, rows: pd.DataFrame) -> None:
    catalogue = load_catalogue()
    doc = explain_rows(estimator, rows.head(1), lang="de")[0]
    assert doc.lang == "de" and doc.caveat == catalogue.caveat["de"]
    assert all(lv.text == catalogue[lv.id].text["de"] for lv in doc.levers)


def test_translate_rewords_a_document_and_keeps_its_numbers(estimator: SSIEstimator,
                                                             rows: pd.DataFrame) -> None:
    catalogue = load_catalogue()
    english = explain_rows(estimator, rows.head(3), target=45)
    german = explain_rows(estimator, rows.head(3), target=45, lang="de")
    # Translating an English document gives what explaining in German gives, number for number.
    assert [translate(d, "de", catalogue) for d in english] == german
    assert translate(english[0], "en", catalogue) is english[0]


def test_lever_quality_against_the_simulators_truth(estimator: SSIEstimator) -> None:
    # Small model and cohort: looser than the quality bars measured in `ssi evaluate-levers`.
    quality = evaluate_levers(estimator, members=80)
    assert quality.members == 80
    assert quality.constraint_violations == 0
    assert quality.validity >= 0.9
    assert quality.faithfulness_spearman_median >= 0.5


def test_stability_counts_agreement_of_top_three(docs: list[Explanation]) -> None:
    assert stability(docs, docs) == 1.0
    reversed_docs = [d.model_copy(update={"levers": [
        lv.model_copy(update={"gain": lv.gain.model_copy(update={
            p: -getattr(lv.gain, p) for p in PILLARS})}) for lv in d.levers]}) for d in docs]
    assert stability(docs, reversed_docs) < 1.0


def test_explain_cli_writes_schema_valid_json(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "explanations.json"
    done = CliRunner().invoke(app, [
        "explain", str(ROOT / "data/raw/samples/members.csv"), "--out", str(out), "--model",
        f"models:/ssi-estimator/{trained.model_version}", "--budget-minutes", "60",
        "--target", "70", "--lang", "nl"])
    assert done.exit_code == 0, done.output
    documents = [Explanation.model_validate(d) for d in json.loads(out.read_text())]
    assert len(documents) == 13
    assert all(d.model.version == str(trained.model_version) for d in documents)
    assert all(d.lang == "nl" for d in documents)
    assert all(d.plan is None or d.plan.effort_minutes_per_week <= 60 for d in documents)
