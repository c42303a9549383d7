"""A booster's trees as flat arrays, and a compiled walk over them that equals ``Booster.predict``.

:func:`flat_trees` reads a booster's ``dump_model()`` into arrays holding only what scoring reads
(split feature, threshold, decision bits, children, leaf values). Two walkers read them:

- :class:`CompiledTrees` here: every prediction of :class:`~ssi_model.model.estimator.SSIEstimator`
  (one profile, a member's lever variants, a batch of a million rows). One call of a function
  compiled by numba (already installed: shap needs it) walks every tree for every row. A single
  profile's four boosters cost about 25 µs this way, against about 60 µs through LightGBM's own
  single-row fast path (its per-call C API overhead, four times); a batch costs what
  ``Booster.predict`` with one thread costs.
- the what-if page's JavaScript (:mod:`ssi_model.report.whatif` ships the arrays to the browser).

Both follow LightGBM's ``Tree::NumericalDecision`` and ``Tree::CategoricalDecision`` and sum the
leaf values in tree order from 0.0, as ``GBDT::PredictRaw`` does, so the values are LightGBM's bit
for bit (``tests/test_fast_predict.py`` checks equality, not closeness, over unknowns, zeros,
values at and either side of every threshold, and category codes in, out of and below the sets).
Only boosters whose output is the raw score (the regression objectives; no ``sqrt``, no random
forest averaging, one tree per iteration) and whose category codes fit a small table are
compiled; :func:`trees_for` scores any other through ``Booster.predict`` (:class:`LightGBMTrees`,
the same interface), so an experiment may still choose, say, a Poisson objective.

The kernel is compiled on first use and cached on disk by numba (``__pycache__`` beside this file),
so a new process loads it in a fraction of a second instead of compiling it again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np

__all__ = ["MISSING", "CompiledTrees", "FlatTrees", "LightGBMTrees", "UnsupportedTrees",
           "flat_trees", "trees_for"]

MISSING = {"None": 0, "Zero": 1, "NaN": 2}
"""LightGBM's missing types as the decision bits store them (bits 2-3)."""
_CATEGORICAL, _DEFAULT_LEFT = 1, 2  # decision bits 0 and 1, LightGBM's own layout
# Objectives whose prediction is the raw score (ConvertOutput is the identity).
_RAW_SCORE_OBJECTIVES = frozenset({"regression", "regression_l1", "huber", "fair", "quantile",
                                   "mape"})


@dataclass(frozen=True)
class FlatTrees:
    """A booster's trees, one after another (``dump_model`` order, which is scoring order).

    ``sizes[t]``: tree t's leaves. Per split node, trees concatenated (tree t has
    ``sizes[t] - 1`` of them, numbered from 0 within the tree as LightGBM's ``split_index``):
    ``feature`` (the slot given by ``global_index``), ``threshold`` (a numeric split's value; a
    categorical split's index into ``cat_sets``), ``flags`` (bit 0 categorical, bit 1
    default_left, bits 2-3 missing type), ``left``/``right`` (a split node's number within the
    tree, or ``~leaf`` for a leaf). ``leaves``: leaf values, trees concatenated.
    """

    sizes: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    flags: np.ndarray
    left: np.ndarray
    right: np.ndarray
    cat_sets: tuple[tuple[int, ...], ...]
    leaves: np.ndarray


def flat_trees(booster: lgb.Booster, global_index: Sequence[int] | None = None) -> FlatTrees:
    """The trees ``Booster.predict`` walks (the best iteration's, when there is one), as arrays.

    ``global_index[j]``: the slot of the booster's feature ``j`` in the caller's rows (default:
    ``j``). Raises ``ValueError`` for what this layout does not hold (linear trees, a decision
    type other than ``<=`` and ``==``).
    """
    # num_iteration=None: the best iteration's trees when there is one, as predict uses
    return _flatten(booster.dump_model(), global_index)


def _flatten(dump: dict[str, Any], global_index: Sequence[int] | None) -> FlatTrees:
    index = (list(range(int(dump["max_feature_idx"]) + 1)) if global_index is None
             else list(global_index))
    sizes: list[int] = []
    feature: list[int] = []
    threshold: list[float] = []
    flags: list[int] = []
    left: list[int] = []
    right: list[int] = []
    cat_sets: list[tuple[int, ...]] = []
    leaves: list[float] = []
    for info in dump["tree_info"]:
        if info.get("is_linear"):
            raise ValueError("linear trees are not supported")
        n_leaves = int(info["num_leaves"])
        sizes.append(n_leaves)
        base = len(feature)
        for column in (feature, flags, left, right):
            column.extend([0] * (n_leaves - 1))
        threshold.extend([0.0] * (n_leaves - 1))
        leaf_values = [0.0] * n_leaves
        stack = [info["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_index" not in node:
                leaf_values[int(node.get("leaf_index", 0))] = float(node["leaf_value"])
                continue
            k = base + int(node["split_index"])
            feature[k] = int(index[int(node["split_feature"])])
            bits = (_DEFAULT_LEFT if node["default_left"] else 0) | (
                MISSING[node["missing_type"]] << 2)
            if node["decision_type"] == "==":
                bits |= _CATEGORICAL
                cat_sets.append(tuple(sorted(int(c) for c in str(node["threshold"]).split("||"))))
                threshold[k] = float(len(cat_sets) - 1)
            elif node["decision_type"] == "<=":
                threshold[k] = float(node["threshold"])
            else:
                raise ValueError(f"unsupported decision type {node['decision_type']!r}")
            flags[k] = bits
            left[k], right[k] = _child(node["left_child"]), _child(node["right_child"])
            stack += [node["left_child"], node["right_child"]]
        leaves.extend(leaf_values)
    return FlatTrees(
        sizes=np.array(sizes, dtype=np.int32), feature=np.array(feature, dtype=np.int32),
        threshold=np.array(threshold, dtype=np.float64), flags=np.array(flags, dtype=np.uint8),
        left=np.array(left, dtype=np.int32), right=np.array(right, dtype=np.int32),
        cat_sets=tuple(cat_sets), leaves=np.array(leaves, dtype=np.float64))


def _child(node: dict[str, Any]) -> int:
    if "split_index" in node:
        return int(node["split_index"])
    return ~int(node.get("leaf_index", 0))


class UnsupportedTrees(ValueError):
    """A booster the compiled walk does not reproduce (``trees_for`` falls back to LightGBM)."""


def _raw_score_output(dump: dict[str, Any]) -> None:
    """Raise unless ``Booster.predict`` returns the sum of the leaf values as it is."""
    objective = str(dump.get("objective", "")).split()
    if not objective or objective[0] not in _RAW_SCORE_OBJECTIVES or "sqrt" in objective[1:]:
        raise UnsupportedTrees(f"objective {' '.join(objective) or '?'!r}: its predictions are "
                               "not the raw score")
    if int(dump.get("num_tree_per_iteration", 1)) != 1 or dump.get("average_output"):
        raise UnsupportedTrees("one tree per iteration, summed, is the only supported form")


_MAX_CATEGORY_CODE = 65_535
"""The category table has a column per code: larger codes are left to LightGBM."""


class _Trees:
    """What both ways of scoring hold: the boosters and the caller's columns each one reads."""

    __slots__ = ("boosters", "columns", "width")

    def __init__(self, boosters: Sequence[lgb.Booster],
                 columns: Sequence[Sequence[int]] | None = None) -> None:
        self.boosters = tuple(boosters)
        self.columns = (tuple(tuple(range(b.num_feature())) for b in self.boosters)
                        if columns is None else tuple(tuple(c) for c in columns))
        if len(self.columns) != len(self.boosters):
            raise ValueError(f"{len(self.columns)} column lists for {len(self.boosters)} boosters")
        self.width = 1 + max(max(c, default=-1) for c in self.columns)


class CompiledTrees(_Trees):
    """Boosters' predictions through the compiled walk of their :func:`flat_trees`.

    ``boosters[j]`` reads the caller's columns ``columns[j]`` (its block of a wider row; default:
    the first ``num_feature`` columns), so the pillars' four boosters score a full feature row in
    one call. ``predict(x)``: (n, len(boosters)), column j equal to
    ``boosters[j].predict(x[:, columns[j]])``; ``predict(x, j)``: booster j alone, (n,).
    Thread-safe: the kernel only reads the arrays, and releases the GIL while it walks.
    """

    __slots__ = ("_arrays",)

    def __init__(self, boosters: Sequence[lgb.Booster],
                 columns: Sequence[Sequence[int]] | None = None) -> None:
        super().__init__(boosters, columns)
        flats = []
        for booster, cols in zip(self.boosters, self.columns, strict=True):
            dump = booster.dump_model()
            _raw_score_output(dump)
            if int(dump["max_feature_idx"]) + 1 != len(cols):
                raise ValueError(f"{len(cols)} columns for a booster of "
                                 f"{int(dump['max_feature_idx']) + 1} features")
            flats.append(_flatten(dump, cols))
        sizes = np.concatenate([f.sizes for f in flats])
        n_trees = len(sizes)
        node_start = np.zeros(n_trees, dtype=np.int64)
        leaf_start = np.zeros(n_trees, dtype=np.int64)
        np.cumsum(sizes[:-1] - 1, out=node_start[1:])
        np.cumsum(sizes[:-1], out=leaf_start[1:])
        # Children as global node numbers (a leaf stays ~leaf within its tree); a one-leaf tree
        # starts at ~0, its only leaf. Category sets numbered across the boosters.
        tree_of_node = np.repeat(np.arange(n_trees), sizes - 1)
        children = np.stack([np.concatenate([f.left for f in flats]),
                             np.concatenate([f.right for f in flats])], axis=1).astype(np.int64)
        inner = children >= 0
        children[inner] += np.broadcast_to(node_start[tree_of_node][:, None],
                                           children.shape)[inner]
        roots = np.where(sizes > 1, node_start, -1)
        thresholds: list[np.ndarray] = []
        cat_sets: list[tuple[int, ...]] = []
        for f in flats:
            t = f.threshold.copy()
            categorical = (f.flags & _CATEGORICAL) != 0
            t[categorical] += len(cat_sets)
            thresholds.append(t)
            cat_sets += f.cat_sets
        span = 1 + max((max(s) for s in cat_sets if s), default=0)
        if span > _MAX_CATEGORY_CODE + 1:
            raise UnsupportedTrees(f"a category code of {span - 1} (at most "
                                   f"{_MAX_CATEGORY_CODE})")
        cats = np.zeros((max(len(cat_sets), 1), span), dtype=np.uint8)
        for k, codes in enumerate(cat_sets):
            cats[k, list(codes)] = 1
        tree_start = np.cumsum([0] + [len(f.sizes) for f in flats]).astype(np.int64)
        self._arrays = (np.concatenate([f.feature for f in flats]).astype(np.int64),
                        np.concatenate(thresholds), np.concatenate([f.flags for f in flats]),
                        np.ascontiguousarray(children), np.concatenate([f.leaves for f in flats]),
                        roots, leaf_start, cats, tree_start)

    def predict(self, x: np.ndarray, booster: int | None = None) -> np.ndarray:
        """Every booster's predictions for the rows of ``x`` (n, len(boosters)), or booster
        ``booster``'s alone (n,)."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] < self.width:
            raise ValueError(f"rows must have at least {self.width} values; got shape "
                             f"{x.shape}")
        if booster is None:
            out = np.empty((len(x), len(self.boosters)))
            _kernel()(x, 0, len(self.boosters), *self._arrays, out)
            return out
        out = np.empty((len(x), 1))
        _kernel()(x, booster, booster + 1, *self._arrays, out)
        return out[:, 0]


class LightGBMTrees(_Trees):
    """:class:`CompiledTrees`' interface through ``Booster.predict`` (one thread), for boosters
    the compiled walk does not reproduce."""

    __slots__ = ()

    def predict(self, x: np.ndarray, booster: int | None = None) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        which = range(len(self.boosters)) if booster is None else (booster,)
        out = np.column_stack([self.boosters[j].predict(x[:, list(self.columns[j])],
                                                        num_threads=1) for j in which])
        return out if booster is None else out[:, 0]


def trees_for(boosters: Sequence[lgb.Booster],
              columns: Sequence[Sequence[int]] | None = None) -> CompiledTrees | LightGBMTrees:
    """The boosters' compiled trees, or, for boosters they do not reproduce, LightGBM itself."""
    try:
        return CompiledTrees(boosters, columns)
    except UnsupportedTrees:
        return LightGBMTrees(boosters, columns)


def _walk(x: np.ndarray, first: int, last: int, feature: np.ndarray, threshold: np.ndarray,
          flags: np.ndarray, children: np.ndarray, leaves: np.ndarray, roots: np.ndarray,
          leaf_start: np.ndarray, cats: np.ndarray, tree_start: np.ndarray,
          out: np.ndarray) -> None:  # pragma: no cover (runs compiled)
    """Boosters ``first`` to ``last - 1`` on every row of ``x``, into ``out[:, b - first]``:
    LightGBM's NumericalDecision and CategoricalDecision, and each booster's leaf values summed
    in tree order from 0.0 (GBDT::PredictRaw)."""
    k_zero = 1.0000000180025095e-35  # LightGBM's kZeroThreshold: the float 1e-35f, as a double
    span = cats.shape[1]
    for i in range(x.shape[0]):
        for b in range(first, last):
            total = 0.0
            for t in range(tree_start[b], tree_start[b + 1]):
                node = roots[t]
                while node >= 0:
                    value = x[i, feature[node]]
                    bits = flags[node]
                    if bits & 1:  # categorical: NaN and negative codes go right
                        go_left = False
                        if value == value:
                            code = int(value)  # C++ static_cast<int>: truncation
                            if 0 <= code < span:
                                go_left = cats[int(threshold[node]), code] == 1
                    else:
                        missing = bits >> 2
                        if value != value and missing != 2:
                            value = 0.0
                        if (missing == 1 and -k_zero <= value <= k_zero) or (
                                missing == 2 and value != value):
                            go_left = (bits & 2) != 0
                        else:
                            go_left = value <= threshold[node]
                    node = children[node, 0] if go_left else children[node, 1]
                total += leaves[leaf_start[t] + ~node]
            out[i, b - first] = total


@functools.cache
def _kernel() -> Callable[..., None]:
    """``_walk`` compiled (numba imported only when a prediction first needs it)."""
    import numba

    return numba.njit(cache=True, nogil=True)(_walk)
