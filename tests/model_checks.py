"""Checks of a fitted estimator that more than one test module asserts."""

from __future__ import annotations

import pandas as pd

from ssi_model.contract import CONTRACT, PILLARS
from ssi_model.model.estimator import SSIEstimator


def monotone_columns_checked(estimator: SSIEstimator, rows: pd.DataFrame) -> int:
    """Raise every known value of each column whose pillar is guaranteed to rise with it, and
    assert the pillar never falls; returns how many (pillar, column) pairs were checked."""
    before = estimator.predict_pillars(rows)
    checked = 0
    for j, pillar in enumerate(PILLARS):
        guaranteed = [c for c, sign in estimator.builder.input_monotone_[pillar].items()
                      if sign == 1]
        for column in guaranteed:
            changed = rows.copy()
            col = CONTRACT[column]
            # Only known values are raised: unknown -> known is not "more" of anything.
            if col.kind == "bool":
                changed[column] = changed[column].where(changed[column].isna(), True)
            else:
                hi = col.numeric_bound("max")
                bumped = changed[column].astype("Float64") * 2 + 5
                changed[column] = bumped.clip(upper=hi).round().astype("Int64")
                for other, _, bound in CONTRACT.cross_rules():
                    if bound == column:  # keep e.g. accepted <= sent valid: leave dependants
                        continue
                    if other == column:  # a capped column may not pass its bound column
                        cap = changed[bound].astype("Float64")
                        value = changed[column].astype("Float64")
                        changed[column] = value.where(
                            value.isna() | cap.isna() | (value <= cap), cap
                        ).round().astype("Int64")
            after = estimator.predict_pillars(changed)
            assert (after[:, j] >= before[:, j] - 1e-9).all(), (pillar, column)
            checked += 1
    return checked
