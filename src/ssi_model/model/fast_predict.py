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
import weakref

import lightgbm as lgb
import numpy as np
from lightgbm.basic import _LIB, _safe_call

__all__ = ["FastPredictor"]

# The C API's constants (LightGBM/c_api.h); lightgbm.basic keeps them private too.
_PREDICT_NORMAL = 0
_PREDICT_CONTRIB = 3
_DTYPE_FLOAT64 = 1

# Our own prototype of the scoring call, on our own handle to the library lightgbm has loaded
# (dlopen of a loaded path gives the same library): with argtypes, ctypes passes the addresses
# as plain ints, with no pointer object per call, and lightgbm's functions stay untouched.
_FAST_LIB = ctypes.CDLL(_LIB._name)
_PREDICT_ROW = _FAST_LIB.LGBM_BoosterPredictForMatSingleRowFast
_PREDICT_ROW.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64),
                         ctypes.c_void_p]
_PREDICT_ROW.restype = ctypes.c_int


def _free(handle: ctypes.c_void_p) -> None:
    _safe_call(_LIB.LGBM_FastConfigFree(handle))


class FastPredictor:
    """One booster's single-row fast path: its predictions, or, made with ``contributions=True``,
    its SHAP values (``pred_contrib=True``: the block's values, then the base).

    Created once per loaded booster (the FastConfig handle holds the prediction settings: the
    output, the booster's best iteration as ``Booster.predict`` uses it, one thread). Each row's
    ``width`` values are written straight into the caller's array, so nothing is shared between
    calls and threads may use one predictor at once (LightGBM locks the booster's single-row
    predictor on its side).
    """

    __slots__ = ("__weakref__", "_handle", "booster", "num_feature", "width")

    def __init__(self, booster: lgb.Booster, *, contributions: bool = False) -> None:
        self.booster = booster  # the handle reads the booster's model: keep it alive
        self.num_feature = booster.num_feature()
        kind = _PREDICT_CONTRIB if contributions else _PREDICT_NORMAL
        # Booster.predict(num_iteration=None) uses the best iteration when there is one
        iteration = booster.best_iteration if booster.best_iteration > 0 else -1
        width = ctypes.c_int64(0)  # values per row: the C side writes that many
        _safe_call(_LIB.LGBM_BoosterCalcNumPredict(
            booster._handle, ctypes.c_int(1), ctypes.c_int(kind), ctypes.c_int(0),
            ctypes.c_int(iteration), ctypes.byref(width)))
        self.width = int(width.value)
        if not contributions and self.width != 1:
            raise ValueError(f"the fast path predicts one value per row; this booster gives "
                             f"{self.width}")
        self._handle = ctypes.c_void_p()
        _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle,
            ctypes.c_int(kind),
            ctypes.c_int(0),  # start iteration
            ctypes.c_int(iteration),
            ctypes.c_int(_DTYPE_FLOAT64),
            ctypes.c_int32(self.num_feature),
            ctypes.c_char_p(b"num_threads=1"),
            ctypes.byref(self._handle),
        ))
        weakref.finalize(self, _free, self._handle)

    def predict_into(self, x: np.ndarray, out: np.ndarray) -> None:
        """Score each row of ``x`` (n, num_feature) into ``out``: n values (a float64 array,
        which may be a strided view such as a column of the caller's result) when ``width`` is
        1, else (n, width) with contiguous rows."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.num_feature:
            raise ValueError(f"rows must have {self.num_feature} values; got shape {x.shape}")
        shape = (len(x),) if self.width == 1 else (len(x), self.width)
        if out.dtype != np.float64 or out.shape != shape or not out.flags.writeable or (
                self.width > 1 and out.strides[1] != out.itemsize):
            raise ValueError(f"out must be a writeable float64 array of shape {shape}")
        row, row_step = x.ctypes.data, x.strides[0]
        at, at_step = out.ctypes.data, out.strides[0]
        written = ctypes.c_int64(0)
        for _ in range(len(x)):
            _safe_call(_PREDICT_ROW(self._handle, row, ctypes.byref(written), at))
            row += row_step
            at += at_step

    def predict_row(self, row: np.ndarray) -> float:
        """The booster's prediction for one row: float64, C-contiguous, ``num_feature`` long
        (checked: the C side would read past a shorter buffer)."""
        if row.dtype != np.float64 or row.shape != (self.num_feature,) \
                or not row.flags.c_contiguous:
            raise ValueError(f"a row must be a contiguous float64 array of {self.num_feature} "
                             f"values; got {row.dtype} {row.shape}")
        out = np.empty(1)
        self.predict_into(row[None, :], out)
        return float(out[0])

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Row by row over a (n, num_feature) matrix: for the few rows where set-up dominates."""
        out = np.empty(len(x))
        self.predict_into(x, out)
        return out

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """``Booster.predict(x, pred_contrib=True)`` row by row: (n, width)."""
        out = np.empty((len(x), self.width))
        self.predict_into(x, out)
        return out
