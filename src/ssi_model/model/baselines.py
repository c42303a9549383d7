"""Baselines the model must beat: a regularised linear model and a rule-of-thumb score."""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np
import pandas as pd
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ssi_model.contract import CONTRACT, PILLARS


@cache
def rule_of_thumb_targets() -> dict[str, dict[str, float]]:
    text = resources.files("ssi_model.model").joinpath("rule_of_thumb.yaml").read_text("utf-8")
    return {p: {k: float(v) for k, v in cols.items()} for p, cols in yaml.safe_load(text).items()}


def rule_of_thumb(rows: pd.DataFrame) -> np.ndarray:
    """Pillar scores (n, 4) from the checklist in rule_of_thumb.yaml; no fitting."""
    out = np.zeros((len(rows), len(PILLARS)))
    for j, pillar in enumerate(PILLARS):
        targets = rule_of_thumb_targets()[pillar]
        cols = [c for c in targets if c in rows.columns]
        if not cols:
            continue
        values = CONTRACT.to_numeric(rows, cols)
        ratios = np.minimum(values / np.array([targets[c] for c in cols]), 1.0)
        with np.errstate(all="ignore"):
            score = np.nanmean(ratios, axis=1)
        out[:, j] = 25.0 * np.nan_to_num(score, nan=0.0)
    return out


def linear_baseline(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    blocks: dict[str, list[str]],
    categorical: list[str],
    alpha: float,
) -> dict[str, Pipeline]:
    """One ridge regression per pillar on the same feature block as its booster."""
    models = {}
    for pillar in PILLARS:
        block = blocks[pillar]
        cats = [f for f in block if f in categorical]
        nums = [f for f in block if f not in categorical]
        pre = ColumnTransformer(
            [
                ("categories", make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=-1),
                    OneHotEncoder(handle_unknown="ignore")), cats),
                ("numbers", make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True,
                                  keep_empty_features=True),
                    StandardScaler()), nums),
            ]
        )
        y = labels[pillar].to_numpy(dtype=float)
        known = ~np.isnan(y)
        models[pillar] = make_pipeline(pre, Ridge(alpha=alpha)).fit(
            features.loc[known, block], y[known]
        )
    return models


def predict_linear(models: dict[str, Pipeline], features: pd.DataFrame,
                   blocks: dict[str, list[str]]) -> np.ndarray:
    return np.clip(
        np.column_stack([models[p].predict(features[blocks[p]]) for p in PILLARS]),
        0.0, CONTRACT.pillar_max,
    )
