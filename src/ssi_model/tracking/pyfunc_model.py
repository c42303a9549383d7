"""The MLflow pyfunc, logged as code (models-from-code): no pickled objects in the model.

Its artifact ``estimator`` is the folder SSIEstimator.save writes (native LightGBM text boosters
and a JSON bundle); ``predict`` takes contract rows and returns the prediction table.
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
        return self.estimator.predict(model_input).to_frame()


mlflow.models.set_model(SSIPyfuncModel())
