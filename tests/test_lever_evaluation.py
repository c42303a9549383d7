"""Lever evaluation over every applicable catalogue lever: recall@3 and regret against the truth."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ssi_model.cli import app
from ssi_model.contract import PILLARS
from ssi_model.explain import explain_rows
from ssi_model.explain.evaluate import (
    SIMULATOR_CAVEAT,
    LeverQuality,
    evaluate_levers,
    lever_gains,
    ranking_figures,
)
from ssi_model.model.estimator import SSIEstimator
from ssi_model.simulator import simulate_cohort
from ssi_model.tracking.evaluate import _lever_section, evaluate_run, log_lever_quality
from ssi_model.tracking.registry import load_estimator
from ssi_model.validation import validate


def _table(rows: list[tuple[int, str, float, float]], listed: bool) -> pd.DataFrame:
    """(member, lever, estimated brand gain, true brand gain); every lever targets brand."""
    frame = pd.DataFrame(rows, columns=["member", "lever", "est_brand", "true_brand"])
    frame["pillars"] = [("brand",)] * len(frame)
    for p in PILLARS[1:]:
        frame[f"est_{p}"] = 0.0
        frame[f"true_{p}"] = 0.0
    if listed:
        frame["rank"] = frame.groupby("member").cumcount()
    return frame


def test_a_missed_best_lever_lowers_recall_and_regret() -> None:
    applicable = _table([
        # member 0: the truly best lever `a` is not listed at all (the model thought it weak)
        (0, "a", 0.01, 2.0), (0, "b", 3.0, 1.0), (0, "c", 2.0, 1.5), (0, "d", 1.0, 0.5),
        # member 1: the model ranks the truly best lever first
        (1, "a", 3.0, 2.0), (1, "b", 1.0, 1.0),
        # member 2: nothing truly helps, so there is nothing to find
        (2, "a", 1.0, 0.0), (2, "b", 0.5, 0.01),
        # member 3: a lever truly helps but the model lists nothing
        (3, "a", 0.0, 1.0),
        # member 4: two levers tie for best; the model lists the other one third
        (4, "a", 0.0, 1.0), (4, "b", 3.0, 0.2), (4, "c", 2.0, 0.1), (4, "d", 1.0, 1.0),
    ], listed=False)
    listed = _table([
        (0, "b", 3.0, 1.0), (0, "c", 2.0, 1.5), (0, "d", 1.0, 0.5),
        (1, "a", 3.0, 2.0), (1, "b", 1.0, 1.0),
        (2, "a", 1.0, 0.0),
        (4, "b", 3.0, 0.2), (4, "c", 2.0, 0.1), (4, "d", 1.0, 1.0),
    ], listed=True)
    figures = ranking_figures(applicable, listed)
    assert figures.pairs_without_true_gain == 1
    assert figures.recall_at_3 == [False, True, False, True]
    assert figures.regret == pytest.approx([0.5, 1.0, 0.0, 0.2])
    # Among the listed levers only, member 0 looks much better: the miss is invisible there.
    assert figures.regret_among_listed == pytest.approx([1.0 / 1.5, 1.0, 0.2])


def test_top_three_is_by_the_listed_gain_on_the_pillar() -> None:
    applicable = _table([(0, k, 0.0, t) for k, t in
                         [("a", 0.1), ("b", 0.2), ("c", 0.3), ("d", 0.4), ("e", 2.0)]],
                        listed=False)
    # Listed in document order e first, but by brand gain e is fourth: outside the top three.
    listed = _table([(0, "e", 0.5, 2.0), (0, "a", 4.0, 0.1), (0, "b", 3.0, 0.2),
                     (0, "c", 2.0, 0.3)], listed=True)
    figures = ranking_figures(applicable, listed)
    assert figures.recall_at_3 == [False]
    assert figures.regret == pytest.approx([0.1 / 2.0])


@pytest.fixture(scope="module")
def estimator(trained) -> SSIEstimator:  # type: ignore[no-untyped-def]
    return load_estimator(f"models:/ssi-estimator/{trained.model_version}")


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return validate(simulate_cohort(120, 7)).clean.reset_index(drop=True)


def test_every_applicable_lever_is_scored_in_line_with_the_listed_gains(
        estimator: SSIEstimator, rows: pd.DataFrame) -> None:
    docs = explain_rows(estimator, rows)
    applicable, listed, violations = lever_gains(estimator, rows, docs)
    assert violations == 0
    assert len(applicable) > len(listed) > 0
    # Every listed lever is an applicable one; its listed (rounded) gain is the model gain scored
    # here, and its concrete changes give the same true gain.
    both = listed.merge(applicable, on=["member", "lever"], suffixes=("_listed", ""),
                        validate="one_to_one")
    assert len(both) == len(listed)
    for p in PILLARS:
        assert np.allclose(both[f"est_{p}_listed"], both[f"est_{p}"], atol=0.006)
        assert np.allclose(both[f"true_{p}_listed"], both[f"true_{p}"])
    # Hiding each member's truly best levers from the list: recall must fall to 0, regret < 1.
    best = set()
    for p in PILLARS:
        pool = applicable[applicable["pillars"].map(lambda ps, p=p: p in ps)]
        top = pool[f"true_{p}"] >= pool.groupby("member")[f"true_{p}"].transform("max") - 1e-6
        best |= set(zip(pool["member"][top], pool["lever"][top], strict=True))
    hidden = listed[[(m, lv) not in best for m, lv in zip(listed["member"], listed["lever"],
                                                          strict=True)]]
    honest, blind = ranking_figures(applicable, listed), ranking_figures(applicable, hidden)
    assert np.mean(honest.recall_at_3) > 0.5
    assert not any(blind.recall_at_3)
    assert max(blind.regret) < 1.0 and np.median(blind.regret) < np.median(honest.regret)


def test_lever_quality_on_a_small_cohort_is_a_set_of_shares(estimator: SSIEstimator) -> None:
    quality = evaluate_levers(estimator, members=200)
    assert quality.members == 200
    assert quality.levers_applicable >= quality.levers_listed > 0
    assert quality.pairs_scored > 0 and quality.constraint_violations == 0
    for name in ("validity", "recall_at_3", "regret_ratio_median",
                 "regret_share_at_least_80pct", "regret_among_listed_median"):
        assert 0.0 <= getattr(quality, name) <= 1.0, name
    assert -1.0 <= quality.faithfulness_spearman_median <= 1.0
    # Against every applicable lever the regret can only be worse than among the listed ones.
    assert quality.regret_ratio_median <= quality.regret_among_listed_median
    assert quality.recall_at_3 >= 0.5 and quality.validity >= 0.9


def test_lever_figures_reach_the_run_and_its_evaluation_report(
        trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    quality = LeverQuality(
        members=200, levers_listed=900, levers_applicable=1000, validity=0.99,
        faithfulness_spearman_median=0.8, relative_error_median=0.3, recall_at_3=0.875,
        regret_ratio_median=1.0, regret_share_at_least_80pct=0.7,
        regret_among_listed_median=1.0, pairs_scored=790, pairs_without_true_gain=3,
        constraint_violations=0, stability_share=None)
    logged = log_lever_quality(mlflow.MlflowClient(), trained.run_id, quality)
    assert "levers_stability_share" not in logged  # not measured, so not logged as a number
    metrics = mlflow.MlflowClient().get_run(trained.run_id).data.metrics
    assert metrics["levers_recall_at_3"] == 0.875
    assert metrics["levers_regret_share_at_least_80pct"] == 0.7
    result = evaluate_run(trained.run_id, tmp_path / "eval", with_learning_curve=False)
    text = result.report.read_text()
    section = text[text.index("## Lever quality"):]
    assert SIMULATOR_CAVEAT in section
    assert "| recall@3: truly best applicable lever among the top three listed | 87.5% |" in section
    assert "stability:" not in section  # not measured, so no row


def test_the_report_says_when_levers_were_not_measured() -> None:
    assert "Not measured for this run yet" in "\n".join(_lever_section({"total_mae": 1.0}))


def test_evaluate_levers_cli_says_where_the_figures_come_from(trained) -> None:  # type: ignore[no-untyped-def]
    done = CliRunner().invoke(app, [
        "evaluate-levers", "--model", f"models:/ssi-estimator/{trained.model_version}",
        "--members", "60", "--no-stability"])
    assert done.exit_code == 0, done.output
    figures = json.loads(done.output[done.output.index("{"):done.output.rindex("}") + 1])
    assert figures["members"] == 60 and 0.0 <= figures["recall_at_3"] <= 1.0
    assert SIMULATOR_CAVEAT in done.output
    assert f"to run {trained.run_id}" in done.output
    metrics = mlflow.MlflowClient().get_run(trained.run_id).data.metrics
    assert metrics["levers_members"] == 60
