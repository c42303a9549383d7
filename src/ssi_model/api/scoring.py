"""The served prediction path: validated profiles → feature matrix → boosters → intervals, in numpy.

No pandas on the way: plain dicts go through the feature builder's ``transform_records``, the four
boosters answer in one ``predict_matrix`` call, and the intervals and the industry rank are
vectorised over the batch. The numbers equal ``SSIEstimator.predict`` on the same rows (tested).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ssi_model.contract import PILLARS
from ssi_model.model.estimator import PREDICTION_COLUMNS, TOTAL, SSIEstimator

_TARGETS = (TOTAL, *PILLARS)
_COLUMNS = [c for c in PREDICTION_COLUMNS if c.startswith("ssi_")]  # per target: value, lo, hi


def predict_records(
    estimator: SSIEstimator, records: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One prediction dict per record (the columns of ``PREDICTION_COLUMNS``)."""
    if not records:
        return []
    features = estimator.builder.transform_records(records)
    pillars = estimator.predict_matrix(features)
    values = {TOTAL: pillars.sum(axis=1), **dict(zip(PILLARS, pillars.T, strict=True))}
    blocks = []
    for name in _TARGETS:
        lo, hi = estimator.intervals[name].interval(values[name])
        blocks += [values[name], lo, hi]
    table = np.column_stack(blocks).round(2).tolist()  # rounded as SSIEstimator.predict does
    top = _top_pct(estimator, records, values[TOTAL]).tolist()
    return [
        {"member_id": str(record["member_id"]), **dict(zip(_COLUMNS, row, strict=True)),
         "industry_top_pct": rank}
        for record, row, rank in zip(records, table, top, strict=True)
    ]


def _top_pct(estimator: SSIEstimator, records: Sequence[Mapping[str, Any]],
             total: np.ndarray) -> np.ndarray:
    """'Top X %' within each member's industry, one lookup per industry in the batch."""
    groups: dict[Any, list[int]] = {}
    for i, record in enumerate(records):
        groups.setdefault(record.get("industry"), []).append(i)
    out = np.empty(len(records))
    for industry, rows in groups.items():
        out[rows] = estimator.peers.top_pct(industry, total[rows])
    return out
