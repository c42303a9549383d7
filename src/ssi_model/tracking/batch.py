"""Batch scoring in chunks (progress reported per chunk), and rows as plain JSON-ready columns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ssi_model.contract import CONTRACT
from ssi_model.model.estimator import Predictions


class Predicts(Protocol):
    """An SSIEstimator, or the pyfunc MLflow loads: contract rows in, prediction table out."""

    def predict(self, rows: pd.DataFrame, /) -> Any: ...


def to_model_input(rows: pd.DataFrame) -> pd.DataFrame:
    """Contract rows, typed or as a client read them (int64, float64 with NaN, Int64, boolean,
    category, strings), → plain dtypes: float64 with NaN for numbers, object with None else.

    For the model's input example and for clients that post records to ``mlflow models serve``;
    scoring itself reads any of those forms directly (``ProfileBatch.from_frame``)."""
    cols = [c for c in CONTRACT.input_columns if c in rows.columns and c != "snapshot_date"]
    out = {}
    for c in cols:
        kind = CONTRACT[c].kind
        if kind in ("int", "float"):
            out[c] = rows[c].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        else:
            out[c] = rows[c].astype(object).where(rows[c].notna(), None).to_numpy()
    return pd.DataFrame(out, index=rows.index)


def predict_frame(
    model: Predicts,
    rows: pd.DataFrame,
    chunk_size: int = 50_000,
    advance: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    parts: list[pd.DataFrame] = []
    for start in range(0, len(rows), chunk_size):
        chunk = rows.iloc[start:start + chunk_size]  # read by the model as it is: no copy
        parts.append(_as_frame(model.predict(chunk)))
        if advance:
            advance(len(chunk))
    if not parts:
        return _as_frame(model.predict(rows))
    return pd.concat(parts, ignore_index=True)


def _as_frame(result: Predictions | pd.DataFrame) -> pd.DataFrame:
    """The prediction table from an SSIEstimator (Predictions) or from the pyfunc (a frame)."""
    return result.to_frame() if isinstance(result, Predictions) else pd.DataFrame(result)
