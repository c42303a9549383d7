"""A training run, tracked in MLflow: data, validation, training, holdout metrics, the model.

``train_run`` is what ``ssi train`` and ``make train`` call. It validates the data first (the
quarantine is reported and logged, never trained on), holds out members by a hash of their id,
fits the estimator and the two baselines on the rest, scores all three on the holdout, and logs
config, data fingerprint, metrics, plots, the holdout rows and the model (registered as a new
version of ``ssi-estimator``).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import yaml
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from ssi_model.contract import CONTRACT, PILLARS
from ssi_model.model.baselines import linear_baseline, predict_linear, rule_of_thumb
from ssi_model.model.config import ExperimentConfig
from ssi_model.model.estimator import PREDICTION_COLUMNS, TOTAL
from ssi_model.model.holdout import (
    baseline_metrics,
    holdout_metrics,
    observed_frame,
    split_holdout,
)
from ssi_model.model.train import fit_estimator, labels_frame
from ssi_model.tracking import plots
from ssi_model.tracking.batch import to_model_input
from ssi_model.tracking.data import load_training_data
from ssi_model.tracking.store import configure_mlflow, use_experiment

HOLDOUT_ARTIFACT = "holdout/holdout.parquet"
PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
PACKAGE_DIR = Path(__file__).resolve().parents[1]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RunResult:
    run_id: str
    model_version: str
    model_uri: str
    metrics: dict[str, float]
    n_train: int
    n_holdout: int
    n_quarantined: int
    seconds: float


def data_fingerprint(rows: pd.DataFrame) -> str:
    """SHA-256 of the validated rows' contents (column names, order and values)."""
    digest = hashlib.sha256()
    digest.update(",".join(map(str, rows.columns)).encode())
    digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def model_signature() -> ModelSignature:
    """Input and output schema from the contract: every input optional but member_id."""
    kinds = {"int": "double", "float": "double", "bool": "boolean", "category": "string",
             "string": "string", "date": "datetime"}
    inputs = Schema([
        ColSpec(kinds[CONTRACT[c].kind], c, required=CONTRACT[c].required and c == "member_id")
        for c in CONTRACT.input_columns if c != "snapshot_date"
    ])
    outputs = Schema([ColSpec("string" if c == "member_id" else "double", c)
                      for c in PREDICTION_COLUMNS])
    return ModelSignature(inputs=inputs, outputs=outputs)


def input_example(rows: pd.DataFrame) -> pd.DataFrame:
    """A two-row example from the holdout with the ids replaced (no member data leaves)."""
    example = to_model_input(rows.head(2)).reset_index(drop=True)
    example["member_id"] = ["example-1", "example-2"][: len(example)]
    return example


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value
    return out


def train_run(
    config: ExperimentConfig,
    *,
    data: Path | None = None,
    register: bool = True,
    progress: Progress | None = None,
) -> RunResult:
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    configure_mlflow()
    say("reading and validating data")
    validated, source = load_training_data(config, data)
    train, holdout = split_holdout(validated.clean, config.data.holdout_share)
    if len(train) < 100 or len(holdout) < 20:
        from ssi_model.errors import UserError

        raise UserError(
            f"{source}: too few labelled rows to train ({len(train)} train, {len(holdout)} "
            "holdout); need at least 100 and 20"
        )

    use_experiment(config.mlflow_experiment)
    with mlflow.start_run(run_name=config.name) as run, tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        fingerprint = data_fingerprint(validated.clean)
        mlflow.set_tags({
            "data_source": source,
            "data_fingerprint": fingerprint,
            "experiment_config": config.name,
        })
        mlflow.log_params({k: str(v)[:500] for k, v in _flatten(
            "", config.model_dump(mode="json"), {}).items()})
        mlflow.log_params({"n_read": validated.n_read, "n_quarantined": validated.n_quarantined,
                           "n_train": len(train), "n_holdout": len(holdout)})
        mlflow.log_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False),
                        "config.yaml")
        if validated.n_quarantined:
            validated.quarantine.to_csv(tmpdir / "quarantine.csv", index=False)
            mlflow.log_artifact(str(tmpdir / "quarantine.csv"), "data")
            mlflow.log_dict(dict(validated.rule_counts()), "data/quarantine_reasons.json")

        say(f"training on {len(train)} rows")
        fit = fit_estimator(train, config, progress=say)
        estimator = fit.estimator
        estimator.meta.update({"data_fingerprint": fingerprint, "run_id": run.info.run_id})

        say("scoring the holdout and the baselines")
        metrics, predicted = holdout_metrics(estimator, holdout)
        features_train = estimator.features(train)
        linear = linear_baseline(features_train, labels_frame(train), estimator.blocks,
                                 estimator.builder.categorical_features_,
                                 config.baselines.linear_alpha)
        metrics.update(baseline_metrics(
            predict_linear(linear, estimator.features(holdout), estimator.blocks),
            rule_of_thumb(holdout), holdout))
        metrics.update({f"cv_{p}_mae": v for p, v in fit.cv_mae.items()})
        mlflow.log_metrics(metrics)

        say("plots")
        observed = observed_frame(holdout)
        for name, draw in (
            ("predicted_vs_reported.png",
             lambda p: plots.predicted_vs_reported(observed, predicted, p)),
            ("residuals.png", lambda p: plots.residuals(observed, predicted, p)),
            ("feature_importance.png", lambda p: plots.feature_importance(estimator, p)),
            ("shap_summary.png", lambda p: plots.shap_summary(estimator, holdout, p)),
        ):
            mlflow.log_artifact(str(draw(tmpdir / name)), "plots")

        holdout_path = tmpdir / "holdout.parquet"
        holdout.to_parquet(holdout_path, index=False)
        mlflow.log_artifact(str(holdout_path), "holdout")

        say("logging the model")
        estimator.meta["holdout_metrics"] = {
            k: round(v, 4) for k, v in metrics.items()
            if k.split("_")[0] in (TOTAL, *PILLARS) and k.count("_") == 1
        }
        model_dir = estimator.save(tmpdir / "estimator")
        info = mlflow.pyfunc.log_model(
            name="ssi-estimator",
            python_model=str(PYFUNC_CODE),
            artifacts={"estimator": str(model_dir)},
            code_paths=[str(PACKAGE_DIR)],
            signature=model_signature(),
            input_example=input_example(holdout),
            registered_model_name=config.registered_model if register else None,
            pip_requirements=_pip_requirements(),
        )
        version = str(info.registered_model_version or "")
        if register and version:
            client = mlflow.MlflowClient()
            client.set_model_version_tag(config.registered_model, version, "data_fingerprint",
                                         fingerprint)
            client.set_model_version_tag(config.registered_model, version, "holdout_metrics",
                                         json.dumps(estimator.meta["holdout_metrics"]))
        seconds = time.perf_counter() - started
        mlflow.log_metric("train_seconds", seconds)
    return RunResult(
        run_id=run.info.run_id,
        model_version=version,
        model_uri=info.model_uri,
        metrics=metrics,
        n_train=len(train),
        n_holdout=len(holdout),
        n_quarantined=validated.n_quarantined,
        seconds=seconds,
    )


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in (
        "mlflow", "lightgbm", "numpy", "pandas", "scikit-learn", "pyyaml", "pydantic")]
