"""Single-row predictions through LightGBM's C API fast path.

``Booster.predict`` builds a predictor, checks the input and converts it on every call: about
55 µs for one row on these machines. ``LGBM_BoosterPredictForMatSingleRowFastInit`` does that
set-up once per booster (a *FastConfig* handle), and ``LGBM_BoosterPredictForMatSingleRowFast``
then scores a row in about 26 µs. The same C++ predictor answers both, so the values are the
booster's own (``tests/test_fast_predict.py`` checks equality, not closeness).

The python package exposes no wrapper for these two calls; they are reached through the library
handle ``lightgbm.basic._LIB`` it loads anyway.
"""

from __future__ import annotations

import ctypes
import threading
import weakref

import lightgbm as lgb
import numpy as np
from lightgbm.basic import _LIB, _safe_call

__all__ = ["FastPredictor"]

# The C API's constants (LightGBM/c_api.h); lightgbm.basic keeps them private too.
_PREDICT_NORMAL = 0
_PREDICT_CONTRIB = 3
_DTYPE_FLOAT64 = 1


def _free(handle: ctypes.c_void_p) -> None:
    _safe_call(_LIB.LGBM_FastConfigFree(handle))


class FastPredictor:
    """One booster's single-row fast path: ``predict_row(row) -> float``; or, made with
    ``contributions=True``, its SHAP values (``pred_contrib=True``): ``contributions(x)``.

    Created once per loaded booster (the FastConfig handle holds the prediction settings: normal
    output, the booster's best iteration as ``Booster.predict`` uses it, one thread). Thread
    safe: the output buffer is shared, so calls take a lock (about 0.1 µs uncontended; LightGBM
    locks the booster's single-row predictor on its side as well).
    """

    __slots__ = ("__weakref__", "_handle", "_lock", "_out", "_out_len", "_out_ptr", "booster",
                 "num_feature", "width")

    def __init__(self, booster: lgb.Booster, *, contributions: bool = False) -> None:
        self.booster = booster  # the handle reads the booster's model: keep it alive
        self.num_feature = booster.num_feature()
        self.width = self.num_feature + 1 if contributions else 1  # SHAP values, then the base
        # Booster.predict(num_iteration=None) uses the best iteration when there is one
        iteration = booster.best_iteration if booster.best_iteration > 0 else -1
        self._handle = ctypes.c_void_p()
        _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle,
            ctypes.c_int(_PREDICT_CONTRIB if contributions else _PREDICT_NORMAL),
            ctypes.c_int(0),  # start iteration
            ctypes.c_int(iteration),
            ctypes.c_int(_DTYPE_FLOAT64),
            ctypes.c_int32(self.num_feature),
            ctypes.c_char_p(b"num_threads=1"),
            ctypes.byref(self._handle),
        ))
        weakref.finalize(self, _free, self._handle)
        self._out = np.zeros(self.width)
        self._out_ptr = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._out_len = ctypes.c_int64(0)
        self._lock = threading.Lock()

    def predict_row(self, row: np.ndarray) -> float:
        """The booster's prediction for one row: float64, C-contiguous, ``num_feature`` long
        (checked: the C side would read past a shorter buffer)."""
        self._check(row)
        with self._lock:
            self._score(row)
            return float(self._out[0])

    def contributions_row(self, row: np.ndarray) -> np.ndarray:
        """The booster's SHAP values for one row (``width`` values; the last is the base)."""
        self._check(row)
        with self._lock:
            self._score(row)
            return self._out.copy()

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """``Booster.predict(x, pred_contrib=True)`` row by row: (n, width)."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        return np.array([self.contributions_row(r) for r in x]).reshape(len(x), self.width)

    def _check(self, row: np.ndarray) -> None:
        if row.dtype != np.float64 or row.shape != (self.num_feature,) \
                or not row.flags.c_contiguous:
            raise ValueError(f"a row must be a contiguous float64 array of {self.num_feature} "
                             f"values; got {row.dtype} {row.shape}")

    def _score(self, row: np.ndarray) -> None:
        """One call of the C fast path into the output buffer (the caller holds the lock)."""
        _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFast(
            self._handle, ctypes.c_void_p(row.ctypes.data),
            ctypes.byref(self._out_len), self._out_ptr))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Row by row over a (n, num_feature) matrix: for the few rows where set-up dominates."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        return np.array([self.predict_row(r) for r in x], dtype=np.float64)
