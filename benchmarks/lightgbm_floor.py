"""The same work on raw LightGBM: record the calls our code makes to LightGBM, replay them.

``lightgbm.train`` is patched for the duration of a block (and restored after); an
estimator's boosters are wrapped in recorders the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np


@dataclasses.dataclass
class PredictCall:
    booster: Any
    data: np.ndarray
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class RecordingBooster:
    """Stands in for a LightGBM booster: records every ``predict`` call, then makes it."""

    def __init__(self, booster: Any, calls: list[PredictCall]) -> None:
        self._booster = booster
        self._calls = calls

    def predict(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        self._calls.append(PredictCall(self._booster, np.array(data, dtype=float, copy=True),
                                       args, dict(kwargs)))
        return self._booster.predict(data, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._booster, name)


@contextlib.contextmanager
def recording_predictions(estimator: Any) -> Iterator[list[PredictCall]]:
    """Record the booster calls an estimator makes inside the block (boosters restored after).

    Predictions go through the estimator's compiled trees (``CompiledTrees``), and a few rows'
    SHAP values through LightGBM's single-row fast path (``FastPredictor``), which calls the C
    library directly. Both are recorded as the ``Booster.predict`` call that gives the same
    values (one thread; ``pred_contrib`` for SHAP), so the replay does the same work through
    LightGBM's own Python API.
    """
    from ssi_model.model.fast_predict import FastPredictor
    from ssi_model.model.trees import CompiledTrees, LightGBMTrees

    calls: list[PredictCall] = []
    original = estimator.boosters
    # made from the real boosters, and kept while they are wrapped (not remade from the wrappers)
    compiled = estimator._compiled_trees()
    estimator.boosters = {p: RecordingBooster(b, calls) for p, b in original.items()}
    estimator._compiled_trees = lambda: compiled
    fast_into = FastPredictor.predict_into
    tree_predict = {kind: kind.predict for kind in (CompiledTrees, LightGBMTrees)}

    def recorded_into(self: Any, x: np.ndarray, out: np.ndarray) -> None:
        booster = getattr(self.booster, "_booster", self.booster)
        kwargs: dict[str, Any] = {"num_threads": 1}
        if self.width > 1:
            kwargs["pred_contrib"] = True
        calls.append(PredictCall(booster, np.array(x, dtype=float, copy=True), (), kwargs))
        fast_into(self, x, out)

    def recorded_predict(self: Any, x: np.ndarray, booster: int | None = None) -> np.ndarray:
        for j in range(len(self.boosters)) if booster is None else (booster,):
            block = np.array(np.asarray(x)[:, list(self.columns[j])], dtype=float, copy=True)
            calls.append(PredictCall(self.boosters[j], block, (), {"num_threads": 1}))
        return tree_predict[type(self)](self, x, booster)

    FastPredictor.predict_into = recorded_into  # type: ignore[method-assign]
    for kind in tree_predict:
        kind.predict = recorded_predict  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        estimator.boosters = original
        del estimator._compiled_trees
        FastPredictor.predict_into = fast_into  # type: ignore[method-assign]
        for kind, predict in tree_predict.items():
            kind.predict = predict  # type: ignore[method-assign]


def replay_predictions(calls: Sequence[PredictCall]) -> None:
    for call in calls:
        call.booster.predict(call.data, *call.args, **call.kwargs)


@dataclasses.dataclass
class TrainCall:
    params: dict[str, Any]
    data: np.ndarray
    label: np.ndarray
    categorical: Any
    rounds: int
    valid: tuple[np.ndarray, np.ndarray] | None
    early_stopping: int | None


@contextlib.contextmanager
def recording_training() -> Iterator[list[TrainCall]]:
    """Record every ``lightgbm.train`` call (params, matrices, rounds, early stopping)."""
    import lightgbm as lgb

    calls: list[TrainCall] = []
    original = lgb.train

    def spy(params: dict[str, Any], train_set: Any, num_boost_round: int = 100,
            valid_sets: Any = None, callbacks: Any = None, **kwargs: Any) -> Any:
        valid = None
        if valid_sets:
            valid = (np.asarray(valid_sets[0].data), np.asarray(valid_sets[0].label))
        stopping = next((int(cb.stopping_rounds) for cb in callbacks or []
                         if hasattr(cb, "stopping_rounds")), None)
        calls.append(TrainCall(dict(params), np.asarray(train_set.data),
                               np.asarray(train_set.label), train_set.categorical_feature,
                               int(num_boost_round), valid, stopping))
        return original(params, train_set, num_boost_round=num_boost_round,
                        valid_sets=valid_sets, callbacks=callbacks, **kwargs)

    lgb.train = spy
    try:
        yield calls
    finally:
        lgb.train = original


def replay_training(calls: Sequence[TrainCall]) -> None:
    import lightgbm as lgb

    for call in calls:
        train_set = lgb.Dataset(call.data, call.label, categorical_feature=call.categorical,
                                free_raw_data=True)
        valid_sets, callbacks = [], []
        if call.valid is not None:
            valid_sets = [lgb.Dataset(call.valid[0], call.valid[1],
                                      categorical_feature=call.categorical,
                                      reference=train_set)]
            callbacks = [lgb.early_stopping(call.early_stopping or 50, verbose=False)]
        lgb.train(call.params, train_set, num_boost_round=call.rounds, valid_sets=valid_sets,
                  callbacks=callbacks)
