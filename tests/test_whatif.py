"""What-if in the page: the member page carries the model and scores exactly like the served one.

Unit tests check the bundle and the generated feature code in Python; the browser tests load a
rendered page in headless Chromium, score over a thousand rows with ``window.ssiWhatIf.score``
and compare them with ``SSIEstimator.predict`` on the same rows (the served model: saved and loaded
from its folder), time one re-score, and move the controls with the keyboard.
"""

from __future__ import annotations

import base64
import json
import math
import re
import struct
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from benchmarks.measure import WHATIF_TIMING_JS

from ssi_model.contract import CONTRACT, PILLARS
from ssi_model.explain import explain_rows
from ssi_model.explain.schema import Explanation
from ssi_model.features import feature_spec
from ssi_model.model.estimator import SSIEstimator
from ssi_model.report import render_member, write_reports
from ssi_model.report.whatif import features_js, for_member, model_bundle, whatif_model

DAY = date(2026, 12, 1)
MAX_PAGE_BYTES = 1_500_000
MAX_SCORE_MS = 5.0
VALUE_KEYS = [f"ssi_{t}{s}" for t in ("total", *PILLARS) for s in ("", "_lo", "_hi")]
RECORD_KEYS = [*VALUE_KEYS, "industry_top_pct"]


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(fitted_estimator: SSIEstimator, tmp_path_factory: pytest.TempPathFactory,
           ) -> SSIEstimator:
    """The model as it is served: saved to its folder and loaded back (text boosters)."""
    folder = fitted_estimator.save(tmp_path_factory.mktemp("model"))
    return SSIEstimator.load(folder)


@pytest.fixture(scope="module")
def members() -> list[dict[str, Any]]:
    from ssi_model.simulator import simulate_cohort
    from ssi_model.validation import validate

    clean = validate(simulate_cohort(300, 17)).clean
    return CONTRACT.to_records(clean)


@pytest.fixture(scope="module")
def page(served: SSIEstimator, members: list[dict[str, Any]],
         tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Explanation, dict[str, Any]]:
    """One member's page with the model; the member has a plan and levers to apply."""
    docs = explain_rows(served, members[:40])
    i = next(i for i, d in enumerate(docs) if d.plan is not None and len(d.levers) >= 2)
    html = render_member(docs[i], generated_on=DAY, whatif=for_member(served, members[i]))
    path = tmp_path_factory.mktemp("whatif") / "member.html"
    path.write_text(html, encoding="utf-8")
    return path, docs[i], members[i]


def _predict(estimator: SSIEstimator, rows: list[dict[str, Any]]) -> list[dict[str, float]]:
    """``SSIEstimator.predict`` on plain rows, as prediction records."""
    frame = pd.DataFrame.from_records(rows, columns=CONTRACT.input_columns)
    result = estimator.predict(frame).to_frame()
    return [{k: float(v) for k, v in r.items() if k in RECORD_KEYS}
            for r in result.to_dict("records")]


def _js(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as the browser gets them: dates as ISO text (the scorer does not read them)."""
    return [{k: v.isoformat() if isinstance(v, date) else v for k, v in r.items()} for r in rows]


# -- generated rows: unknowns, zeros, every category, thresholds, bounds -------------------------


def _identity_columns(estimator: SSIEstimator) -> dict[int, str]:
    """Feature slot -> contract column for features that are the column itself (no transform)."""
    spec = feature_spec()
    out: dict[int, str] = {}
    for i, name in enumerate(estimator.feature_names):
        f = spec[name]
        if f.op == "value" and len(f.sources) == 1 and not f.per_week and not f.log1p:
            out[i] = f.sources[0]
    return out


def _thresholds(estimator: SSIEstimator) -> dict[int, set[float]]:
    """Feature slot -> every numeric split threshold of the four boosters."""
    bundle = model_bundle(estimator)
    out: dict[int, set[float]] = {}
    for b in bundle["boosters"].values():
        for f, t, d in zip(b["f"], b["t"], b["d"], strict=True):
            if not d & 1:
                out.setdefault(f, set()).add(b["thresholds"][t])
    return out


def parity_rows(estimator: SSIEstimator, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [dict(m) for m in members]
    inputs = CONTRACT.input_columns
    base = next(m for m in members if all(m[c] is not None for c in CONTRACT.context_columns
                                          if c in inputs))
    rows.append(dict.fromkeys(inputs))  # everything unknown
    rows.append({c: (False if CONTRACT[c].kind == "bool" else
                     None if CONTRACT[c].kind == "category" else 0) for c in inputs})  # zeros
    for which in ("min", "max"):  # every numeric bound (a column bound: that column's value)
        row = dict(base)
        for c in inputs:
            spec = CONTRACT[c]
            if spec.kind in ("int", "float"):
                bound = spec.numeric_bound(which)
                row[c] = bound if bound is not None else None
        for c in inputs:
            other = CONTRACT[c].column_bound(which)
            if other is not None:
                row[c] = row[other]
        rows.append(row)
    for c in inputs:  # every category, and unknown, for every context column
        if CONTRACT[c].kind == "category":
            for value in (*CONTRACT[c].values, None):
                rows.append({**base, c: value})
    for m in members[:40]:  # one column unknown at a time, and zero at a time
        for c in CONTRACT.behaviour_columns[::3]:
            rows.append({**m, c: None})
            rows.append({**m, c: False if CONTRACT[c].kind == "bool" else 0})
    identity = _identity_columns(estimator)
    for slot, values in _thresholds(estimator).items():  # values exactly at split thresholds
        column = identity.get(slot)
        if column is None:
            continue
        for t in sorted(values):
            for v in (t, math.nextafter(t, -math.inf), math.nextafter(t, math.inf)):
                rows.append({**base, column: v})
    return rows


# -- unit: the bundle and the generated code -----------------------------------------------------


def test_bundle_keeps_only_what_scoring_needs_and_is_exact(served: SSIEstimator) -> None:
    bundle = model_bundle(served)
    assert set(bundle["boosters"]) == set(PILLARS)
    for pillar, b in bundle["boosters"].items():
        dump = served.boosters[pillar].dump_model()
        assert len(b["trees"]) == len(dump["tree_info"]) == served.boosters[pillar].num_trees()
        assert set(b) == {"trees", "f", "t", "d", "l", "r", "thresholds", "cats", "leaves"}
        raw = base64.b64decode(b["leaves"])
        leaves = struct.unpack(f"<{len(raw) // 8}d", raw)

        def dumped(node: dict[str, Any]) -> Iterator[float]:
            if "split_index" not in node:
                yield node["leaf_value"]
            else:
                yield from dumped(node["left_child"])
                yield from dumped(node["right_child"])

        expected = sorted(v for t in dump["tree_info"] for v in dumped(t["tree_structure"]))
        assert sorted(leaves) == expected  # bit for bit: packed as float64
        assert len(b["f"]) == sum(n - 1 for n in b["trees"])
    text = json.dumps(bundle)
    assert json.loads(text)["boosters"]["brand"]["thresholds"] == \
        bundle["boosters"]["brand"]["thresholds"]  # repr floats round-trip exactly


def test_feature_code_is_generated_from_features_yaml(served: SSIEstimator) -> None:
    code = features_js(served.feature_names)
    spec = feature_spec()
    for i, name in enumerate(served.feature_names):
        line = next(x for x in code.splitlines() if x.strip().startswith(f"x[{i}] ="))
        assert line.endswith(f"// {name}")
        f = spec[name]
        assert ("Math.log1p(" in line) == f.log1p
        assert (repr(CONTRACT.window_days / 7.0) in line) == f.per_week
        for column in f.sources:
            assert f"c_{column}" in line
    assert f"new Float64Array({len(served.feature_names)})" in code


def test_log1p_thresholds_keep_a_margin(served: SSIEstimator) -> None:
    """A log1p feature may differ in its last bit between numpy and the browser; no split of the
    model lies within 1e-12 (thousands of ulps) of a value whole counts give, so none can flip."""
    spec = feature_spec()
    weeks = CONTRACT.window_days / 7.0
    thresholds = _thresholds(served)
    checked = 0
    for slot, name in enumerate(served.feature_names):
        f = spec[name]
        if not f.log1p:
            continue
        divisor = weeks if f.per_week else 1.0
        for t in thresholds.get(slot, ()):
            count = math.expm1(t) * divisor  # the count whose feature would be exactly t
            for n in (math.floor(count), math.ceil(count)):
                if n == 0:
                    continue  # log1p(0) is exactly 0 in every implementation
                gap = abs(math.log1p(n / divisor) - t)
                assert gap > 1e-12 * max(1.0, abs(t)), (name, t, n, gap)
                checked += 1
    assert checked > 0


def test_page_carries_the_model_without_external_files(page: tuple[Path, Explanation, Any],
                                                      served: SSIEstimator) -> None:
    path, doc, _ = page
    html = path.read_text("utf-8")
    size = len(html.encode("utf-8"))
    assert size < MAX_PAGE_BYTES, size
    assert 'id="ssi-whatif-model"' in html and "window.ssiWhatIf" in html
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|https?://(?!www\.w3\.org)", html)
    assert "WebAssembly" not in html
    assert "@media print { .whatif { display: none; } }" in html
    # one control per behaviour column, none for context
    for column in CONTRACT.behaviour_columns:
        assert f'data-col="{column}"' in html
    for column in CONTRACT.context_columns:
        assert f'data-col="{column}"' not in html
    for lever in doc.levers:
        assert f'data-apply="{lever.id}"' in html
    # without a model the page is the plain report
    assert 'id="whatif"' not in render_member(doc, generated_on=DAY)


def test_write_reports_gives_every_page_the_model(served: SSIEstimator,
                                                 members: list[dict[str, Any]],
                                                 tmp_path: Path) -> None:
    docs = explain_rows(served, members[:3])
    model = whatif_model(served)
    assert whatif_model(served) is model  # built once per estimator
    paths = write_reports(docs, tmp_path, generated_on=DAY,
                          whatifs=[for_member(served, m) for m in members[:3]])
    for p in paths[:-1]:
        assert 'id="ssi-whatif-model"' in p.read_text("utf-8")
    assert 'id="ssi-whatif-model"' not in paths[-1].read_text("utf-8")  # the index has none
    with pytest.raises(ValueError, match="one per document"):
        write_reports(docs, tmp_path / "x", whatifs=[None])


# -- in a real browser ---------------------------------------------------------------------------


def _open(browser: Any, path: Path) -> None:
    browser.set_window_size(1280, 900)
    browser.get(path.as_uri())
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors


@pytest.mark.browser
def test_the_page_scores_exactly_like_the_served_model(
        browser: Any, page: tuple[Path, Explanation, Any], served: SSIEstimator,
        members: list[dict[str, Any]]) -> None:
    _open(browser, page[0])
    rows = parity_rows(served, members)
    assert len(rows) >= 1000, len(rows)
    got = browser.execute_script(
        "return arguments[0].map(function (r) { return window.ssiWhatIf.score(r); });", _js(rows))
    want = _predict(served, rows)
    mismatches = [(i, k, g[k], w[k]) for i, (g, w) in enumerate(zip(got, want, strict=True))
                  for k in RECORD_KEYS if g[k] != w[k]]
    assert not mismatches, (len(mismatches), mismatches[:10])
    assert all(set(g) == set(RECORD_KEYS) for g in got)

    # unrounded pillars and their total, and the features themselves
    raw = browser.execute_script(
        "return arguments[0].map(function (r) { return window.ssiWhatIf.raw(r); });", _js(rows))
    frame = pd.DataFrame.from_records(rows, columns=CONTRACT.input_columns)
    features = served.features(frame).to_numpy()
    pillars = served.predict_matrix(features)
    js_pillars = np.array([[r[p] for p in PILLARS] for r in raw])
    np.testing.assert_allclose(js_pillars, pillars, rtol=0, atol=1e-9)
    assert (js_pillars == pillars).mean() == 1.0  # in fact bit for bit
    np.testing.assert_allclose([r["total"] for r in raw], pillars.sum(axis=1), rtol=0, atol=1e-9)
    js_features = browser.execute_script(
        "return arguments[0].map(function (r) { return Array.from(window.ssiWhatIf.features(r))"
        ".map(function (v) { return v === v ? v : null; }); });", _js(rows))
    js_x = np.array([[np.nan if v is None else v for v in r] for r in js_features], dtype=float)
    # LightGBM reads a dense row without its zeros: |v| <= kZeroThreshold (1e-35f) counts as 0
    py_x = np.where(np.abs(features) <= float(np.float32(1e-35)), 0.0, features)
    # Bit for bit but for log1p, where numpy (SVML on AVX-512, else libm) and V8 may differ in
    # the last bit; test_log1p_thresholds_keep_a_margin shows that cannot move a split.
    logs = [i for i, n in enumerate(served.feature_names) if feature_spec()[n].log1p]
    plain = [i for i in range(len(served.feature_names)) if i not in logs]
    np.testing.assert_array_equal(js_x[:, plain], py_x[:, plain])
    np.testing.assert_array_equal(np.isnan(js_x[:, logs]), np.isnan(py_x[:, logs]))
    known = ~np.isnan(py_x[:, logs])
    np.testing.assert_array_max_ulp(js_x[:, logs][known], py_x[:, logs][known], maxulp=1)


@pytest.mark.browser
def test_the_walker_follows_lightgbm_at_thresholds_and_missing_values(
        browser: Any, page: tuple[Path, Explanation, Any], served: SSIEstimator,
        members: list[dict[str, Any]]) -> None:
    """Feature vectors straight into the trees: every threshold (and its neighbours), NaN, zero,
    every category code, an unseen and a negative code; against ``Booster.predict``."""
    _open(browser, page[0])
    frame = pd.DataFrame.from_records(members[:50], columns=CONTRACT.input_columns)
    base = served.features(frame).to_numpy()
    cats = set(served.builder.categorical_features_)
    variants = [base]
    for slot, name in enumerate(served.feature_names):
        if name in cats:
            values = [*range(len(CONTRACT[name].values)), 99.0, -1.0, np.nan]
        else:
            values = [np.nan, 0.0, -0.0, 1e-36]
            for t in sorted(_thresholds(served).get(slot, ())):
                values += [t, math.nextafter(t, -math.inf), math.nextafter(t, math.inf)]
        block = np.repeat(base[:3], len(values), axis=0)
        block[:, slot] = np.tile(values, 3)
        variants.append(block)
    x = np.vstack(variants)
    assert len(x) >= 1000
    js = browser.execute_script(
        "var names = arguments[1]; return arguments[0].map(function (r) {"
        " var x = Float64Array.from(r.map(function (v) { return v === null ? NaN : v; }));"
        " return window.ssiWhatIf.trees(x); });",
        [[None if np.isnan(v) else float(v) for v in row] for row in x], list(PILLARS))
    idx = {p: [served.feature_names.index(f) for f in served.blocks[p]] for p in PILLARS}
    for k, p in enumerate(PILLARS):
        want = served.boosters[p].predict(x[:, idx[p]], num_threads=1)
        got = np.array([r[k] for r in js])
        np.testing.assert_array_equal(got, want)


@pytest.mark.browser
def test_one_rescore_is_fast(browser: Any, page: tuple[Path, Explanation, Any],
                             members: list[dict[str, Any]]) -> None:
    _open(browser, page[0])
    ms = browser.execute_script(WHATIF_TIMING_JS, _js(members[:50]))
    print(f"whatif_score_ms={ms:.4f}")
    assert 0 < ms <= MAX_SCORE_MS


@pytest.mark.browser
def test_the_coach_moves_a_control_and_sees_the_total_change(
        browser: Any, page: tuple[Path, Explanation, Any], screenshots: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    path, doc, _ = page
    _open(browser, path)

    def total() -> str:
        return str(browser.execute_script(
            "return document.querySelector('#whatif [data-out=total]').textContent;"))

    def click(css: str) -> None:  # to the middle of the window: the figures stick to the top
        button = browser.find_element(By.CSS_SELECTOR, css)
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
        button.click()

    def state(column: str) -> Any:
        return browser.execute_script(
            "return Number(document.getElementById('wi-' + arguments[0]).value);", column)

    start = total()
    assert start and re.search(r"\d", start)
    # the member's own estimate, as the report prints it
    assert float(browser.execute_script(
        "return document.getElementById('whatif').dataset.total;")) == doc.prediction.ssi_total

    # keyboard: focus the posts slider and press the right arrow until the total moves
    slider = browser.find_element(By.ID, "wi-posts_90d")
    slider.send_keys("")  # focus
    before = state("posts_90d")
    moved = False
    for _ in range(40):
        slider.send_keys(Keys.ARROW_RIGHT)
        if total() != start:
            moved = True
            break
    assert state("posts_90d") > before
    assert moved, "40 more posts never changed the estimated total"
    assert browser.execute_script(
        "return document.querySelector('[data-col=posts_90d]').classList.contains('changed');")
    delta = browser.execute_script(
        "return document.querySelector('#whatif [data-out=total-delta]').textContent;")
    assert delta and delta[0] in "+\u2212"
    browser.save_screenshot(str(screenshots / "whatif-moved.png"))

    # apply the first lever: its changes land in the controls and the total is re-scored
    lever = doc.levers[0]
    click("[data-reset]")
    assert total() == start
    click(f'[data-apply="{lever.id}"]')
    for column, value in lever.changes.items():
        if CONTRACT[column].kind == "bool":
            assert browser.find_element(By.ID, f"wi-{column}").is_selected() == bool(value)
        else:
            assert state(column) == value
    applied = float(browser.execute_script(
        "return document.getElementById('whatif').dataset.total;"))
    assert applied == pytest.approx(doc.prediction.ssi_total + lever.gain.total, abs=0.02)
    # the plan
    click('[data-apply="@plan"]')
    assert doc.plan is not None
    planned = float(browser.execute_script(
        "return document.getElementById('whatif').dataset.total;"))
    assert planned == pytest.approx(doc.plan.total_after, abs=0.02)
    height = browser.execute_script("return document.documentElement.scrollHeight;")
    browser.set_window_size(1280, height + 120)
    browser.save_screenshot(str(screenshots / "whatif-plan.png"))
    click("[data-reset]")
    assert total() == start

    # on a phone the panel fits the width
    browser.set_window_size(390, 900)
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
    assert overflow <= 0, f"horizontal scrolling at 390px: {overflow}px"
    browser.save_screenshot(str(screenshots / "whatif-390.png"))

    # printed, the page shows the plan, not the controls
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        shown = browser.execute_script(
            "return [getComputedStyle(document.getElementById('whatif')).display,"
            " getComputedStyle(document.getElementById('h-plan').closest('section')).display];")
        assert shown == ["none", "block"]
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def test_the_api_and_the_cli_make_the_same_page(served: SSIEstimator,
                                                members: list[dict[str, Any]],
                                                tmp_path: Path) -> None:
    """``POST /v1/report`` renders from a validated Profile, ``ssi report`` from a validated
    frame's records: the same row either way, so the same page, model included."""
    from ssi_model.api.schemas import Profile

    row = members[5]
    profile = Profile.model_validate(CONTRACT.to_records(
        pd.DataFrame.from_records([row]), for_json=True)[0])
    (doc,) = explain_rows(served, [profile.model_dump()])
    api_page = render_member(doc, generated_on=DAY,
                             whatif=for_member(served, profile.model_dump()))
    frame = CONTRACT.to_typed(pd.DataFrame.from_records([row]))
    (cli_doc,) = explain_rows(served, frame)
    (path, _) = write_reports([cli_doc], tmp_path, generated_on=DAY,
                              whatifs=[for_member(served, CONTRACT.to_records(frame)[0])])
    assert api_page == path.read_text("utf-8")
