"""Cross-conformal prediction intervals (CV+ style), Mondrian by predicted value.

LightGBM's quantile objective refuses monotone constraints, so the point model stays a monotone
L2 booster and the interval comes from the distribution of its out-of-sample residuals.

What kind of conformal this is: the residuals are K-fold *out-of-fold* residuals (each row scored
by the fold model that did not see it), while predictions are made by a *final* booster refit on
all rows, which is none of the fold models. That is cross-conformal prediction in the spirit of
CV+ / jackknife+ (Barber et al. 2021; Vovk 2015), not split-conformal: no held-out calibration set
is kept apart from the model that predicts. The price of using every row for both fitting and
calibration is a weaker guarantee: CV+ promises coverage of at least 1 - 2α in the worst case
(80 % for the 90 % level here), not 1 - α; in practice it covers close to 1 - α, which the holdout
coverage logged with every run checks. (This module also centres on the final model's prediction
rather than on each fold model's, as CV+ proper would: simpler, and the holdout coverage is the
evidence that it holds up.)

Residuals are binned by the predicted value (near 0 a pillar cannot err far downwards; mid-range
it errs both ways), and each bin keeps the finite-sample conformal quantiles of its residuals.
Intervals are then clipped to the valid range, which cannot lose coverage because the truth lies
inside it. The calibration is a few numbers per bin, stored as JSON with the model.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class IntervalCalibration:
    level: float
    edges: tuple[float, ...]  # inner bin edges on the predicted value (len = bins - 1)
    lower: tuple[float, ...]  # per bin: residual quantile added to the prediction for _lo
    upper: tuple[float, ...]  # per bin: residual quantile added to the prediction for _hi
    low: float
    high: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> IntervalCalibration:
        return cls(
            level=float(data["level"]),  # type: ignore[arg-type]
            edges=tuple(data["edges"]),  # type: ignore[arg-type]
            lower=tuple(data["lower"]),  # type: ignore[arg-type]
            upper=tuple(data["upper"]),  # type: ignore[arg-type]
            low=float(data["low"]),  # type: ignore[arg-type]
            high=float(data["high"]),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class IntervalSet:
    """Several calibrations scored together: the total's and each pillar's interval for a batch
    in a handful of numpy calls (the API asks for five intervals per request, one profile each).

    Each row of ``predicted`` is binned on its own calibration's edges; the bins' residual
    quantiles are then read from one concatenated table, so the arithmetic is one pass.
    """

    calibrations: tuple[IntervalCalibration, ...]

    @cached_property
    def _tables(self) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray,
                               np.ndarray, np.ndarray]:
        edges = [np.asarray(c.edges, dtype=float) for c in self.calibrations]
        # the first bin of calibration k in the concatenated tables
        start = np.cumsum([0] + [len(e) + 1 for e in edges[:-1]])[:, None]
        lower = np.concatenate([np.asarray(c.lower, dtype=float) for c in self.calibrations])
        upper = np.concatenate([np.asarray(c.upper, dtype=float) for c in self.calibrations])
        low = np.array([[c.low] for c in self.calibrations])
        high = np.array([[c.high] for c in self.calibrations])
        return edges, start, lower, upper, low, high

    def intervals(self, predicted: np.ndarray) -> np.ndarray:
        """(k, 2, n) lower and upper bounds for ``predicted`` (k, n), row k on calibration k."""
        edges, start, lower, upper, low, high = self._tables
        b = np.empty(predicted.shape, dtype=np.intp)
        for k, e in enumerate(edges):  # the method: np.searchsorted's wrapper costs more
            b[k] = e.searchsorted(predicted[k], side="right")
        b += start
        bounds = np.empty((len(predicted), 2, predicted.shape[1]))
        np.add(predicted, lower[b], out=bounds[:, 0])
        np.add(predicted, upper[b], out=bounds[:, 1])
        np.maximum(bounds, low[:, :, None], out=bounds)
        return np.minimum(bounds, high[:, :, None], out=bounds)


def _conformal_quantile(residuals: np.ndarray, q: float, side: str) -> float:
    """Finite-sample conformal order statistic: the ceil((n+1)q)-th smallest (or mirror)."""
    r = np.sort(residuals)
    n = len(r)
    if side == "upper":
        k = math.ceil((n + 1) * q)
        return float(r[min(k, n) - 1])
    k = math.floor((n + 1) * q)
    return float(r[max(k, 1) - 1])


def calibrate(
    predicted: np.ndarray,
    observed: np.ndarray,
    *,
    level: float,
    bins: int,
    low: float,
    high: float,
    min_per_bin: int = 200,
) -> IntervalCalibration:
    """Calibrate on out-of-fold predictions and the labels they should have matched.

    ``predicted`` are K-fold out-of-fold predictions (cross-conformal, see the module docstring);
    the intervals are later centred on the final model's predictions.
    """
    predicted = np.asarray(predicted, dtype=float)
    observed = np.asarray(observed, dtype=float)
    known = ~np.isnan(observed)
    predicted, observed = predicted[known], observed[known]
    bins = max(1, min(bins, len(predicted) // min_per_bin))
    edges = np.unique(np.quantile(predicted, np.linspace(0, 1, bins + 1)[1:-1]))
    which = np.searchsorted(edges, predicted, side="right")
    alpha = 1 - level
    lower, upper = [], []
    for b in range(len(edges) + 1):
        res = observed[which == b] - predicted[which == b]
        lower.append(_conformal_quantile(res, alpha / 2, "lower"))
        upper.append(_conformal_quantile(res, 1 - alpha / 2, "upper"))
    return IntervalCalibration(
        level=level,
        edges=tuple(float(e) for e in edges),
        lower=tuple(lower),
        upper=tuple(upper),
        low=low,
        high=high,
    )
