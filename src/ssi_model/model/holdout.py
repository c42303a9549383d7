"""Holdout scoring: which members are held out, and the model's and baselines' metrics on them.

Pure functions of rows and an estimator (no MLflow): ``tracking.runs`` logs what they return,
``tracking.registry`` re-scores a candidate with them before promotion.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ssi_model.contract import PILLAR_LABELS, PILLARS, TOTAL_LABEL
from ssi_model.model.estimator import TOTAL, SSIEstimator
from ssi_model.model.metrics import (
    interval_metrics,
    point_metrics,
    segment_coverage,
    segment_mae,
)
from ssi_model.model.train import holdout_mask, labels_frame


def split_holdout(rows: pd.DataFrame, share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    labelled = rows[rows[[*PILLAR_LABELS.values()]].notna().all(axis=1)]
    mask = holdout_mask(labelled["member_id"], share)
    return labelled[~mask].reset_index(drop=True), labelled[mask].reset_index(drop=True)


def observed_frame(rows: pd.DataFrame) -> pd.DataFrame:
    obs = labels_frame(rows)
    out = {f"ssi_{p}": obs[p].to_numpy() for p in PILLARS}
    out["ssi_total"] = rows[TOTAL_LABEL].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    return pd.DataFrame(out, index=rows.index)


def holdout_metrics(estimator: SSIEstimator, holdout: pd.DataFrame) -> tuple[dict[str, float],
                                                                                pd.DataFrame]:
    """Model metrics on held-out rows: MAE, RMSE, R², coverage and width, per-segment MAE."""
    predicted = estimator.predict(holdout).to_frame()
    observed = observed_frame(holdout)
    metrics: dict[str, float] = {}
    for name in (TOTAL, *PILLARS):
        y = observed[f"ssi_{name}"].to_numpy()
        p = predicted[f"ssi_{name}"].to_numpy(dtype=float)
        for k, v in point_metrics(y, p).items():
            if k != "n":
                metrics[f"{name}_{k}"] = v
        iv = interval_metrics(y, predicted[f"ssi_{name}_lo"].to_numpy(float),
                              predicted[f"ssi_{name}_hi"].to_numpy(float))
        metrics[f"{name}_coverage"] = iv["coverage"]
        metrics[f"{name}_interval_width"] = iv["width"]
        for family, share in segment_coverage(
                y, predicted[f"ssi_{name}_lo"].to_numpy(float),
                predicted[f"ssi_{name}_hi"].to_numpy(float), holdout["role_family"]).items():
            metrics[f"{name}_coverage_role_family_{family}"] = share
    y_total = observed["ssi_total"].to_numpy()
    p_total = predicted["ssi_total"].to_numpy(float)
    for segment in ("role_family", "industry"):
        for value, mae in segment_mae(y_total, p_total, holdout[segment]).items():
            metrics[f"total_mae_{segment}_{value}"] = mae
    return metrics, predicted


def baseline_metrics(linear_pred: np.ndarray, rule_pred: np.ndarray,
                     holdout: pd.DataFrame) -> dict[str, float]:
    observed = observed_frame(holdout)
    metrics = {}
    for tag, pred in (("linear", linear_pred), ("rule", rule_pred)):
        for j, p in enumerate(PILLARS):
            metrics[f"baseline_{tag}_{p}_mae"] = point_metrics(
                observed[f"ssi_{p}"].to_numpy(), pred[:, j])["mae"]
        metrics[f"baseline_{tag}_total_mae"] = point_metrics(
            observed["ssi_total"].to_numpy(), pred.sum(axis=1))["mae"]
    return metrics
