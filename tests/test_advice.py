"""Advice follow-up: the longitudinal simulator's self-selection, adoption read off the later
snapshot, and the plan's effect (weighted difference in differences) against the simulator's
truth, where the adopters' raw change is biased by members who were getting more active anyway."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ssi_model.cli import app
from ssi_model.explain.advice import (
    FollowUps,
    adoption,
    advisor,
    evaluate_advice,
    followups_from_waves,
)
from ssi_model.model.estimator import SSIEstimator
from ssi_model.simulator.waves import ADOPTED_COLUMN, EFFECT_COLUMNS, PLAN_COLUMNS, followup_waves

N, SEED = 700, 2


@pytest.fixture(scope="module")
def waves(fitted_estimator: SSIEstimator) -> pd.DataFrame:
    return followup_waves(N, SEED, advisor(fitted_estimator), waves=2, weeks_between=6,
                          with_truth=True)


def test_followup_waves_carry_plans_adoption_and_truth(waves: pd.DataFrame) -> None:
    assert set(PLAN_COLUMNS) | set(EFFECT_COLUMNS) | {ADOPTED_COLUMN} <= set(waves.columns)
    # Two snapshot dates (a row with an injected typing fault may carry a mistyped date).
    dates = sorted(waves["snapshot_date"].value_counts().index[:2])
    assert waves["snapshot_date"].isin(dates).mean() > 0.98 and (dates[1] - dates[0]).days == 42
    later = waves[waves["snapshot_date"] == dates[1]]
    took = later[ADOPTED_COLUMN].astype(str).ne("")
    effect = later["true_effect_total"].astype(float)
    # Members who adopted nothing have no effect; adopting never lowers the structural score.
    assert np.allclose(effect[~took], 0.0)
    assert (effect >= -1e-9).all() and effect[took].mean() > 0.5
    # Self-selection: adopters were the more active members at the first snapshot.
    first = waves[waves["snapshot_date"] == dates[0]].set_index("member_id")
    drive = first.loc[later["member_id"], "true_drive"].astype(float).to_numpy()
    assert drive[took.to_numpy()].mean() > drive[~took.to_numpy()].mean() + 0.3


def test_later_rows_with_a_typing_fault_get_no_plan_and_are_not_followed_up(
        waves: pd.DataFrame) -> None:
    from ssi_model.validation import validate

    quarantined = validate(waves).quarantine
    later = quarantined[quarantined["true_drive"].notna()]  # first-wave faults carry no truth
    assert len(later) >= 3
    rows = waves.iloc[later["row"].to_numpy() - 1]
    assert rows["plan_levers"].isna().all()  # quarantined: never explained
    pairs = followups_from_waves(waves)
    assert not set(rows["member_id"]) & set(pairs.after["member_id"])


def _post_weekly(rows: pd.DataFrame) -> list[dict[str, object]]:
    """The same one-lever plan for everyone (no model needed)."""
    return [{"levers": [{"id": "post_weekly", "changes": {"posts_90d": 13},
                         "effort_minutes_per_week": 45.0}],
             "gain": {"brand": 0.0, "people": 0.0, "insights": 1.0, "relationships": 0.0,
                      "total": 1.0}}] * len(rows)


def test_drift_between_snapshots_grows_with_the_weeks_between() -> None:
    """Members drift per week: 12 weeks apart, non-adopters have moved several times as far
    as 2 weeks apart, in what they do and in the SSI they report."""
    def moved(weeks: int, column: str) -> float:
        frame = followup_waves(400, 3, _post_weekly, waves=2, weeks_between=weeks)
        pairs = followups_from_waves(frame)
        took = np.array([any(t.values()) for t in adoption(pairs)])
        before = pairs.before[column].astype(float).to_numpy()
        after = pairs.after[column].astype(float).to_numpy()
        return float(np.nanmean(np.abs(after - before)[~took]))

    for column in ("ssi_total", "comments_given_90d"):
        near, far = moved(2, column), moved(12, column)
        assert far > 2 * near, (column, near, far)


def test_adoption_reads_the_changes_in_the_later_snapshot() -> None:
    before = pd.DataFrame({"member_id": ["a", "b", "c"], "posts_90d": [0, 2, 5],
                           "has_banner": [False, False, False]})
    after = pd.DataFrame({"member_id": ["a", "b", "c"], "posts_90d": [13, 12, None],
                          "has_banner": ["True", "False", "True"]})
    plan = {"post_weekly": {"posts_90d": 13}, "add_banner": {"has_banner": True}}
    f = FollowUps(before=before, after=after, plans=[plan] * 3,
                  predicted=pd.DataFrame(0.0, index=range(3),
                                         columns=["brand", "people", "insights",
                                                  "relationships", "total"]),
                  effort=np.zeros(3))
    assert adoption(f) == [{"post_weekly": True, "add_banner": True},
                           {"post_weekly": False, "add_banner": False},
                           {"post_weekly": False, "add_banner": True}]  # unknown: not reached


def test_plan_effect_covers_the_truth_and_the_naive_change_does_not(
        waves: pd.DataFrame) -> None:
    doc = evaluate_advice(followups_from_waves(waves), n_boot=200, seed=0)
    truth = doc["truth"]["total"]["true_effect"]
    lo, hi = doc["plan_effect_total_ci"]
    assert lo <= truth <= hi
    assert not lo <= doc["naive_change_total"] <= hi
    assert doc["naive_change_total"] > hi  # the raw change overstates: drive, not advice
    assert abs(doc["plan_effect_total"] - truth) < abs(doc["naive_change_total"] - truth) / 2
    assert doc["members"] == doc["followups"] and doc["adopters"] > 50
    offered = sum(row["offered"] for row in doc["levers"].values())
    assert offered == sum(len(p) for p in followups_from_waves(waves).plans)
    for p in ("brand", "people", "insights", "relationships"):
        assert {"plan_effect", "plan_effect_ci", "predicted_gain"} <= set(doc["pillars"][p])
    line = doc["total"]["realised_vs_predicted"]
    assert line["slope_ci"][0] <= line["slope"] <= line["slope_ci"][1]


def test_evaluate_advice_cli_on_a_simulated_file(waves: pd.DataFrame, tmp_path: Path) -> None:
    data, out = tmp_path / "followups.csv", tmp_path / "advice.json"
    waves.to_csv(data, index=False)
    result = CliRunner().invoke(app, ["evaluate-advice", "--input", str(data), "--out",
                                      str(out), "--n-boot", "50", "--no-log"])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    for key in ("members", "adopters", "predicted_gain_total", "plan_effect_total",
                "plan_effect_total_ci", "pillars", "levers", "truth"):
        assert key in doc
    assert "effect of following the plan" in result.output
    bad = CliRunner().invoke(app, ["evaluate-advice", "--input", str(tmp_path / "none.csv"),
                                   "--no-log"])
    assert bad.exit_code == 2


def test_issued_plans_in_the_store_are_followed_up(waves: pd.DataFrame,
                                                   fitted_estimator: SSIEstimator,
                                                   tmp_path: Path) -> None:
    """Plans recorded by ``issue_plans`` on the first snapshots, the second snapshots stored
    later: the store's follow-ups give the same adoption as the simulator's own file."""
    from ssi_model.explain.schema import ModelInfo
    from ssi_model.store import ADMIN, SnapshotStore
    from ssi_model.store.advice import (
        export_plans,
        followups_from_store,
        issue_plans,
        plans_after_retraining,
    )

    dates = sorted(waves["snapshot_date"].value_counts().index[:2])
    info = ModelInfo(name="ssi-estimator", version="7")
    with SnapshotStore(f"sqlite:///{tmp_path / 'ssi.db'}") as store:
        store.add_snapshots(waves, ADMIN, consent="training")
        docs = issue_plans(store, fitted_estimator, info, ADMIN, as_of=dates[0].date())
        valid = waves["true_drive"].notna()  # rows with an injected fault are quarantined
        assert len(docs) == (waves["snapshot_date"].eq(dates[0]) & valid).sum()
        plans = export_plans(store, ADMIN)
        followups = followups_from_store(store, ADMIN)
        same = plans_after_retraining(store, fitted_estimator, "7", ADMIN)
        again = plans_after_retraining(store, fitted_estimator, "8", ADMIN)
    # Only plans issued under another version are re-scored; the same model keeps every plan.
    assert same["plans"] == 0 and same["invalidated_share"] is None
    assert again["plans"] == sum(1 for p in plans if p["plan"]) and again["issued_under"] == ["7"]
    assert again["sign_changed"] == 0 and again["lost_half"] == 0
    assert len(plans) == len(docs)
    assert {p["snapshot_date"] for p in plans} == {dates[0].date().isoformat()}
    assert {p["model_version"] for p in plans} == {"7"}
    assert plans[0]["member_id"] and "plan" in plans[0] and "levers" in plans[0]
    from_store = evaluate_advice(followups, n_boot=20)
    from_file = evaluate_advice(followups_from_waves(waves), n_boot=20)
    for key in ("followups", "adopters", "non_adopters", "levers"):
        assert from_store[key] == from_file[key], key
    assert from_store["plan_effect_total"] == pytest.approx(from_file["plan_effect_total"],
                                                            abs=0.05)


def test_the_cli_flow_simulate_issue_export_evaluate(fitted_estimator: SSIEstimator,
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``ssi simulate --weeks-between``, ``store import``, ``explain --from-store --as-of``,
    ``store export-plans`` and ``evaluate-advice`` from the store, with a saved pyfunc model."""
    import mlflow

    from ssi_model.tracking.runs import PYFUNC_CODE

    fitted_estimator.save(tmp_path / "estimator")
    mlflow.pyfunc.save_model(path=str(tmp_path / "model"), python_model=str(PYFUNC_CODE),
                             artifacts={"estimator": str(tmp_path / "estimator")},
                             pip_requirements=["lightgbm"])
    model = str(tmp_path / "model")
    monkeypatch.setenv("SSI_DATABASE_URL", f"sqlite:///{tmp_path / 'ssi.db'}")
    runner = CliRunner()
    data = tmp_path / "followup.csv"
    result = runner.invoke(app, ["simulate", "--n", "60", "--seed", "3", "--waves", "3",
                                 "--weeks-between", "4", "--with-truth", "--model", model,
                                 "--out", str(data)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(data)
    assert frame["snapshot_date"].value_counts().iloc[:3].min() > 50
    assert runner.invoke(app, ["store", "import", str(data)]).exit_code == 0
    issued = tmp_path / "issued.json"
    first = sorted(frame["snapshot_date"].value_counts().index[:3])[0]
    result = runner.invoke(app, ["explain", "--from-store", "--as-of", first, "--model", model,
                                 "--out", str(issued)])
    assert result.exit_code == 0, result.output
    assert "recorded as issued plans" in result.output
    plans_file = tmp_path / "plans.json"
    result = runner.invoke(app, ["store", "export-plans", "--out", str(plans_file)])
    assert result.exit_code == 0, result.output
    plans = json.loads(plans_file.read_text())
    assert len(plans) == len(json.loads(issued.read_text())) > 50
    assert {p["snapshot_date"] for p in plans} == {first}
    out = tmp_path / "advice.json"
    result = runner.invoke(app, ["evaluate-advice", "--out", str(out), "--n-boot", "20",
                                 "--no-log"])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    # A plan is followed up when a later snapshot of the member was stored (not quarantined).
    from ssi_model.validation import validate

    clean = validate(frame).clean
    later = set(clean.loc[clean["snapshot_date"] > pd.Timestamp(first), "member_id"])
    followed = [p for p in plans if p["plan"] and p["member_id"] in later]
    assert len(followed) >= len(plans) - 3
    assert doc["followups"] == len(followed) and "truth" not in doc


def test_rescoring_counts_plans_whose_gain_changed_sign_or_halved(
        waves: pd.DataFrame, fitted_estimator: SSIEstimator) -> None:
    from ssi_model.contract import CONTRACT
    from ssi_model.explain import explain_rows
    from ssi_model.explain.advice import rescore_plans

    rows = CONTRACT.to_records(waves[waves["true_drive"].notna()].head(40))
    docs = [d.model_dump(mode="json") for d in explain_rows(fitted_estimator, rows)]
    issued = [(d, r) for d, r in zip(docs, rows, strict=True) if d["plan"]][:12]
    assert len(issued) >= 9
    assert rescore_plans(fitted_estimator, issued)["invalidated_share"] == 0.0
    # Pretend three plans promised a loss and three promised three times what the model says.
    for k, (doc, _) in enumerate(issued[:6]):
        gain = doc["plan"]["gain"]["total"]
        doc["plan"]["gain"]["total"] = -gain if k < 3 else 3 * gain
    result = rescore_plans(fitted_estimator, issued)
    assert (result["plans"], result["sign_changed"], result["lost_half"]) == (len(issued), 3, 3)
    assert result["invalidated_share"] == pytest.approx(6 / len(issued), abs=1e-4)


@pytest.mark.model  # two versions trained and registered in a real MLflow store
def test_promotion_rescores_the_plans_issued_under_the_old_champion(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two registered versions: plans issued under version 1 are re-scored when version 2 is
    promoted, and the invalidated share is logged to version 2's run."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("SSI_MODEL_NAME", "advice-ssi")
    monkeypatch.setenv("SSI_DATABASE_URL", f"sqlite:///{tmp_path / 'ssi.db'}")
    runner = CliRunner()
    root = Path(__file__).resolve().parents[1]
    for seed in (11, 12):
        config = tmp_path / f"tiny{seed}.yaml"
        config.write_text(
            f"extends: {root / 'experiments' / 'default.yaml'}\nname: tiny\n"
            f"data: {{simulate: {{n: 1200, seed: {seed}}}}}\n"
            "model: {cv_folds: 2, num_boost_round: 60, early_stopping_rounds: 10}\n",
            encoding="utf-8")
        result = runner.invoke(app, ["train", "--config", str(config)])
        assert result.exit_code == 0, result.output
        if seed == 11:
            assert runner.invoke(app, ["promote", "--force"]).exit_code == 0
            data = tmp_path / "history.csv"
            assert runner.invoke(app, ["simulate", "--n", "30", "--seed", "4", "--waves", "2",
                                       "--out", str(data)]).exit_code == 0
            assert runner.invoke(app, ["store", "import", str(data)]).exit_code == 0
            result = runner.invoke(app, ["explain", "--from-store", "--out",
                                         str(tmp_path / "issued.json")])
            assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["promote", "--force"])
    assert result.exit_code == 0, result.output
    assert "issued plans re-scored with version 2" in result.output
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.get_run(client.get_model_version("advice-ssi", "2").run_id)
    assert 0.0 <= run.data.metrics["advice_rescored_invalidated_share"] <= 1.0
    assert run.data.metrics["advice_rescored_plans"] > 20
    # evaluate-advice from the store: the re-scoring is shown, the figures logged to the run.
    result = runner.invoke(app, ["evaluate-advice", "--out", str(tmp_path / "advice.json"),
                                 "--n-boot", "20"])
    assert result.exit_code == 0, result.output
    assert "re-scored with version 2" in result.output and "logged as advice_*" in result.output
    doc = json.loads((tmp_path / "advice.json").read_text())
    assert doc["plans_after_retraining"]["issued_under"] == ["1"]
    assert "advice_members" in client.get_run(run.info.run_id).data.metrics


def test_the_evaluation_report_shows_the_advice_section(waves: pd.DataFrame) -> None:
    from ssi_model.explain.advice import advice_metrics
    from ssi_model.tracking.evaluate import _advice_section

    assert _advice_section({"mae_total": 3.0}) == []
    metrics = advice_metrics(evaluate_advice(followups_from_waves(waves), n_boot=20))
    assert {"advice_plan_effect_total", "advice_true_effect_total",
            "advice_naive_change_total"} <= set(metrics)
    text = "\n".join(_advice_section(metrics))
    assert "## Advice follow-up" in text and "effect of following the plan" in text
