"""The benchmark's data and model: a simulated cohort, and a model trained by ``train_run``
and registered (champion) in a temporary MLflow store."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Sizes, log
from benchmarks.lightgbm_floor import TrainCall, recording_training


@dataclasses.dataclass
class Setup:
    sizes: Sizes
    config: Any
    train: Any  # typed contract rows with labels, exactly sizes.train_rows of them
    clean: Any  # every validated row of the cohort
    version: str
    model_uri: str
    n_train_registered: int
    register_seconds: float
    registered_fit: tuple[float, list[TrainCall]] | None  # the registered model's own fit


def simulated_rows(config: Any, train_rows: int) -> tuple[Any, Any, Any, int]:
    """A simulated cohort with ``train_rows`` training rows after the holdout split."""
    from ssi_model.model.holdout import split_holdout
    from ssi_model.simulator import simulate_cohort
    from ssi_model.validation import validate

    share = config.data.holdout_share
    n = math.ceil(train_rows / (1 - share) / 0.97) + 100  # ~1.5 % quarantined
    clean = validate(simulate_cohort(n, config.data.simulate.seed)).clean
    train, holdout = split_holdout(clean, share)
    return train.head(train_rows).reset_index(drop=True), holdout, clean, n


def prepare(sizes: Sizes, store: Path, work: Path) -> Setup:
    """Simulate, train and register a model in the temporary store; make it champion.

    The model is trained by ``train_run`` (what ``ssi train`` runs) on exactly the benchmark's
    training rows plus the holdout, so its ``fit_estimator`` call is the first training repeat.
    """
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store / 'mlflow.db'}"
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    import pandas as pd

    from ssi_model.io import write_table
    from ssi_model.model.config import load_config
    from ssi_model.settings import get_settings
    from ssi_model.tracking import runs
    from ssi_model.tracking.registry import Registry

    registry = Registry(get_settings())
    config = load_config(ROOT / "experiments" / "default.yaml")
    train, holdout, clean, n = simulated_rows(config, sizes.train_rows)
    data = write_table(pd.concat([train, holdout], ignore_index=True), work / "rows.parquet")
    log(f"cohort: {n} simulated, {len(clean)} valid, {len(train)} training rows; "
        "training and registering the benchmark model")
    fits: list[tuple[float, list[TrainCall]]] = []
    original = runs.fit_estimator

    def timed_fit(*args: Any, **kwargs: Any) -> Any:
        with recording_training() as calls:
            started = time.perf_counter()
            result = original(*args, **kwargs)
            fits.append((time.perf_counter() - started, calls))
        return result

    started = time.perf_counter()
    runs.fit_estimator = timed_fit  # type: ignore[assignment]
    try:
        run = runs.train_run(config, registry=registry, data=data)
    finally:
        runs.fit_estimator = original
    seconds = time.perf_counter() - started
    registry.promote(run.model_version, force=True)
    same_rows = len(fits) == 1 and run.n_train == len(train)
    return Setup(sizes=sizes, config=config, train=train, clean=clean, version=run.model_version,
                 model_uri=registry.version_uri(run.model_version),
                 n_train_registered=run.n_train, register_seconds=seconds,
                 registered_fit=fits[0] if same_rows else None)


def tiled(rows: Any, n: int) -> Any:
    """``n`` rows by repeating the cohort, each with its own member_id."""
    import pandas as pd

    reps = math.ceil(n / len(rows))
    out = pd.concat([rows] * reps, ignore_index=True).head(n)
    out["member_id"] = pd.array([f"bench-{i:07d}" for i in range(n)], dtype="string")
    return out
