"""Member history: what changed between snapshots (exactly additive), charts and trends in the
reports in three languages, the demo's simulated waves, and ``ssi report --from-store``."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.test_report import _english_patterns, visible_text
from typer.testing import CliRunner

from ssi_model.batch import ProfileBatch
from ssi_model.cli import app
from ssi_model.contract import CONTRACT, PILLARS
from ssi_model.explain import explain_rows
from ssi_model.explain.catalogue import load_catalogue
from ssi_model.explain.change import EXACT_MAX, explain_change
from ssi_model.model.config import load_config
from ssi_model.model.estimator import SSIEstimator
from ssi_model.model.train import fit_estimator
from ssi_model.report import member_history, render_cohort, render_member, write_reports
from ssi_model.report.history import change_sentence
from ssi_model.report.i18n import texts
from ssi_model.simulator import simulate_cohort
from ssi_model.simulator.waves import history_waves
from ssi_model.store.repository import row_documents
from ssi_model.tracking.runs import PYFUNC_CODE
from ssi_model.validation import validate

ROOT = Path(__file__).resolve().parents[1]
DAY = date(2026, 12, 1)
BEHAVIOUR = CONTRACT.behaviour_columns


@pytest.fixture(scope="module")
def estimator() -> SSIEstimator:
    """A tiny in-process model: enough trees to have interactions, trained in about a second."""
    config = load_config(ROOT / "experiments" / "default.yaml")
    config = config.model_copy(update={"model": config.model.model_copy(
        update={"cv_folds": 2, "num_boost_round": 60})})
    rows = validate(simulate_cohort(1200, 5)).clean
    return fit_estimator(rows, config).estimator


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return row_documents(validate(simulate_cohort(40, 17)).clean)


@dataclass(frozen=True)
class Snap:
    snapshot_date: date
    row: dict[str, Any]


def _later(row: dict[str, Any], when: str, **changes: Any) -> dict[str, Any]:
    new = {**row, "snapshot_date": when, **changes}
    return {k: v for k, v in new.items() if v is not None}


# -- what changed: additivity --------------------------------------------------------------------
def _check_additive(estimator: SSIEstimator, before: dict[str, Any], after: dict[str, Any],
                    expected_changed: set[str]) -> None:
    change = explain_change(estimator, before, after)
    assert {c.column for c in change.columns} == expected_changed
    predicted = estimator.predict_matrix(estimator.builder.features(
        ProfileBatch.concat([_table(before), _table(after)])))
    for j, pillar in enumerate(PILLARS):
        pc = change.pillars[pillar]  # type: ignore[index]
        # the model's own (clipped) predictions, not a surrogate
        assert pc.before == pytest.approx(predicted[0, j], abs=1e-12)
        assert pc.after == pytest.approx(predicted[1, j], abs=1e-12)
        parts = sum(c.pillars[pillar] for c in change.columns)  # type: ignore[index]
        assert abs(parts - pc.change) < 1e-9, (pillar, parts, pc.change)
    assert abs(sum(pc.change for pc in change.pillars.values()) - change.total_change) < 1e-9
    assert abs(sum(c.total for c in change.columns) - change.total_change) < 1e-9
    for c in change.columns:
        assert abs(sum(c.pillars.values()) - c.total) < 1e-9
    # a column that did not change gets nothing
    for column in BEHAVIOUR:
        if column not in expected_changed:
            assert change.contribution(column) == 0.0


def _table(row: dict[str, Any]) -> ProfileBatch:
    return ProfileBatch.from_records([row])


_CHANGEABLE = [c for c in BEHAVIOUR if CONTRACT[c].kind in ("int", "float")]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_contributions_add_up_exactly(estimator: SSIEstimator, rows: list[dict[str, Any]],
                                      data: st.DataObject) -> None:
    before = data.draw(st.sampled_from(rows))
    # up to 14 columns: both the exact (≤ EXACT_MAX) and the sampled path
    columns = data.draw(st.lists(st.sampled_from(_CHANGEABLE), min_size=0, max_size=14,
                                 unique=True))
    changes: dict[str, Any] = {}
    for column in columns:
        hi = min(CONTRACT[column].numeric_bound("max") or 500.0, 500.0)
        value = data.draw(st.one_of(st.none(), st.integers(0, int(hi))))
        changes[column] = None if value is None else float(value)
    after = _later(before, "2026-11-11", **changes)
    after = {k: v for k, v in after.items() if not (k in changes and changes[k] is None)}
    expected = {c for c in columns
                if _differs(before.get(c), None if changes[c] is None else changes[c])}
    _check_additive(estimator, before, after, expected)


def _differs(a: Any, b: Any) -> bool:
    if a is None and b is None:
        return False
    if a is None or b is None:
        return True
    return not math.isclose(float(a), float(b))


def test_many_changed_columns_use_sampled_orders_and_stay_additive(
        estimator: SSIEstimator, rows: list[dict[str, Any]]) -> None:
    before, other = rows[0], rows[1]
    after = {**other, "member_id": before["member_id"]}
    change = explain_change(estimator, before, after)
    assert len(change.columns) > EXACT_MAX and change.method == "sampled_shapley"
    _check_additive(estimator, before, after, {c.column for c in change.columns})
    assert explain_change(estimator, before, after) == change  # fixed seed: reproducible


def test_only_posts_changed_so_posts_get_all_of_the_insights_change(
        estimator: SSIEstimator, rows: list[dict[str, Any]]) -> None:
    before = next(r for r in rows if r.get("posts_90d") is not None and r["posts_90d"] < 5)
    after = _later(before, "2026-11-11", posts_90d=before["posts_90d"] + 25)
    change = explain_change(estimator, before, after)
    assert change.method == "exact_shapley"
    assert [c.column for c in change.columns] == ["posts_90d"]
    insights = change.pillars["insights"]
    assert insights.change > 0.1  # the tiny model does react to posting
    assert change.contribution("posts_90d", "insights") == insights.change
    assert change.contribution("posts_90d") == change.total_change
    assert change.contribution("comments_given_90d") == 0.0


def test_nothing_changed_means_no_change(estimator: SSIEstimator,
                                         rows: list[dict[str, Any]]) -> None:
    change = explain_change(estimator, rows[2], _later(rows[2], "2026-11-11"))
    assert change.method == "none" and change.columns == [] and change.total_change == 0.0


# -- the pages -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def history_pages(estimator: SSIEstimator, rows: list[dict[str, Any]]) -> dict[str, Any]:
    first = rows[3]
    posts = float(first.get("posts_90d") or 0)
    second = _later(first, "2026-08-19", posts_90d=posts + 2)
    third = _later(second, "2026-09-30", posts_90d=posts + 30,
                   connections_count=float(first.get("connections_count") or 100) + 150,
                   ssi_total=float(first["ssi_total"]) + 6)
    snaps = [Snap(date(2026, 7, 8), first), Snap(date(2026, 8, 19), second),
             Snap(date(2026, 9, 30), third)]
    history = member_history(estimator, list(reversed(snaps)))  # order does not matter
    docs = {lang: explain_rows(estimator, [third], lang=lang)[0] for lang in ("en", "nl", "de")}
    return {"history": history, "docs": docs,
            "pages": {lang: render_member(doc, generated_on=DAY, history=history)
                      for lang, doc in docs.items()}}


def test_history_scores_every_snapshot_oldest_first(history_pages: dict[str, Any]) -> None:
    history = history_pages["history"]
    assert [p.snapshot_date for p in history.points] == [
        date(2026, 7, 8), date(2026, 8, 19), date(2026, 9, 30)]
    assert history.change is not None and history.change.before_date == "2026-08-19"
    assert {c.column for c in history.change.columns} == {"posts_90d", "connections_count"}
    doc = history_pages["docs"]["en"]
    assert history.points[-1].estimated["total"] == pytest.approx(doc.prediction.ssi_total,
                                                                   abs=0.011)
    first_total = history.points[0].reported["total"]
    assert history.points[-1].reported["total"] == first_total + 6


@pytest.mark.parametrize(("lang", "heading", "posts"), [
    ("en", "Your SSI over time", "Posts (90 days)"),
    ("nl", "Je SSI in de loop van de tijd", "Posts (90 dagen)"),
    ("de", "Ihr SSI im Zeitverlauf", "Beiträge (90 Tage)"),
])
def test_member_page_shows_the_chart_and_what_changed(history_pages: dict[str, Any], lang: str,
                                                      heading: str, posts: str) -> None:
    html = history_pages["pages"][lang]
    text = " ".join(visible_text(html))
    assert heading in text
    assert html.count('<figure class="hchart') == 5  # the total and the four pillars
    assert html.count('<circle class="rep"') >= 3  # reported totals, one per snapshot
    assert '<path class="est" d="M' in html and '<polygon class="band"' in html
    assert posts in text and "→" in text
    change = history_pages["history"].change
    rose = {"en": "rose by", "nl": "gestegen", "de": "gestiegen"}
    fell = {"en": "fell by", "nl": "gedaald", "de": "gesunken"}
    assert (rose if change.total_change > 0 else fell)[lang] in text
    reported = {"en": "The SSI you reported went from", "nl": "De SSI die je opgaf",
                "de": "Der von Ihnen angegebene SSI"}
    assert reported[lang] in text
    assert "http" not in html.replace("http-equiv", "")  # nothing outside the page


@pytest.mark.parametrize("lang", ["nl", "de"])
def test_no_english_left_on_history_pages(history_pages: dict[str, Any], lang: str,
                                          estimator: SSIEstimator) -> None:
    patterns = _english_patterns(lang)
    doc = history_pages["docs"][lang]
    data_values = {doc.member_id, doc.model.name} | {lv.text for lv in doc.levers} | {
        tip.text for tip in doc.tips}
    pages = [history_pages["pages"][lang],
             render_cohort([doc], member_links={}, lang=lang,
                           histories={doc.member_id: history_pages["history"]})]
    for html in pages:
        for node in visible_text(html):
            for value in sorted(data_values, key=len, reverse=True):
                node = node.replace(value, " ")
            for english, pattern in patterns:
                assert not pattern.search(node), f"English {english!r} on a {lang} page: {node!r}"


def test_a_single_snapshot_has_a_chart_but_no_change(estimator: SSIEstimator,
                                                     rows: list[dict[str, Any]]) -> None:
    history = member_history(estimator, [Snap(date(2026, 9, 30), rows[4])])
    assert history.change is None
    doc = explain_rows(estimator, [rows[4]])[0]
    text = " ".join(visible_text(render_member(doc, history=history)))
    assert "One snapshot so far: what changed appears after the next one." in text
    assert "What changed since the last snapshot" not in text


def test_pages_without_history_are_unchanged(history_pages: dict[str, Any]) -> None:
    doc = history_pages["docs"]["en"]
    html = render_member(doc, generated_on=DAY)
    assert "<figure class=\"hchart" not in html and "Your SSI over time" not in html
    assert 'class="spark"' not in render_cohort([doc], member_links={})


def test_cohort_page_shows_each_clients_trend(history_pages: dict[str, Any]) -> None:
    doc = history_pages["docs"]["en"]
    history = history_pages["history"]
    html = render_cohort([doc], member_links={}, histories={doc.member_id: history})
    change = history.points[-1].estimated["total"] - history.points[-2].estimated["total"]
    assert "Trend" in html and '<svg class="spark"' in html
    assert f'data-value="{round(change, 3)}"' in html


# -- the demo's waves ----------------------------------------------------------------------------
def test_history_waves_are_valid_rows_six_weeks_apart() -> None:
    frame = history_waves(60, 3, waves=3)
    dates = sorted(frame["snapshot_date"].dt.date.unique())
    assert dates == [date(2026, 7, 8), date(2026, 8, 19), date(2026, 9, 30)]
    assert set(frame.columns) == set(CONTRACT.names)
    result = validate(frame)
    assert result.n_quarantined <= 0.03 * len(frame)  # the injected typing faults only
    per_member = result.clean.groupby("member_id").size()
    assert (per_member == 3).mean() > 0.9
    # members move: posting and connections change, and so do the reported labels
    first = result.clean[result.clean["snapshot_date"].dt.date == dates[0]].set_index("member_id")
    last = result.clean[result.clean["snapshot_date"].dt.date == dates[-1]].set_index("member_id")
    both = first.index.intersection(last.index)
    def values(frame: Any, column: str) -> np.ndarray:
        return np.asarray(frame.loc[both, column].astype("Float64").to_numpy(
            dtype=float, na_value=np.nan))

    assert np.mean(values(first, "posts_90d") != values(last, "posts_90d")) > 0.3
    assert np.mean(values(first, "ssi_total") != values(last, "ssi_total")) > 0.5
    before, after = values(first, "connections_count"), values(last, "connections_count")
    known = ~np.isnan(before)
    assert (np.isnan(after) == ~known).all()  # unknown stays unknown
    assert (after[known] >= before[known]).all()


def test_later_waves_carry_typing_faults_like_the_first() -> None:
    """Every wave is typed by members: about the calibration's 1.5 % of later rows break a
    contract rule too, of each kind; the member goes on from what they really had."""
    frame = history_waves(600, 3, waves=3)
    result = validate(frame)
    first = date(2026, 7, 8)
    quarantined = result.quarantine
    later = quarantined[pd.to_datetime(quarantined["snapshot_date"]).dt.date != first]
    n_later = int((frame["snapshot_date"].dt.date != first).sum())
    assert 0.005 * n_later <= len(later) <= 0.03 * n_later
    reasons = " ".join(later["reason"])
    for column in ("ssi_total", "invitations_accepted_90d", "snapshot_date"):
        assert column in reasons, column
    # A member whose middle snapshot was mistyped still has a valid last one.
    middle = later[pd.to_datetime(later["snapshot_date"]).dt.date == date(2026, 8, 19)]
    last = result.clean[result.clean["snapshot_date"].dt.date == date(2026, 9, 30)]
    assert set(middle["member_id"]) and set(middle["member_id"]) <= set(last["member_id"])


# -- ssi report --from-store ---------------------------------------------------------------------
@pytest.fixture()
def pyfunc_model(estimator: SSIEstimator, tmp_path: Path) -> str:
    """The tiny model saved as the project's pyfunc (what ``ssi report`` loads)."""
    estimator.save(tmp_path / "estimator")
    # Requirements given, so MLflow does not spend 20 s inferring them from the environment.
    mlflow.pyfunc.save_model(path=str(tmp_path / "model"), python_model=str(PYFUNC_CODE),
                             artifacts={"estimator": str(tmp_path / "estimator")},
                             pip_requirements=["lightgbm"])
    return str(tmp_path / "model")


@pytest.fixture()
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'ssi.db'}"
    monkeypatch.setenv("SSI_DATABASE_URL", url)
    yield url


def test_report_from_store_writes_pages_with_history(pyfunc_model: str, store_url: str,
                                                     tmp_path: Path) -> None:
    runner = CliRunner()
    waves = tmp_path / "waves.csv"
    result = runner.invoke(app, ["simulate", "--n", "8", "--seed", "2", "--waves", "3",
                                 "--out", str(waves)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["store", "import", str(waves), "--consent", "training"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["coach", "add", "coach-a"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "pages"
    result = runner.invoke(app, ["report", "--from-store", "--model", pyfunc_model,
                                 "--out", str(out), "--lang", "de"])
    assert result.exit_code == 0, result.output
    assert "pages with history (de)" in result.output
    pages = sorted(out.glob("sim-*.html"))
    assert len(pages) >= 7
    html = pages[0].read_text("utf-8")
    assert "Ihr SSI im Zeitverlauf" in html and "Was sich seit der vorigen Messung" in html
    assert '<svg class="spark"' in (out / "index.html").read_text("utf-8")
    # a coach without members gets a clear message, not an empty report
    result = runner.invoke(app, ["report", "--from-store", "--coach", "coach-a", "--model",
                                 pyfunc_model, "--out", str(tmp_path / "none")])
    assert result.exit_code == 2 and "no members" in result.output
    result = runner.invoke(app, ["report", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2


def test_write_reports_keeps_working_without_histories(history_pages: dict[str, Any],
                                                       tmp_path: Path) -> None:
    doc = history_pages["docs"]["en"]
    paths = write_reports([doc], tmp_path, generated_on=DAY)
    assert len(paths) == 2 and "<figure" not in paths[0].read_text("utf-8")


def test_categories_flags_and_unknown_cells_are_changes_too(estimator: SSIEstimator,
                                                            rows: list[dict[str, Any]]) -> None:
    before = next(r for r in rows if r.get("headline_chars") is not None
                  and r.get("role_family") != "recruiting")
    after = _later(before, "2026-11-11", role_family="recruiting",
                   has_banner=not before.get("has_banner", False))
    after.pop("headline_chars")  # now unknown
    _check_additive(estimator, before, after, {"role_family", "has_banner", "headline_chars"})
    change = explain_change(estimator, before, after)
    by_column = {c.column: c for c in change.columns}
    assert by_column["headline_chars"].after is None
    assert by_column["role_family"].after == "recruiting"
    nl = texts("nl")
    sentence = change_sentence(nl, by_column["headline_chars"], -0.62)
    assert sentence.startswith("Lengte van de kopregel (tekens): ")
    assert sentence.endswith("→ Onbekend; dat kostte 0,6 punten.")
    assert "→ Recruitment; dat leverde 0,3 punten op." in change_sentence(
        nl, by_column["role_family"], 0.3)
    assert change_sentence(nl, by_column["has_banner"], 0.01).endswith(", zonder zichtbaar effect.")


# -- the last plan and what happened -------------------------------------------------------------
def _followed_member(estimator: SSIEstimator, rows: list[dict[str, Any]],
                     url: str) -> dict[str, Any]:
    """A stored member: a snapshot, the plan issued for it, and a later snapshot that took the
    plan's first action only and reported 5 points more (brand +2, people +3)."""
    from ssi_model.explain.schema import ModelInfo
    from ssi_model.store import ADMIN, SnapshotStore
    from ssi_model.store.advice import issue_plans
    from ssi_model.store.explained import last_plan

    def usable(row: dict[str, Any], doc: Any) -> bool:
        if doc.plan is None or len(doc.plan.levers) < 2:
            return False
        columns = [set(lv.changes) for lv in doc.levers if lv.id in doc.plan.levers]
        reported = [row.get(c) for c in ("ssi_total", "ssi_brand", "ssi_people")]
        return (sum(len(c) for c in columns) == len(set().union(*columns))
                and None not in reported and reported[1] <= 23 and reported[2] <= 22)

    docs = explain_rows(estimator, rows)
    k = next(i for i, (row, doc) in enumerate(zip(rows, docs, strict=True)) if usable(row, doc))
    first = {**rows[k], "snapshot_date": "2026-08-19"}
    info = ModelInfo(name="ssi-estimator", version="3")
    with SnapshotStore(url) as store:
        assert store.add_snapshots([first], ADMIN).written
        (doc,) = issue_plans(store, estimator, info, ADMIN)
        member = doc.member_id
        # a plan for the latest snapshot is not a "last plan": nothing happened since
        assert last_plan(store, ADMIN, store.member_snapshots(member, ADMIN)) is None
        assert doc.plan is not None
        taken = doc.plan.levers[0]
        changes = next(lv.changes for lv in doc.levers if lv.id == taken)
        second = {**first, **changes, "snapshot_date": "2026-09-30",
                  "ssi_total": first["ssi_total"] + 5, "ssi_brand": first["ssi_brand"] + 2,
                  "ssi_people": first["ssi_people"] + 3}
        result = store.add_snapshots([second], ADMIN)
        assert result.written, result.summary()
        snaps = store.member_snapshots(member, ADMIN)
        plan = last_plan(store, ADMIN, snaps)
    return {"doc": doc, "taken": taken, "snaps": snaps, "plan": plan}


def test_the_report_shows_the_last_plan_and_what_happened(
        estimator: SSIEstimator, rows: list[dict[str, Any]], store_url: str,
        pyfunc_model: str, tmp_path: Path, browser: Any, screenshots: Path) -> None:
    followed = _followed_member(estimator, rows, store_url)
    doc, taken = followed["doc"], followed["taken"]
    assert followed["plan"] is not None and followed["plan"].model_version == "3"
    history = member_history(estimator, followed["snaps"], plan=followed["plan"])
    plan = history.plan
    assert plan is not None and plan.snapshot_date == date(2026, 8, 19)
    assert {a.lever: a.taken for a in plan.actions} == {
        lever: lever == taken for lever in doc.plan.levers}
    assert plan.predicted == pytest.approx(doc.plan.gain.model_dump())
    assert plan.reported == pytest.approx({"total": 5.0, "brand": 2.0, "people": 3.0,
                                           "insights": 0.0, "relationships": 0.0})
    now = history.points[-1].estimated["total"]
    assert plan.estimated_change["total"] == pytest.approx(now - doc.prediction.ssi_total)
    # Without a plan issued before the latest snapshot the section is absent.
    assert member_history(estimator, followed["snaps"]).plan is None

    # The written report (ssi report --from-store), in the three languages.
    words = {"en": ("Your last plan", "Taken", "Not taken", "Predicted gain"),
             "nl": ("Je laatste plan", "Uitgevoerd", "Niet uitgevoerd",
                    "Voorspelde puntenwinst"),
             "de": ("Ihr letzter Plan", "Umgesetzt", "Nicht umgesetzt",
                    "Vorhergesagter Punktgewinn")}
    for lang, (heading, yes, no, predicted) in words.items():
        out = tmp_path / f"pages-{lang}"
        result = CliRunner().invoke(app, ["report", "--from-store", "--model", pyfunc_model,
                                          "--out", str(out), "--lang", lang])
        assert result.exit_code == 0, result.output
        assert "1 with their last plan" in result.output
        (page,) = out.glob("sim-*.html")
        html = page.read_text("utf-8")
        text = " ".join(visible_text(html))
        t = texts(lang)
        assert heading in text and predicted in text
        assert html.count('<li class="taken">') == 1
        assert html.count('<li class="skipped">') == len(doc.plan.levers) - 1
        assert f"{yes}</span>" in html and f"{no}</span>" in html
        assert t.signed(doc.plan.gain.total) in text  # the plan's predicted gain
        assert t.signed(5.0) in text and t.signed(3.0) in text  # reported: total, people
        assert t.signed(plan.estimated_change["total"]) in text
        assert "version 3" in text or "Version 3" in text or "versie 3" in text
        assert load_catalogue()[taken].text[lang] in text  # the action in the page's language
        if lang != "en":  # the section is worded in the page's language
            section = html.split('<section class="card lastplan"')[1].split("</section>")[0]
            patterns = _english_patterns(lang)
            for node in visible_text(section):
                node = node.replace("ssi-estimator", " ")
                for english, pattern in patterns:
                    assert not pattern.search(node), f"English {english!r} ({lang}): {node!r}"
    browser.set_window_size(1100, 1400)
    browser.get((tmp_path / "pages-en" / page.name).as_uri())
    from selenium.webdriver.common.by import By

    section = browser.find_element(By.CSS_SELECTOR, "section.lastplan")
    browser.execute_script("arguments[0].scrollIntoView()", section)
    assert "Your last plan" in section.text and "Not taken" in section.text
    browser.save_screenshot(str(screenshots / "history-last-plan.png"))
