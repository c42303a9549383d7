"""Regression and interval metrics, per pillar, for the total and per segment."""

from __future__ import annotations

import numpy as np
import pandas as pd


def point_metrics(observed: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    known = ~np.isnan(observed)
    y, p = observed[known], predicted[known]
    err = p - y
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "r2": float(1 - (err**2).sum() / ss_tot) if ss_tot > 0 else float("nan"),
        "n": float(known.sum()),
    }


def interval_metrics(observed: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> dict[str, float]:
    known = ~np.isnan(observed)
    y = observed[known]
    return {
        "coverage": float(((y >= lo[known]) & (y <= hi[known])).mean()),
        "width": float((hi[known] - lo[known]).mean()),
    }


def segment_mae(observed: np.ndarray, predicted: np.ndarray, segments: pd.Series,
                min_rows: int = 30) -> dict[str, float]:
    frame = pd.DataFrame({"err": np.abs(predicted - observed), "seg": segments.to_numpy()})
    frame = frame.dropna()
    grouped = frame.groupby("seg", observed=True)["err"].agg(["mean", "size"])
    return {str(k): float(r["mean"]) for k, r in grouped.iterrows() if r["size"] >= min_rows}


MIN_SEGMENT = 200
"""A segment's coverage is reported from this many members up (below it, ±2 points of sampling
noise would hide what the intervals do)."""


def segment_coverage(observed: np.ndarray, lo: np.ndarray, hi: np.ndarray, segments: pd.Series,
                     min_rows: int = MIN_SEGMENT) -> dict[str, float]:
    """Interval coverage per segment with at least ``min_rows`` known labels."""
    known = ~np.isnan(observed)
    inside = (observed >= lo) & (observed <= hi)
    frame = pd.DataFrame({"inside": inside[known], "seg": segments.to_numpy()[known]}).dropna()
    grouped = frame.groupby("seg", observed=True)["inside"].agg(["mean", "size"])
    return {str(k): float(r["mean"]) for k, r in grouped.iterrows() if r["size"] >= min_rows}
