"""The served prediction path: validated profiles → feature matrix → boosters → intervals, in numpy.

No pandas on the way: plain dicts go through the feature builder's ``transform_records``, the four
boosters answer in one ``predict_matrix`` call, and the intervals and the industry rank are
vectorised over the batch. The numbers equal ``SSIEstimator.predict`` on the same rows (tested).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ssi_model.model.estimator import SSIEstimator


def predict_records(
    estimator: SSIEstimator, records: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One prediction dict per record (the columns of ``PREDICTION_COLUMNS``)."""
    if not records:
        return []
    pillars = estimator.predict_matrix(estimator.builder.transform_records(records))
    return estimator.prediction_records([r["member_id"] for r in records],
                                        [r.get("industry") for r in records], pillars)
