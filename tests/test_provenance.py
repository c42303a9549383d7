"""Provenance: every model knows what it learnt from, and every output says so.

Where rows come from (simulated ``sim-`` ids, real-looking ids, the override) is checked on real
files; the record travels with the saved bundle, the run and the registered version; a report of a
simulated-only model carries a visible warning (looked at in headless Chromium); and promotion
refuses to replace a model trained on reported scores with a simulated-only one unless forced.
The API's answers are checked against the real server in test_api.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from ssi_model.cli import app
from ssi_model.explain.schema import Explanation, ModelInfo
from ssi_model.io import write_table
from ssi_model.model.config import ExperimentConfig, load_config
from ssi_model.model.estimator import SSIEstimator
from ssi_model.model.provenance import ILLUSTRATIVE_NOTE, Provenance
from ssi_model.report import render_cohort, render_member
from ssi_model.settings import Settings
from ssi_model.simulator import simulate_cohort
from ssi_model.tracking.data import load_training_data, training_provenance
from ssi_model.tracking.registry import Registry
from ssi_model.validation import validate

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "explanations_sample.json"
DAY = date(2026, 12, 3)


def _config(origin: str = "auto") -> ExperimentConfig:
    config = load_config(ROOT / "experiments" / "default.yaml")
    return config.model_copy(update={"data": config.data.model_copy(update={"origin": origin})})


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return validate(simulate_cohort(300, 21)).clean


def _renamed(rows: pd.DataFrame, every: int = 1) -> pd.DataFrame:
    """``rows`` with every ``every``-th member given a real-looking id (no ``sim-`` prefix)."""
    out = rows.copy()
    ids = out["member_id"].astype(str).tolist()
    out["member_id"] = [f"client-{i:05d}" if i % every == 0 else m for i, m in enumerate(ids)]
    return out


def _provenance(config: ExperimentConfig, path: Path | None) -> Provenance:
    validated, source = load_training_data(config, path)
    return training_provenance(config, validated.clean, fingerprint="f" * 64, source=source)


# -- where the rows come from --------------------------------------------------------------------

def test_a_file_of_simulator_ids_is_simulated_and_real_looking_ids_are_reported(
        cohort: pd.DataFrame, tmp_path: Path) -> None:
    simulated = _provenance(_config(), write_table(cohort, tmp_path / "demo.csv"))
    assert simulated.trained_on == "simulated" and simulated.illustrative
    assert simulated.n_reported == 0 and simulated.n_simulated == simulated.n_rows == len(cohort)
    assert simulated.data_source == str(tmp_path / "demo.csv")

    reported = _provenance(_config(), write_table(_renamed(cohort), tmp_path / "clients.parquet"))
    assert reported.trained_on == "reported" and not reported.illustrative
    assert reported.n_reported == len(cohort) and reported.n_simulated == 0

    mixed = _provenance(_config(), write_table(_renamed(cohort, every=3), tmp_path / "mix.csv"))
    assert mixed.trained_on == "reported"
    assert mixed.n_reported == (len(cohort) + 2) // 3  # ids 0, 3, 6, … renamed
    assert mixed.n_simulated == len(cohort) - mixed.n_reported


def test_the_configs_simulation_is_simulated_and_the_override_wins(
        cohort: pd.DataFrame, tmp_path: Path) -> None:
    small = _config().model_copy(update={"data": _config().data.model_copy(update={
        "simulate": _config().data.simulate.model_copy(update={"n": 150})})})
    from_config = _provenance(small, None)
    assert from_config.trained_on == "simulated"
    assert from_config.data_source == "simulated:linkedin:n=150:seed=0"

    demo = write_table(cohort, tmp_path / "demo.csv")
    assert _provenance(_config("reported"), demo).trained_on == "reported"
    clients = write_table(_renamed(cohort), tmp_path / "clients.csv")
    assert _provenance(_config("simulated"), clients).trained_on == "simulated"


def test_the_config_and_the_cli_refuse_an_unknown_origin(tmp_path: Path) -> None:
    from ssi_model.errors import UserError

    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {ROOT / 'experiments' / 'default.yaml'}\nname: bad\n"
                   "data: {origin: real}\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"data\.origin"):
        load_config(bad)
    result = CliRunner().invoke(app, ["train", "--origin", "real"])
    assert result.exit_code == 2 and "--origin real" in result.output


def test_a_prior_corrected_by_reported_scores_and_the_record_round_trips() -> None:
    prior = {"source": "simulated:linkedin:n=20000:seed=0", "n": 20000}
    both = Provenance.of_rows(n_reported=400, n_simulated=0, data_fingerprint="a" * 64,
                              data_source="clients.csv", prior=prior)
    assert both.trained_on == "prior+reported" and not both.illustrative
    assert both.tags() == {"trained_on": "prior+reported", "n_reported": "400"}
    assert Provenance.from_dict(json.loads(json.dumps(both.to_dict()))) == both
    # A prior without a single reported score is still a simulated-only model.
    alone = Provenance.of_rows(n_reported=0, n_simulated=500, data_fingerprint="a" * 64,
                               data_source="demo.csv", prior=prior)
    assert alone.trained_on == "simulated" and alone.illustrative
    with pytest.raises(ValueError, match="trained_on"):
        Provenance.from_dict({**both.to_dict(), "trained_on": "real"})


def test_the_provenance_is_saved_with_the_bundle_and_an_older_bundle_loads_unknown(
        fitted_estimator: SSIEstimator, tmp_path: Path) -> None:
    record = Provenance.of_rows(n_reported=640, n_simulated=0, data_fingerprint="b" * 64,
                                data_source="clients.csv")
    estimator = dataclasses.replace(fitted_estimator,
                                    meta={**fitted_estimator.meta, "provenance": record.to_dict()})
    loaded = SSIEstimator.load(estimator.save(tmp_path / "with"))
    assert Provenance.of_meta(loaded.meta) == record
    info = ModelInfo.of(loaded.meta, name="ssi-estimator", version="4")
    assert (info.trained_on, info.n_reported, info.illustrative) == ("reported", 640, False)
    assert info.interval_note is None

    old = dataclasses.replace(fitted_estimator, meta={k: v for k, v in fitted_estimator.meta.items()
                                                      if k != "provenance"})
    loaded_old = SSIEstimator.load(old.save(tmp_path / "old"))
    assert Provenance.of_meta(loaded_old.meta) is None
    info_old = ModelInfo.of(loaded_old.meta, name="ssi-estimator")
    assert info_old.trained_on is None and info_old.n_reported is None
    assert not info_old.illustrative


# -- the run, the version and the loaded model ------------------------------------------------

def test_a_tracked_run_records_what_it_learnt_from(trained: Any, mlflow_uri: str) -> None:
    client = mlflow.MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
    tags = client.get_run(trained.run_id).data.tags
    assert tags["trained_on"] == "simulated" and tags["n_reported"] == "0"
    registry = Registry(Settings())
    version = client.get_model_version(registry.name, trained.model_version)
    assert version.tags["trained_on"] == "simulated" and version.tags["n_reported"] == "0"
    estimator, info = registry.load(trained.model_version)
    record = Provenance.of_meta(estimator.meta)
    assert record == trained.provenance
    assert record is not None and record.n_rows == trained.n_train
    assert record.data_fingerprint == tags["data_fingerprint"]
    assert info.trained_on == "simulated" and info.illustrative
    assert info.interval_note == ILLUSTRATIVE_NOTE


# -- the promotion gate -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A store of this module: version 1 trained on reported scores (real-looking ids) and made
    champion, version 2 on the same members as the simulator names them (simulated only)."""
    folder = tmp_path_factory.mktemp("gate")
    rows = validate(simulate_cohort(700, 31)).clean
    clients = write_table(_renamed(rows), folder / "clients.csv")
    demo = write_table(rows, folder / "demo.csv")
    config = folder / "tiny.yaml"
    config.write_text(
        f"extends: {ROOT / 'experiments' / 'default.yaml'}\nname: tiny\n"
        "model: {cv_folds: 2, num_boost_round: 80, early_stopping_rounds: 10}\n",
        encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
        patch.setenv("SSI_MODEL_NAME", "gate-ssi")
        runner = CliRunner()
        for data in (clients, demo):
            result = runner.invoke(app, ["train", "--config", str(config), "--data", str(data)])
            assert result.exit_code == 0, result.output
        assert "trained on: simulated" in result.output
        assert "illustrative until real reported scores" in result.output
        registry = Registry(Settings())
        assert registry.promote("1", force=True).promoted  # the set-up: a champion on real scores
        yield registry


def test_promotion_refuses_a_simulated_only_candidate_over_a_reported_champion(
        gate: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert (gate.trained_on("1"), gate.trained_on("2")) == ("reported", "simulated")
    refused = gate.promote("2")
    assert not refused.promoted and gate.alias_version() == "1"
    assert any(r.startswith("provenance: the champion (version 1) learnt from reported scores")
               and "--force" in r for r in refused.reasons), refused.reasons

    monkeypatch.setenv("MLFLOW_TRACKING_URI", gate.tracking_uri)
    monkeypatch.setenv("SSI_MODEL_NAME", gate.name)
    cli = CliRunner().invoke(app, ["promote", "--version", "2"])
    assert cli.exit_code == 1 and "provenance: the champion" in cli.output

    forced = gate.promote("2", force=True)
    assert forced.promoted and gate.alias_version() == "2"
    record = json.loads(gate.client.get_model_version(gate.name, "2").tags["promotion"])
    assert record["forced"] is True
    assert any(r.startswith("provenance:") for r in record["gate_failures"])
    rows = write_table(validate(simulate_cohort(20, 4)).clean, tmp_path / "rows.csv")
    scored = CliRunner().invoke(app, ["predict", str(rows), "--out", str(tmp_path / "p.csv")])
    assert scored.exit_code == 0, scored.output
    assert "gate-ssi version 2 (trained on simulated members only: illustrative)" in scored.output
    # The other way round is no provenance matter: reported may replace simulated.
    assert not any(r.startswith("provenance:") for r in gate.promote("1").reasons)


# -- the reports ------------------------------------------------------------------------------

def _docs(**model: Any) -> list[Explanation]:
    docs = [Explanation.model_validate(d) for d in json.loads(FIXTURE.read_text("utf-8"))]
    return [d.model_copy(update={"model": d.model.model_copy(update=model)}) for d in docs]


SIMULATED = {"trained_on": "simulated", "n_reported": 0, "illustrative": True,
             "interval_note": ILLUSTRATIVE_NOTE}
REPORTED = {"trained_on": "reported", "n_reported": 1840, "illustrative": False}
WARNING = {"en": "Illustrative figures", "nl": "Illustratieve cijfers",
           "de": "Zahlen zur Veranschaulichung"}


@pytest.mark.parametrize("lang", ["en", "nl", "de"])
def test_pages_say_what_the_model_learnt_from(lang: str) -> None:
    (illustrative, *_), (real, *_) = _docs(**SIMULATED), _docs(**REPORTED)
    page = render_member(illustrative.model_copy(update={"lang": lang}), generated_on=DAY)
    assert WARNING[lang] in page and 'class="card illustrative"' in page
    figures = page.split('class="card hero"')[1].split('id="h-plan"')[0]  # total and pillars
    assert "Illustr" in figures or "Veranschaulichung" in figures
    assert not re.search(r"90\s?%", figures)  # no range presented as a 90 % range
    plain = render_member(real.model_copy(update={"lang": lang}), generated_on=DAY)
    assert WARNING[lang] not in plain and 'class="card illustrative"' not in plain
    assert re.search(r"90\s?%", plain.split('class="card hero"')[1].split('id="h-plan"')[0])
    assert {"en": "1,840 reported SSI scores", "nl": "1840 opgegeven SSI-scores",
            "de": "1840 angegebenen SSI-Werten"}[lang] in plain
    index = render_cohort(_docs(**SIMULATED)[:2] + _docs(**REPORTED)[2:], member_links={},
                          lang=lang, generated_on=DAY)
    assert WARNING[lang] in index  # one simulated-only model's figures on the list: warned


@pytest.mark.browser
def test_the_warning_is_visible_in_a_browser(browser: Any, screenshots: Path,
                                             tmp_path: Path) -> None:
    docs = _docs(**SIMULATED)
    pages = {"member": tmp_path / "member.html", "index": tmp_path / "index.html"}
    pages["member"].write_text(render_member(docs[0], generated_on=DAY), encoding="utf-8")
    pages["index"].write_text(render_cohort(docs, member_links={}, lang="en", generated_on=DAY),
                              encoding="utf-8")
    browser.set_window_size(1280, 900)
    for name, page in pages.items():
        browser.get(page.as_uri())
        box = browser.execute_script(
            "var e = document.querySelector('.illustrative'); var r = e.getBoundingClientRect();"
            "var s = getComputedStyle(e); return [r.top, r.height, s.display, s.visibility,"
            " e.innerText];")
        top, height, display, visibility, text = box
        assert 0 < top < 400 and height > 40, box  # in the first screenful, not hidden
        assert display != "none" and visibility == "visible"
        assert "simulated members only" in text
        browser.save_screenshot(str(screenshots / f"provenance-{name}.png"))
    browser.get(pages["member"].as_uri())
    hero = browser.execute_script("return document.querySelector('.hero').innerText;")
    assert "Illustrative range" in hero and "90%" not in hero
