"""A training run, tracked in MLflow: data, validation, training, holdout metrics, the model.

``train_run`` is what ``ssi train`` and ``make train`` call. It validates the data first (the
quarantine is reported and logged, never trained on), holds out members by a hash of their id,
fits the estimator and the two baselines on the rest, scores all three on the holdout, and logs
config, data fingerprint, metrics, plots, the holdout rows and the model (registered as a new
version of the registry's model, ``SSI_MODEL_NAME``).
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
from mlflow.entities import Metric, Param, RunTag
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from ssi_model.contract import PILLARS
from ssi_model.model.baselines import linear_baseline, predict_linear, rule_of_thumb
from ssi_model.model.config import ExperimentConfig
from ssi_model.model.estimator import PREDICTION_COLUMNS, TOTAL
from ssi_model.model.holdout import (
    baseline_metrics,
    holdout_metrics,
    observed_frame,
    split_holdout,
)
from ssi_model.model.provenance import META_KEY, Provenance
from ssi_model.model.train import FitResult, fit_estimator, labels_frame
from ssi_model.settings import get_settings
from ssi_model.tracking import plots
from ssi_model.tracking.batch import to_model_input
from ssi_model.tracking.data import load_training_data, training_provenance
from ssi_model.tracking.prior import load_prior
from ssi_model.tracking.registry import MODEL_ARTIFACT, Registry
from ssi_model.tracking.store import ensure_experiment
from ssi_model.validation import ValidationResult

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
    provenance: Provenance | None = None


def data_fingerprint(rows: pd.DataFrame) -> str:
    """SHA-256 of the validated rows' contents (column names, order and values)."""
    digest = hashlib.sha256()
    digest.update(",".join(map(str, rows.columns)).encode())
    digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    return digest.hexdigest()












def model_signature() -> ModelSignature:
    """The output schema from the contract, and no input schema: the pyfunc reads its input.

    A typed input schema cannot hold contract files: MLflow refuses int64 for ``double`` ("Can
    not safely convert int64 to float64") and NaN floats or nullable Int64/boolean for
    ``long``/``boolean``, yet a contract CSV read by pandas has int64 columns where every cell is
    filled and float64 where one is blank, and Parquet has Int64, boolean and category columns.
    Columns declared ``any`` accept them, but MLflow then enforces the schema with a Python call
    per cell that checks nothing: 60 % of a batch's time through the pyfunc (2.8x slower than the
    boosters on 100,000 rows). So the pyfunc reads the rows by the contract itself
    (``ProfileBatch.from_frame``, as every scoring path does) and refuses rows without
    ``member_id``; the input example logged with the model shows the columns.
    """
    return ModelSignature(outputs=Schema([
        ColSpec("string" if c == "member_id" else "double", c) for c in PREDICTION_COLUMNS
    ]))


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
    registry: Registry | None = None,
    data: Path | None = None,
    register: bool = True,
    progress: Progress | None = None,
    source: str | None = None,
) -> RunResult:
    """Train, log the run to the registry's store and register a new version of its model.

    ``registry`` (default: from the environment's Settings) says where and under which name; the
    run is written through its client, so MLflow's global tracking URI is neither read nor set.
    ``source``: how the run and the model's provenance name the data (default: the file's path
    or the simulation), for rows written to a temporary file first (the store's export).
    """
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    registry = registry or Registry(get_settings())
    client = registry.client
    say("reading and validating data")
    validated, described = load_training_data(config, data)
    source = source or described
    train, holdout = split_holdout(validated.clean, config.data.holdout_share)
    if len(train) < 100 or len(holdout) < 20:
        from ssi_model.errors import UserError

        raise UserError(
            f"{source}: too few labelled rows to train ({len(train)} train, {len(holdout)} "
            "holdout); need at least 100 and 20"
        )

    experiment_id = ensure_experiment(client, config.mlflow_experiment)
    run = client.create_run(experiment_id, run_name=config.name)
    run_id = run.info.run_id
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = _tracked_run(config, registry, run_id, validated, source, train, holdout,
                                  Path(tmp), register=register, say=say, started=started)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return result


def _tracked_run(config: ExperimentConfig, registry: Registry, run_id: str,
                 validated: ValidationResult, source: str, train: pd.DataFrame,
                 holdout: pd.DataFrame, tmpdir: Path, *, register: bool, say: Progress,
                 started: float) -> RunResult:
    client = registry.client
    fingerprint = data_fingerprint(validated.clean)
    _log(client, run_id, tags={
        "data_source": source,
        "data_fingerprint": fingerprint,
        "experiment_config": config.name,
    })
    params: dict[str, Any] = {k: str(v)[:500] for k, v in _flatten(
        "", config.model_dump(mode="json"), {}).items()}
    params.update({"n_read": validated.n_read, "n_quarantined": validated.n_quarantined,
                   "n_train": len(train), "n_holdout": len(holdout)})
    _log(client, run_id, params=params)
    client.log_text(run_id, yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False),
                    "config.yaml")
    if validated.n_quarantined:
        validated.quarantine.to_csv(tmpdir / "quarantine.csv", index=False)
        client.log_artifact(run_id, str(tmpdir / "quarantine.csv"), "data")
        client.log_dict(run_id, dict(validated.rule_counts()), "data/quarantine_reasons.json")

    prior = None
    if config.prior.enabled:
        say(f"prior: {config.prior.source}")
        prior = load_prior(config, registry)
        _log(client, run_id, tags={"prior_source": prior.source if prior else ""})
    say(f"training on {len(train)} rows")
    fit = fit_estimator(train, config, prior=prior, progress=say)
    estimator = fit.estimator
    _log_choices(client, run_id, fit, config)
    estimator.meta.update({"data_fingerprint": fingerprint, "run_id": run_id})
    # What the model learnt from: saved in its bundle, tagged on the run and the version. The
    # prior counts only where a pillar kept it (``choose: cv`` may train every pillar afresh).
    provenance = training_provenance(config, train, fingerprint=fingerprint, source=source,
                                     prior=estimator.meta.get("prior"))
    estimator.meta[META_KEY] = provenance.to_dict()
    _log(client, run_id, tags=provenance.tags())

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
    _log(client, run_id, metrics=metrics)

    say("plots")
    observed = observed_frame(holdout)
    for name, draw in (
        ("predicted_vs_reported.png",
         lambda p: plots.predicted_vs_reported(observed, predicted, p)),
        ("residuals.png", lambda p: plots.residuals(observed, predicted, p)),
        ("feature_importance.png", lambda p: plots.feature_importance(estimator, p)),
        ("shap_summary.png", lambda p: plots.shap_summary(estimator, holdout, p)),
    ):
        client.log_artifact(run_id, str(draw(tmpdir / name)), "plots")

    holdout_path = tmpdir / "holdout.parquet"
    holdout.to_parquet(holdout_path, index=False)
    client.log_artifact(run_id, str(holdout_path), "holdout")

    say("logging the model")
    estimator.meta["holdout_metrics"] = {
        k: round(v, 4) for k, v in metrics.items()
        if k.split("_")[0] in (TOTAL, *PILLARS) and k.count("_") == 1
    }
    # Saved here and uploaded through the client (mlflow.pyfunc.log_model would need the global
    # tracking URI); the registry version points at the run's folder.
    model_path = tmpdir / MODEL_ARTIFACT
    mlflow.pyfunc.save_model(
        str(model_path),
        python_model=str(PYFUNC_CODE),
        artifacts={"estimator": str(estimator.save(tmpdir / "estimator"))},
        code_paths=[str(PACKAGE_DIR)],
        signature=model_signature(),
        input_example=input_example(holdout),
        pip_requirements=_pip_requirements(),
    )
    client.log_artifacts(run_id, str(model_path), MODEL_ARTIFACT)
    version = ""
    if register:
        version = registry.register(run_id, tags={
            "data_fingerprint": fingerprint,
            "holdout_metrics": json.dumps(estimator.meta["holdout_metrics"]),
            **provenance.tags(),
        })
    seconds = time.perf_counter() - started
    _log(client, run_id, metrics={"train_seconds": seconds})
    return RunResult(
        run_id=run_id,
        model_version=version,
        model_uri=f"runs:/{run_id}/{MODEL_ARTIFACT}",
        metrics=metrics,
        n_train=len(train),
        n_holdout=len(holdout),
        n_quarantined=validated.n_quarantined,
        seconds=seconds,
        provenance=provenance,
    )


def _log_choices(client: mlflow.MlflowClient, run_id: str, fit: FitResult,
                 config: ExperimentConfig) -> None:
    """What each pillar was fitted with; with a search or a prior, every candidate weighed, as a
    nested run per pillar (its trials table and best CV MAE)."""
    _log(client, run_id, params={
        f"chosen.{p}.{k}": v for p, c in fit.choices.items()
        for k, v in (("start", c["start"]), ("label", c["label"]))})
    if len(next(iter(fit.candidates.values()), [])) < 2:
        return
    experiment_id = client.get_run(run_id).info.experiment_id
    for pillar, table in fit.candidates.items():
        child = client.create_run(experiment_id, run_name=f"{config.name}: {pillar} candidates",
                                  tags={"mlflow.parentRunId": run_id, "pillar": pillar})
        cid = child.info.run_id
        chosen = fit.choices[pillar]
        _log(client, cid, params={"pillar": pillar, "candidates": len(table),
                                  "chosen": chosen["label"], "start": chosen["start"]},
             metrics={"best_cv_mae": chosen["cv_mae"]})
        client.log_batch(cid, metrics=[Metric("cv_mae", float(row["cv_mae"]), 0, step)
                                       for step, row in enumerate(table)])
        client.log_table(cid, pd.DataFrame(table), "candidates.json")
        client.set_terminated(cid, "FINISHED")


def _log(client: mlflow.MlflowClient, run_id: str, *, metrics: dict[str, float] | None = None,
         params: dict[str, Any] | None = None, tags: dict[str, str] | None = None) -> None:
    """Metrics, params and tags in batches within MLflow's per-call limits."""
    now = int(time.time() * 1000)
    items: list[Metric | Param | RunTag] = [
        *(Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()),
        *(Param(k, str(v)) for k, v in (params or {}).items()),
        *(RunTag(k, str(v)) for k, v in (tags or {}).items()),
    ]
    for start in range(0, len(items), 100):
        chunk = items[start:start + 100]
        client.log_batch(
            run_id,
            metrics=[i for i in chunk if isinstance(i, Metric)],
            params=[i for i in chunk if isinstance(i, Param)],
            tags=[i for i in chunk if isinstance(i, RunTag)],
        )


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in (
        "mlflow", "lightgbm", "numpy", "pandas", "scikit-learn", "pyyaml", "pydantic")]
