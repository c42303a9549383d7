"""The intake page in headless Chromium against a real uvicorn server that serves a champion.

A coach fills the form in Dutch, uploads the shared LinkedIn export fixture and types the SSI
dashboard's figures; a bad field comes back with its reason beside it and everything typed kept;
corrected, the submission is stored and the member's report shown. The stored snapshot then
carries the export's counts, the typed answers over them, the dashboard's figures and the
champion's estimate, and erasure removes the recorded explanation too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_helpers import Process, start_api
from ssi_model.store import SnapshotStore

HERE = Path(__file__).resolve().parent
ADMIN_KEY = "admin-key-for-intake-tests"
ALIAS = "intake"


def _fixture_archive() -> Path:
    for candidate in (HERE / "fixtures" / "linkedin-export" / "sample_export.zip",
                      HERE.parents[1] / "shared" / "fixtures" / "linkedin-export"
                      / "sample_export.zip"):
        if candidate.is_file():
            return candidate
    pytest.skip("the LinkedIn export fixture (sample_export.zip) is missing")


@pytest.fixture(scope="module")
def api(trained: Any, mlflow_uri: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, str, str]]:
    """The API serving the session's trained model as champion, on a fresh SQLite store."""
    from ssi_model.settings import get_settings
    from ssi_model.tracking.registry import Registry

    # An alias of its own: the session's champion belongs to the promotion-gate test.
    registry = Registry(get_settings().model_copy(update={"ssi_model_alias": ALIAS}))
    decision = registry.promote(trained.model_version, force=True)
    assert decision.promoted, decision.reasons
    folder = tmp_path_factory.mktemp("intake")
    url = f"sqlite:///{folder / 'ssi.db'}"
    with SnapshotStore(url) as store:
        key = store.add_coach("coach-intake")
        other = store.add_coach("coach-other")
    process = start_api(folder, env={"MLFLOW_TRACKING_URI": mlflow_uri, "SSI_DATABASE_URL": url,
                                     "SSI_API_KEY": ADMIN_KEY, "SSI_RELOAD_SECONDS": "0",
                                     "SSI_MODEL_ALIAS": ALIAS,
                                     "SSI_SECRET_FILE": str(folder / "secret")})
    try:
        process.wait_until("/ready", timeout=180, ok=lambda r: r.status_code == 200)
        yield process, key, other
    finally:
        process.stop()


def _fill(driver: Any, values: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for name, value in values.items():
        element = driver.find_element(By.NAME, name)
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        else:
            element.clear()
            element.send_keys(value)


def test_intake_in_a_real_browser_stores_the_snapshot_and_shows_the_report(
        api: tuple[Process, str, str], browser: Any, screenshots: Path) -> None:
    from selenium.webdriver.common.by import By

    process, key, _ = api
    archive = _fixture_archive()
    browser.set_window_size(1200, 1000)
    browser.get(process.url + "/intake?lang=nl")
    assert browser.find_element(By.TAG_NAME, "h1").text == "SSI-intake"
    typed = {"coach_key": key, "member_id": "intake-m1", "role_family": "sales",
             "posts_90d": "veel", "comments_given_90d": "12",
             "ssi_total": "42", "ssi_brand": "12", "ssi_people": "10", "ssi_insights": "8",
             "ssi_relationships": "12", "industry_rank_top_pct": "20",
             "network_rank_top_pct": "15"}
    _fill(browser, typed)
    browser.find_element(By.NAME, "export").send_keys(str(archive))
    browser.find_element(By.ID, "f-consent").click()
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    # A bad field: its reason beside it, every typed value (and the consent) kept.
    from selenium.webdriver.support.ui import WebDriverWait

    # the click returns before the answer has arrived: wait for the reason to be shown
    reason = WebDriverWait(browser, 60).until(lambda b: b.find_element(By.ID, "e-posts_90d"))
    assert "veel" in reason.text
    assert "bad" in reason.find_element(By.XPATH, "..").get_attribute("class")
    for name, value in typed.items():
        assert browser.find_element(By.NAME, name).get_attribute("value") == value, name
    assert browser.find_element(By.ID, "f-consent").is_selected()
    assert "niets opgeslagen" in browser.find_element(By.CSS_SELECTOR, ".problems").text
    browser.save_screenshot(str(screenshots / "intake-bad-field.png"))
    with httpx.Client(base_url=process.url, headers={"X-API-Key": key}, timeout=30) as client:
        assert client.get("/v1/members/intake-m1/snapshots").status_code == 404  # not stored

    _fill(browser, {"posts_90d": "6"})
    browser.find_element(By.NAME, "export").send_keys(str(archive))  # a file is never re-filled
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    from selenium.common.exceptions import TimeoutException

    try:  # the click returns before the answer (stored, explained, rendered) has arrived
        WebDriverWait(browser, 60).until(lambda b: "intake-m1" in b.title)
    except TimeoutException:
        pytest.fail("no report after the corrected submission; the page says: "
                    + browser.find_element(By.TAG_NAME, "body").text[:2000])
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Geschatte SSI" in body
    browser.save_screenshot(str(screenshots / "intake-report.png"))

    with httpx.Client(base_url=process.url, headers={"X-API-Key": key}, timeout=30) as client:
        history = client.get("/v1/members/intake-m1/snapshots")
        assert history.status_code == 200, history.text
        (snapshot,) = history.json()["snapshots"]
        stored = snapshot["row"]
        assert snapshot["snapshot_date"] == "2026-02-01"  # the export's date
        assert stored["connections_count"] == 2000  # from the export
        assert stored["posts_90d"] == 6 and stored["role_family"] == "sales"  # typed, over it
        assert snapshot["reported"]["ssi_total"] == 42.0
        assert snapshot["reported"]["source"] == "dashboard"
        assert snapshot["reported"]["reported_on"] == "2026-02-01"
        assert snapshot["consent"] == "coaching"
        assert 0 <= snapshot["estimate"]["ssi_total"] <= 100
        erased = client.delete("/v1/members/intake-m1")
        assert erased.json()["explanations"] == 1 and erased.json()["snapshots"] == 1


def _snapshot(member_id: str, day: str, posts: int, connections: int,
              total: float) -> dict[str, Any]:
    return {"member_id": member_id, "snapshot_date": day, "industry": "technology",
            "role_family": "sales", "has_photo": True, "posts_90d": posts,
            "comments_given_90d": 5, "connections_count": connections,
            "ssi_total": total, "ssi_brand": 12.0, "ssi_people": 8.0, "ssi_insights": total - 30.0,
            "ssi_relationships": 10.0, "source": "dashboard"}


def test_member_report_and_cohort_page_show_history_to_their_coach_only(
        api: tuple[Process, str, str]) -> None:
    process, key, other = api
    with httpx.Client(base_url=process.url, headers={"X-API-Key": key}, timeout=120) as coach, \
            httpx.Client(base_url=process.url, headers={"X-API-Key": other},
                         timeout=120) as stranger:
        waves = [_snapshot("pages-m1", "2026-06-01", 1, 300, 40.0),
                 _snapshot("pages-m1", "2026-07-15", 4, 340, 42.0),
                 _snapshot("pages-m1", "2026-09-01", 9, 420, 45.0)]
        posted = coach.post("/v1/snapshots", json={"snapshots": waves})
        assert posted.status_code == 200 and posted.json()["stored"] == 3, posted.text
        assert stranger.post("/v1/snapshots", json={"snapshots": [
            _snapshot("pages-other", "2026-09-01", 2, 100, 38.0)]}).json()["stored"] == 1

        for lang, heading in (("en", "What changed"), ("de", "Was sich")):
            page = coach.get("/v1/members/pages-m1/report", params={"lang": lang})
            assert page.status_code == 200, page.text
            assert page.headers["content-type"].startswith("text/html")
            assert "pages-m1" in page.text and "<svg" in page.text  # the history chart
            assert heading in page.text, lang
            assert "ssiWhatIf" in page.text  # the page carries the model
        # Each report is an issued explanation; another coach cannot see the member at all.
        assert stranger.get("/v1/members/pages-m1/report").status_code == 404

        cohort = coach.get("/v1/cohort", params={"lang": "nl"})
        assert cohort.status_code == 200, cohort.text
        assert "pages-m1" in cohort.text and "pages-other" not in cohort.text
        assert 'href="members/pages-m1/report?lang=nl"' in cohort.text
        assert "pages-other" in stranger.get("/v1/cohort").text

        erased = coach.delete("/v1/members/pages-m1").json()
        assert erased["snapshots"] == 3 and erased["explanations"] == 2
        assert coach.get("/v1/members/pages-m1/report").status_code == 404
        assert "pages-m1" not in coach.get("/v1/cohort").text


def test_the_member_report_follows_up_the_plan_issued_at_the_previous_report(
        api: tuple[Process, str, str]) -> None:
    """A report recorded the plan of the first snapshot; the member then took its first action
    only and reported 4 points more: the next report shows which actions were taken."""
    process, key, _ = api
    # The store the API writes (the fixture's folder holds the log and the database).
    url = f"sqlite:///{process.log.parent / 'ssi.db'}"
    first = _snapshot("plan-m1", "2026-06-01", 0, 150, 38.0)
    with httpx.Client(base_url=process.url, headers={"X-API-Key": key}, timeout=120) as coach:
        assert coach.post("/v1/snapshots", json={"snapshots": [first]}).json()["stored"] == 1
        page = coach.get("/v1/members/plan-m1/report")
        assert page.status_code == 200 and "Your last plan" not in page.text  # none before
        with SnapshotStore(url) as store:
            from ssi_model.store import ADMIN

            (issued,) = store.issued_explanations("plan-m1", ADMIN)
        plan = issued.document["plan"]
        assert len(plan["levers"]) >= 2, plan
        levers = {lv["id"]: lv for lv in issued.document["levers"]}
        taken = plan["levers"][0]
        second = {**first, **levers[taken]["changes"], "snapshot_date": "2026-07-13",
                  "ssi_total": 42.0, "ssi_brand": 16.0}
        assert coach.post("/v1/snapshots", json={"snapshots": [second]}).json()["stored"] == 1
        for lang, heading, yes, no, four in (("en", "Your last plan", "Taken", "Not taken",
                                              "+4.0"),
                                             ("nl", "Je laatste plan", "Uitgevoerd",
                                              "Niet uitgevoerd", "+4,0")):
            page = coach.get("/v1/members/plan-m1/report", params={"lang": lang})
            assert page.status_code == 200, page.text
            assert heading in page.text, lang
            assert page.text.count('<li class="taken">') == 1
            assert page.text.count('<li class="skipped">') == len(plan["levers"]) - 1
            assert f'<span class="status">{yes}</span>' in page.text
            assert f'<span class="status">{no}</span>' in page.text
            reported = page.text.split("<th scope=\"row\">")[1].split("</tr>")[0]
            assert f'<td class="num">{four}</td>' in reported  # reported: 38 -> 42
        gain = plan["gain"]["total"]
        assert f"+{gain:.1f}" in coach.get("/v1/members/plan-m1/report").text
        assert coach.delete("/v1/members/plan-m1").json()["explanations"] == 4
