"""Batch scoring through the registered pyfunc, in chunks (progress reported per chunk)."""

from __future__ import annotations

from collections.abc import Callable

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PyFuncModel

from ssi_model.contract import CONTRACT
from ssi_model.errors import UserError
from ssi_model.tracking.store import configure_mlflow


def load_pyfunc(model_uri: str) -> PyFuncModel:
    configure_mlflow()
    try:
        return mlflow.pyfunc.load_model(model_uri)
    except MlflowException as exc:
        hint = " (train and promote one: `make train promote`)" if "@" in model_uri else ""
        raise UserError(f"cannot load model {model_uri}: {exc.message}{hint}") from None


def to_model_input(rows: pd.DataFrame) -> pd.DataFrame:
    """Typed contract rows → the plain dtypes of the model signature (float64, object)."""
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
    model: PyFuncModel,
    rows: pd.DataFrame,
    chunk_size: int = 50_000,
    advance: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    parts: list[pd.DataFrame] = []
    for start in range(0, len(rows), chunk_size):
        chunk = to_model_input(rows.iloc[start:start + chunk_size])
        parts.append(pd.DataFrame(model.predict(chunk)))
        if advance:
            advance(len(chunk))
    if not parts:
        return pd.DataFrame(model.predict(to_model_input(rows)))
    return pd.concat(parts, ignore_index=True)
