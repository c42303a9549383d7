"""The MLflow pyfunc, logged as code (models-from-code): no pickled objects in the model.

It is for MLflow's own clients (``mlflow.pyfunc.load_model``, ``mlflow models predict``, Spark);
the CLI and the API load the estimator folder directly (``Registry.load``).

Its artifact ``estimator`` is the folder SSIEstimator.save writes (native LightGBM text boosters
and a JSON bundle); ``predict`` takes contract rows as a client reads them (a CSV through pandas:
int64, or float64 where a cell is blank; Parquet: Int64, boolean, category) and returns the
prediction table. The model has no input schema (``runs.model_signature`` says why): the rows go
to the estimator as they are, which reads them by the contract (``ProfileBatch.from_frame``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext

from ssi_model.model.estimator import SSIEstimator


class SSIPyfuncModel(PythonModel):
    def load_context(self, context: PythonModelContext) -> None:
        self.estimator = SSIEstimator.load(Path(context.artifacts["estimator"]))

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: Any = None
    ) -> pd.DataFrame:
        rows = pd.DataFrame(model_input)
        if "member_id" not in rows.columns:
            raise ValueError("the input has no member_id column: every contract row needs one")
        return self.estimator.predict(rows).to_frame()


mlflow.models.set_model(SSIPyfuncModel())
