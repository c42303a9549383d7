"""Evaluation report of a training run: metrics, baselines, noise floor, learning curve, plots.

On simulated data the holdout carries the simulator's best possible prediction per member (the
median of the reported label over many draws of hidden factors and reporting noise), so the report
can say how far the model is from the best any model could do: its MAE as a ratio to that floor.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import pandas as pd
from matplotlib.figure import Figure
from mlflow.entities import Metric

from ssi_model.contract import PILLARS
from ssi_model.errors import UserError
from ssi_model.model.config import ExperimentConfig
from ssi_model.model.estimator import TOTAL
from ssi_model.model.holdout import observed_frame, split_holdout
from ssi_model.model.metrics import (
    MIN_SEGMENT,
    interval_metrics,
    point_metrics,
    segment_coverage,
)
from ssi_model.model.prior import PriorModel
from ssi_model.model.train import fit_estimator
from ssi_model.settings import get_settings
from ssi_model.tracking.data import load_training_data
from ssi_model.tracking.prior import load_prior
from ssi_model.tracking.registry import Registry
from ssi_model.tracking.runs import HOLDOUT_ARTIFACT, data_fingerprint
from ssi_model.tracking.store import client_for

if TYPE_CHECKING:
    from ssi_model.explain.evaluate import LeverQuality

TARGETS = (TOTAL, *PILLARS)
LEARNING_CURVE_SIZES = (500, 1000, 2000, 5000)  # and always the whole training set
Progress = Callable[[str], None]


@dataclass
class Evaluation:
    run_id: str
    metrics: dict[str, float]
    noise_floor: dict[str, float] | None
    learning_curve: pd.DataFrame | None
    report: Path


def latest_run_id(experiment: str = "ssi-model", client: mlflow.MlflowClient | None = None) -> str:
    client = client or client_for(get_settings())
    exp = client.get_experiment_by_name(experiment)
    runs = [] if exp is None else client.search_runs(
        [exp.experiment_id], filter_string="attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"], max_results=100)
    # A training run's nested runs (its candidates per pillar) start after it: skip them.
    runs = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    if not runs:
        raise UserError("no finished training run found: run `make train` first")
    return str(runs[0].info.run_id)


def noise_floor(holdout: pd.DataFrame) -> dict[str, float] | None:
    """MAE of the simulator's best possible predictor on the holdout, per target."""
    best_cols = [f"best_ssi_{t}" for t in TARGETS]
    if not all(c in holdout.columns for c in best_cols):
        return None
    observed = observed_frame(holdout)
    return {
        t: point_metrics(observed[f"ssi_{t}"].to_numpy(),
                         holdout[f"best_ssi_{t}"].astype(float).to_numpy())["mae"]
        for t in TARGETS
    }


def learning_curve(config: ExperimentConfig, train: pd.DataFrame, holdout: pd.DataFrame,
                   sizes: tuple[int, ...] = LEARNING_CURVE_SIZES,
                   progress: Progress | None = None, *,
                   registry: Registry | None = None) -> pd.DataFrame:
    """Holdout MAE and interval coverage when training on the first N rows of a seeded shuffle of
    the training set, at each size and for the whole set ("all").

    With a prior in the config, each size is trained twice: with the prior (``variant`` prior)
    and from scratch (the same config without it), so the report shows what the prior is worth
    at each amount of reported data. ``role_coverage_min``: the lowest total-interval coverage
    over role families with at least ``MIN_SEGMENT`` holdout members.
    """
    say = progress or (lambda _m: None)
    shuffled = train.sample(frac=1.0, random_state=config.seed).reset_index(drop=True)
    observed = observed_frame(holdout)
    variants: list[tuple[str, ExperimentConfig, PriorModel | None]] = [
        ("scratch", config.model_copy(update={
            "prior": config.prior.model_copy(update={"source": "none"})}), None)]
    if config.prior.enabled:
        variants.insert(0, ("prior", config, load_prior(config, registry)))
    rows = []
    for n in sorted({*(min(n, len(shuffled)) for n in sizes), len(shuffled)}):
        for variant, cfg, prior in variants:
            say(f"learning curve: {n} rows, {variant}")
            estimator = fit_estimator(shuffled.head(n), cfg, prior=prior).estimator
            predicted = estimator.predict(holdout)
            row: dict[str, object] = {"rows": n, "variant": variant}
            for t in TARGETS:
                y = observed[f"ssi_{t}"].to_numpy()
                row[f"{t}_mae"] = point_metrics(y, predicted[f"ssi_{t}"])["mae"]
                row[f"{t}_coverage"] = interval_metrics(
                    y, predicted[f"ssi_{t}_lo"], predicted[f"ssi_{t}_hi"])["coverage"]
            segments = segment_coverage(observed["ssi_total"].to_numpy(),
                                        predicted["ssi_total_lo"], predicted["ssi_total_hi"],
                                        holdout["role_family"])
            row["role_coverage_min"] = min(segments.values()) if segments else float("nan")
            rows.append(row)
    return pd.DataFrame(rows)


def _plot_curve(curve: pd.DataFrame, floor: dict[str, float] | None, path: Path) -> Path:
    fig = Figure(figsize=(20, 3.8))
    axes = fig.subplots(1, 5)
    for ax, t in zip(axes, TARGETS, strict=True):
        for variant, part in curve.groupby("variant", sort=False):
            ax.plot(part["rows"], part[f"{t}_mae"], marker="o", label=str(variant))
        if floor:
            ax.axhline(floor[t], color="tab:green", ls="--", label="noise floor")
        ax.set(xscale="log", title=t, xlabel="training rows", ylabel="holdout MAE")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def evaluate_run(run_id: str | None, out: Path, *, with_learning_curve: bool = True,
                 sizes: tuple[int, ...] = LEARNING_CURVE_SIZES,
                 progress: Progress | None = None) -> Evaluation:
    say = progress or (lambda _m: None)
    client = client_for(get_settings())
    run_id = run_id or latest_run_id(client=client)
    run = client.get_run(run_id)
    metrics = run.data.metrics
    logged = _load_config_artifact(client, run_id)
    logged.pop("registered_model", None)  # runs before the name moved to SSI_MODEL_NAME
    config = ExperimentConfig.model_validate(logged)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ssi-holdout-") as tmp:
        holdout = pd.read_parquet(client.download_artifacts(run_id, HOLDOUT_ARTIFACT, tmp))
    floor = noise_floor(holdout)

    curve = None
    if with_learning_curve:
        source = run.data.tags.get("data_source", "")
        data = None if source.startswith("simulated:") else Path(source)
        validated, _ = load_training_data(config, data)
        if data_fingerprint(validated.clean) != run.data.tags.get("data_fingerprint"):
            raise UserError(f"the data behind run {run_id} changed since training ({source}); "
                            "the learning curve needs the same data")
        train, _ = split_holdout(validated.clean, config.data.holdout_share)
        curve = learning_curve(config, train, holdout, sizes, say,
                               registry=Registry(get_settings()))
        curve.to_csv(out / "learning_curve.csv", index=False)
        _plot_curve(curve, floor, out / "learning_curve.png")

    for name in ("predicted_vs_reported.png", "residuals.png", "feature_importance.png",
                 "shap_summary.png"):
        try:
            local = client.download_artifacts(run_id, f"plots/{name}", str(out))
            Path(local).replace(out / name)
        except Exception:
            continue

    report = out / "evaluation.md"
    report.write_text(_markdown(run_id, run.data.tags, metrics, floor, curve), encoding="utf-8")
    client.log_artifacts(run_id, str(out), artifact_path="evaluation")
    if floor:
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[
            *(Metric(f"noise_floor_{t}_mae", v, now, 0) for t, v in floor.items()),
            *(Metric(f"{t}_mae_over_floor", metrics[f"{t}_mae"] / v, now, 0)
              for t, v in floor.items() if v > 0)])
    return Evaluation(run_id=run_id, metrics=metrics, noise_floor=floor, learning_curve=curve,
                      report=report)


def _load_config_artifact(client: mlflow.MlflowClient, run_id: str) -> dict[str, object]:
    import yaml

    with tempfile.TemporaryDirectory(prefix="ssi-config-") as tmp:
        text = Path(client.download_artifacts(run_id, "config.yaml", tmp)).read_text(
            encoding="utf-8")
    loaded = yaml.safe_load(text)
    return dict(loaded)


def _markdown(run_id: str, tags: dict[str, str], m: dict[str, float],
              floor: dict[str, float] | None, curve: pd.DataFrame | None) -> str:
    parts = [
        f"# Evaluation of run `{run_id}`",
        "",
        f"- experiment config: `{tags.get('experiment_config', '?')}`",
        f"- data: `{tags.get('data_source', '?')}` (fingerprint `"
        f"{tags.get('data_fingerprint', '?')[:12]}…`)",
        f"- trained on: {tags.get('trained_on', 'not recorded')} "
        f"({tags.get('n_reported', '?')} reported scores)",
        "- every figure is on the holdout: members held out by a hash of their id, never "
        "trained on",
        "",
        "## Accuracy and intervals",
        "",
    ]
    rows = []
    for t in TARGETS:
        row = [t, f"{m[f'{t}_mae']:.3f}", f"{m[f'{t}_rmse']:.3f}", f"{m[f'{t}_r2']:.3f}",
               f"{m[f'{t}_coverage']:.1%}", f"{m[f'{t}_interval_width']:.2f}",
               f"{m[f'baseline_linear_{t}_mae']:.3f}", f"{m[f'baseline_rule_{t}_mae']:.3f}"]
        if floor:
            row += [f"{floor[t]:.3f}", f"{m[f'{t}_mae'] / floor[t]:.3f}"]
        rows.append(row)
    header = ["target", "MAE", "RMSE", "R²", "90 % coverage", "interval width",
              "linear MAE", "rule-of-thumb MAE"]
    if floor:
        header += ["noise floor MAE", "MAE / floor"]
    parts.append(_table(header, rows))
    if floor:
        parts += ["", "The noise floor is the MAE of the best possible predictor: for each member, "
                  "the median of the reported label over many draws of the simulator's hidden "
                  "factors and reporting noise. No model can beat it on average."]
    segments = sorted((k, v) for k, v in m.items() if k.startswith("total_mae_"))
    if segments:
        parts += ["", "## MAE of the total by segment", "",
                  _table(["segment", "MAE"], [[k.removeprefix("total_mae_"), f"{v:.3f}"]
                                               for k, v in segments])]
    if curve is not None and len(curve):
        parts += ["", "## Learning curve", "",
                  "Trained on the first N rows of a seeded shuffle of this run's training rows and "
                  "scored on the same holdout; `all` is every training row. With a prior in the "
                  "experiment, each size is trained with it and from scratch. Coverage is the "
                  "share of holdout members inside the interval; the last column is the lowest "
                  f"coverage of the total over role families with at least {MIN_SEGMENT} holdout "
                  "members.", "",
                  _table(["training rows", "variant", *[f"{t} MAE" for t in TARGETS],
                          *(["total MAE / floor"] if floor else []),
                          *[f"{t} coverage" for t in TARGETS], "role families, lowest"],
                         [[str(int(r["rows"])), str(r["variant"]),
                           *[f"{r[f'{t}_mae']:.3f}" for t in TARGETS],
                           *([f"{r[f'{TOTAL}_mae'] / floor[TOTAL]:.3f}"] if floor else []),
                           *[f"{r[f'{t}_coverage']:.1%}" for t in TARGETS],
                           f"{r['role_coverage_min']:.1%}"]
                          for _, r in curve.iterrows()]),
                  "", "![learning curve](learning_curve.png)"]
    parts += _coverage_section(m)
    parts += _lever_section(m)
    parts += _advice_section(m)
    parts += ["", "## Plots", "", "![predicted vs reported](predicted_vs_reported.png)", "",
              "![residuals](residuals.png)", "", "![feature importance](feature_importance.png)",
              "", "![SHAP summary](shap_summary.png)", ""]
    return "\n".join(parts)


def _coverage_section(m: dict[str, float]) -> list[str]:
    prefix = f"{TOTAL}_coverage_role_family_"
    rows = [[k.removeprefix(prefix), f"{v:.1%}"] for k, v in sorted(m.items())
            if k.startswith(prefix)]
    if not rows:
        return []
    return ["", "## Interval coverage by role family", "",
            f"The total's interval on the holdout, for role families with at least {MIN_SEGMENT} "
            "holdout members (the intervals are calibrated on this run's own reported scores).",
            "", _table(["role family", "coverage"], rows)]


# -- lever quality ------------------------------------------------------------------------------

LEVER_PREFIX = "levers_"
# (metric, label, format): the figures of `ssi evaluate-levers`, in reading order.
LEVER_FIGURES = (
    ("members", "simulated members", "{:.0f}"),
    ("levers_applicable", "applicable catalogue levers scored", "{:.0f}"),
    ("levers_listed", "levers listed in the explanations", "{:.0f}"),
    ("validity", "validity: listed levers that truly raise their pillar", "{:.1%}"),
    ("faithfulness_spearman_median",
     "faithfulness: median Spearman of model vs true gains (all applicable levers)", "{:.3f}"),
    ("relative_error_median", "median relative error of the model gain (all applicable)",
     "{:.1%}"),
    ("recall_at_3", "recall@3: truly best applicable lever among the top three listed",
     "{:.1%}"),
    ("regret_ratio_median", "regret: median true gain of the top listed lever / best applicable",
     "{:.3f}"),
    ("regret_share_at_least_80pct", "share of pillars where that ratio is at least 0.8",
     "{:.1%}"),
    ("regret_among_listed_median", "the same ratio against the best listed lever only", "{:.3f}"),
    ("pairs_without_true_gain", "member pillars where no applicable lever truly helps",
     "{:.0f}"),
    ("constraint_violations", "constraint violations", "{:.0f}"),
    ("stability_share", "stability: top-3 agreement of two bootstrap models", "{:.1%}"),
)


def log_lever_quality(client: mlflow.MlflowClient, run_id: str,
                      quality: LeverQuality) -> dict[str, float]:
    """Log ``ssi evaluate-levers``' figures to a training run, as ``levers_*`` metrics.

    The evaluation report of that run (``ssi evaluate``) then shows them in its lever section.
    """
    from mlflow.entities import Metric

    metrics = quality.metrics()
    stamp = int(time.time() * 1000)
    client.log_batch(
        run_id, metrics=[Metric(k, v, stamp, 0) for k, v in metrics.items()])
    return metrics


def _lever_section(m: dict[str, float]) -> list[str]:
    heading = ["", "## Lever quality", ""]
    if not any(k.startswith(LEVER_PREFIX) for k in m):
        return [*heading, "Not measured for this run yet: `ssi evaluate-levers --model <this "
                "run's model>` measures the levers and logs the figures to the run."]
    rows = [[label, fmt.format(m[LEVER_PREFIX + key])] for key, label, fmt in LEVER_FIGURES
            if LEVER_PREFIX + key in m]
    return [
        *heading,
        "Every figure here is measured on our own simulator (its noiseless structural truth), "
        "not on real members. Each simulated member is explained, then every catalogue lever "
        "that applies to the member is scored by the model and by the simulator's noiseless "
        "formula, so a good lever the model missed counts against it. Recall and regret count "
        "only member pillars where some applicable lever truly gains at least 0.05 points; "
        "where nothing listed targets such a pillar, the regret ratio is 0.",
        "",
        _table(["figure", "value"], rows),
    ]


# -- advice follow-up ---------------------------------------------------------------------------

# (metric, label, format): the figures `ssi evaluate-advice` and `ssi promote` log to a run.
ADVICE_FIGURES = (
    ("advice_members", "members with an issued plan and a later snapshot", "{:.0f}"),
    ("advice_adopters", "adopters (took every lever of their plan)", "{:.0f}"),
    ("advice_predicted_gain_total", "predicted gain of the adopters' plans (total)", "{:+.2f}"),
    ("advice_plan_effect_total", "effect of following the plan (weighted DiD)", "{:+.2f}"),
    ("advice_plan_effect_total_lo", "  90 % interval, low", "{:+.2f}"),
    ("advice_plan_effect_total_hi", "  90 % interval, high", "{:+.2f}"),
    ("advice_naive_change_total", "adopters' raw change (overstates: self-selection)", "{:+.2f}"),
    ("advice_true_effect_total", "simulator's true effect (simulated follow-ups only)", "{:+.2f}"),
    ("advice_total_slope", "realised change on predicted gain: slope", "{:.2f}"),
    ("advice_rescored_plans", "issued plans re-scored at this model's promotion", "{:.0f}"),
    ("advice_rescored_invalidated_share", "of which changed sign or lost over half their gain",
     "{:.1%}"),
)


def _advice_section(m: dict[str, float]) -> list[str]:
    rows = [[label, fmt.format(m[key])] for key, label, fmt in ADVICE_FIGURES if key in m]
    if not rows:
        return []
    return ["", "## Advice follow-up", "",
            "Issued plans followed up against the member's next snapshot (`ssi evaluate-advice`; "
            "observational: adopters against non-adopters who looked alike on the first "
            "snapshot).", "", _table(["figure", "value"], rows)]
