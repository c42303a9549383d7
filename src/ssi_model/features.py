"""Pillar features: contract rows in, one float feature block per pillar booster out.

The features are declared in ``features.yaml`` (read by :func:`feature_spec`); this module only
knows the four operations that file uses (``code``, ``value``, ``ratio``, ``share_filled``) and
turns the spec into a vectorised plan. :class:`PillarFeatureBuilder` is a stateless scikit-learn
transformer:

>>> builder = PillarFeatureBuilder().fit(rows)             # rows: contract-named DataFrame
>>> X = builder.transform(rows)                            # float64 DataFrame, NaN = unknown
>>> block = builder.feature_blocks_["insights"]            # the insights booster's columns
>>> mc = [builder.monotone_[f] for f in block]             # LightGBM monotone_constraints
>>> cats = [f for f in block if f in builder.categorical_features_]

Unknown stays unknown: an empty cell (or an absent contract column) gives NaN in every feature
computed from it, never 0. Context categories become integer codes (as floats) in the contract's
fixed category order, so a booster needs no pandas ``category`` dtype (lost in MLflow signatures).
Extra columns are ignored. Cells are read by :class:`ssi_model.batch.ProfileBatch` (the
contract's parse): values are not range-checked here (that is validation's job), but a category
outside the contract or an unparseable cell raises ``ValueError``. ``features(batch)`` is the one
computation; ``transform`` is the scikit-learn face of it for frames.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from ssi_model.batch import ProfileBatch
from ssi_model.contract import CONTRACT, PILLARS

Op = Literal["code", "value", "ratio", "share_filled"]
_OPS: tuple[str, ...] = ("code", "value", "ratio", "share_filled")
_NOT_FEATURES = frozenset({"member_id", "snapshot_date"})

# Up to this many rows, category codes come from a dict lookup per cell; beyond, from one
# vectorised pandas indexer (which costs ~20 µs to set up, but far less per cell).
_DICT_LOOKUP_ROWS = 1024


# --------------------------------------------------------------------------------------------------
# The spec (features.yaml)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureDef:
    """One feature as declared in ``features.yaml`` (see the header of that file)."""

    name: str
    op: Op
    sources: tuple[str, ...]
    blocks: tuple[str, ...]
    monotone: int
    actionable: bool
    per_week: bool = False
    log1p: bool = False
    numerator: tuple[str, ...] = ()
    denominator: tuple[str, ...] = ()
    denominator_floor: float | None = None
    sections: tuple[tuple[str, float], ...] = ()
    description: str = ""

    def response(self, column: str) -> int:
        """How the feature moves when ``column`` rises, the other columns fixed.

        +1 non-decreasing, -1 non-increasing, 0 no direction (category codes, or not a source).
        """
        if column not in self.sources or self.op == "code":
            return 0
        if self.op == "ratio" and column in self.denominator:
            return -1
        return 1


@dataclass(frozen=True)
class FeatureSpec:
    version: int
    earned_inputs: tuple[str, ...]
    features: tuple[FeatureDef, ...]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def __getitem__(self, name: str) -> FeatureDef:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)


def _as_tuple(value: Any) -> tuple[str, ...]:
    return tuple(value) if value else ()


def _parse_feature(raw: Mapping[str, Any], earned: frozenset[str]) -> FeatureDef:
    name = str(raw["name"])
    op = raw["op"]
    if op not in _OPS:
        raise ValueError(f"features.yaml: {name}: unknown op {op!r}")
    numerator, denominator = _as_tuple(raw.get("numerator")), _as_tuple(raw.get("denominator"))
    sections = tuple((str(c), float(t)) for c, t in (raw.get("sections") or {}).items())
    if op == "ratio":
        sources = tuple(dict.fromkeys(numerator + denominator))
        if not numerator or not denominator or set(numerator) & set(denominator):
            raise ValueError(f"features.yaml: {name}: a ratio needs disjoint numerator/denominator")
    elif op == "share_filled":
        sources = tuple(c for c, _ in sections)
        if not sections:
            raise ValueError(f"features.yaml: {name}: share_filled needs sections")
    else:
        sources = _as_tuple(raw.get("sources"))
    if not sources:
        raise ValueError(f"features.yaml: {name}: no sources")
    for col in sources:
        if col not in CONTRACT or col in _NOT_FEATURES or CONTRACT[col].is_label:
            raise ValueError(f"features.yaml: {name}: {col!r} is not a contract input column")
    context = [c for c in sources if CONTRACT[c].is_context]
    if context and len(context) != len(sources):
        raise ValueError(f"features.yaml: {name}: mixes context and behaviour columns")
    if op == "code" and (len(sources) != 1 or CONTRACT[sources[0]].kind != "category"):
        raise ValueError(f"features.yaml: {name}: code needs exactly one category column")
    if op != "code" and any(CONTRACT[c].kind == "category" for c in sources):
        raise ValueError(f"features.yaml: {name}: only op code may read a category column")
    monotone = int(raw.get("monotone", 0))
    if monotone not in (-1, 0, 1) or (context and monotone != 0):
        raise ValueError(f"features.yaml: {name}: monotone must be -1/0/+1, and 0 for context")
    blocks = _as_tuple(raw.get("blocks"))
    blocks = PILLARS if blocks == ("all",) else blocks
    if not blocks or not set(blocks) <= set(PILLARS):
        raise ValueError(f"features.yaml: {name}: blocks must be pillars or [all]")
    floor = raw.get("denominator_floor")
    return FeatureDef(
        name=name,
        op=op,
        sources=sources,
        blocks=tuple(blocks),
        monotone=monotone,
        actionable=not context and not set(sources) <= earned,
        per_week=bool(raw.get("per_week", False)),
        log1p=bool(raw.get("log1p", False)),
        numerator=numerator,
        denominator=denominator,
        denominator_floor=None if floor is None else float(floor),
        sections=sections,
        description=str(raw.get("description", "")),
    )


@cache
def feature_spec() -> FeatureSpec:
    """The packaged feature declarations (``features.yaml``), validated against the contract."""
    text = resources.files("ssi_model").joinpath("features.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    earned = frozenset(raw.get("earned_inputs", ()))
    unknown = earned - set(CONTRACT.behaviour_columns)
    if unknown:
        raise ValueError(f"features.yaml: earned_inputs not behaviour columns: {sorted(unknown)}")
    features = tuple(_parse_feature(f, earned) for f in raw["features"])
    names = [f.name for f in features]
    if len(set(names)) != len(names):
        raise ValueError("features.yaml: duplicate feature names")
    return FeatureSpec(version=int(raw["version"]), earned_inputs=tuple(earned), features=features)


# --------------------------------------------------------------------------------------------------
# The compiled plan: index arrays, so a transform is a handful of numpy operations for any row count
# --------------------------------------------------------------------------------------------------


def _padded(index_lists: Sequence[Sequence[int]], pad: int) -> np.ndarray:
    """Rows of column indices, padded with ``pad`` (an all-zero column) to a common width."""
    width = max((len(ix) for ix in index_lists), default=1)
    out = np.full((len(index_lists), width), pad, dtype=np.intp)
    for i, ix in enumerate(index_lists):
        out[i, : len(ix)] = ix
    return out


@dataclass(frozen=True)
class _ValueGroup:
    """``value``/``code`` features reading the same number of columns (one gather per group)."""

    pos: np.ndarray  # output rows
    src: np.ndarray  # (features, width) input rows to add
    divisor: np.ndarray  # (features, 1): weeks for per_week, else 1 (dividing by 1 is exact)
    log_rows: np.ndarray  # rows of this group that take log1p

    @classmethod
    def build(cls, items: Sequence[tuple[int, FeatureDef]], col: Mapping[str, int], pad: int,
              weeks: float) -> _ValueGroup:
        return cls(
            pos=np.array([i for i, _ in items], dtype=np.intp),
            src=_padded([[col[c] for c in f.sources] for _, f in items], pad),
            divisor=np.array([[weeks if f.per_week else 1.0] for _, f in items]).reshape(-1, 1),
            log_rows=np.array([k for k, (_, f) in enumerate(items) if f.log1p], dtype=np.intp),
        )


@dataclass(frozen=True)
class _Plan:
    features: tuple[FeatureDef, ...]
    input_columns: tuple[str, ...]  # contract columns read, in contract order
    categories: tuple[tuple[str, ...] | None, ...]  # per input column: category values or None
    lookups: tuple[dict[str, int] | None, ...]  # per input column: category value -> code
    indexes: tuple[pd.Index | None, ...]  # the same as a pandas Index, for whole columns
    value_groups: tuple[_ValueGroup, ...]  # single-column features, then sums of columns
    ratio_pos: np.ndarray
    ratio_num: np.ndarray
    ratio_den: np.ndarray
    ratio_floor: np.ndarray  # NaN where a ratio has no floor
    share_pos: np.ndarray
    share_src: np.ndarray
    share_threshold: np.ndarray
    share_membership: np.ndarray  # (sections, share features) 0/1

    @property
    def n_features(self) -> int:
        return len(self.features)

    @cached_property
    def numeric_rows(self) -> np.ndarray:
        """Input rows of the numeric (non-category) columns, in ``input_columns`` order."""
        return np.array([j for j, vals in enumerate(self.categories) if vals is None],
                        dtype=np.intp)

    @cached_property
    def numeric_columns(self) -> tuple[str, ...]:
        return tuple(self.input_columns[j] for j in self.numeric_rows)

    @cached_property
    def category_inputs(self) -> tuple[tuple[int, str, dict[str, int], pd.Index], ...]:
        """(input row, column, value -> code, the values as an Index) of the category columns."""
        return tuple((j, name, lookup, index) for j, (name, lookup, index) in enumerate(
            zip(self.input_columns, self.lookups, self.indexes, strict=True))
            if lookup is not None and index is not None)


@cache
def _compile(exclude: tuple[str, ...]) -> _Plan:
    spec = feature_spec()
    unknown = set(exclude) - set(spec.names)
    if unknown:
        raise ValueError(f"exclude names unknown features: {sorted(unknown)}")
    features = tuple(f for f in spec.features if f.name not in exclude)
    used = {c for f in features for c in f.sources}
    input_columns = tuple(c for c in CONTRACT.input_columns if c in used)
    col = {c: j for j, c in enumerate(input_columns)}
    pad = len(input_columns)  # index of the all-zero padding column
    weeks = CONTRACT.window_days / 7.0
    categories = tuple(
        CONTRACT[c].values if CONTRACT[c].kind == "category" else None for c in input_columns
    )

    value = [(i, f) for i, f in enumerate(features) if f.op in ("code", "value")]
    ratio = [(i, f) for i, f in enumerate(features) if f.op == "ratio"]
    share = [(i, f) for i, f in enumerate(features) if f.op == "share_filled"]
    sections = list(dict.fromkeys(s for _, f in share for s in f.sections))
    membership = np.zeros((len(sections), len(share)))
    for k, (_, f) in enumerate(share):
        for s in f.sections:
            membership[sections.index(s), k] = 1.0

    return _Plan(
        features=features,
        input_columns=input_columns,
        categories=categories,
        lookups=tuple(
            None if vals is None else {v: k for k, v in enumerate(vals)} for vals in categories
        ),
        # object dtype: a pyarrow-backed str Index is ~30x slower to compare for a single row
        indexes=tuple(
            None if vals is None else pd.Index(list(vals), dtype=object) for vals in categories
        ),
        value_groups=tuple(
            _ValueGroup.build(items, col, pad, weeks)
            for items in (
                [(i, f) for i, f in value if len(f.sources) == 1],
                [(i, f) for i, f in value if len(f.sources) > 1],
            )
            if items
        ),
        ratio_pos=np.array([i for i, _ in ratio], dtype=np.intp),
        ratio_num=_padded([[col[c] for c in f.numerator] for _, f in ratio], pad),
        ratio_den=_padded([[col[c] for c in f.denominator] for _, f in ratio], pad),
        ratio_floor=np.array(
            [np.nan if f.denominator_floor is None else f.denominator_floor for _, f in ratio]
        ),
        share_pos=np.array([i for i, _ in share], dtype=np.intp),
        share_src=np.array([col[c] for c, _ in sections], dtype=np.intp),
        share_threshold=np.array([t for _, t in sections]),
        share_membership=membership,
    )


def _gather_sum(inputs: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Sums of the indexed input rows (NaN if any is unknown); fixed order, so exact and stable."""
    total = inputs[index[:, 0]]
    for j in range(1, index.shape[1]):
        total += inputs[index[:, j]]
    return total


def _compute(plan: _Plan, inputs: np.ndarray) -> np.ndarray:
    """Features (F, n) from the inputs (len(input_columns) + 1, n; the last row is all zero).

    Column-major on purpose: gathering whole rows is a memcpy, and ``out.T`` is exactly the layout
    a pandas DataFrame keeps its float block in, so no copy is made building the frame.
    """
    out = np.empty((plan.n_features, inputs.shape[1]))

    for group in plan.value_groups:
        values = _gather_sum(inputs, group.src)
        np.divide(values, group.divisor, out=values)
        if group.log_rows.size:
            values[group.log_rows] = np.log1p(values[group.log_rows])
        out[group.pos] = values

    if plan.ratio_pos.size:
        num = _gather_sum(inputs, plan.ratio_num)
        den = _gather_sum(inputs, plan.ratio_den)
        floor = plan.ratio_floor[:, None]
        den = np.where(np.isnan(floor), den, np.maximum(den, floor))
        # Divided only where the denominator is not 0 (no invitations sent: the acceptance rate
        # is unknown, not 0): no 0/0 to silence, and np.errstate costs more than the division.
        ratio = np.full_like(num, np.nan)
        np.divide(num, den, out=ratio, where=den != 0)
        out[plan.ratio_pos] = ratio

    if plan.share_pos.size:
        sections = inputs[plan.share_src]
        membership = plan.share_membership.T
        known = membership @ (~np.isnan(sections)).astype(float)
        filled = membership @ (sections >= plan.share_threshold[:, None]).astype(float)
        share = np.full_like(known, np.nan)  # nothing known: unknown
        np.divide(filled, known, out=share, where=known > 0)
        out[plan.share_pos] = share

    return out


# --------------------------------------------------------------------------------------------------
# The transformer
# --------------------------------------------------------------------------------------------------


class PillarFeatureBuilder(TransformerMixin, BaseEstimator):
    """Contract rows → pillar features (float64 DataFrame, NaN = unknown).

    Parameters
    ----------
    exclude : names of features in ``features.yaml`` to leave out (e.g. a ratio, to keep the booster
        guaranteed monotone in its denominator column; see ``input_monotone_``).

    Input: a DataFrame with contract column names, typed (``CONTRACT.to_typed``) or raw (CSV:
    floats, ints, bools, strings). Absent contract columns are unknown; other columns are ignored.
    A 2-D array without column names is read positionally as the columns ``fit`` saw
    (``feature_names_in_``); if ``fit`` saw no names either, it holds no contract column and every
    feature is NaN (with a warning). That is how the generic scikit-learn checks run.

    Output: ``transform`` returns a float64 DataFrame in ``feature_names_out_`` order with the
    input's index (``set_output`` may turn it into another container); ``features`` returns
    the same numbers as an ndarray from a :class:`~ssi_model.batch.ProfileBatch` (records,
    column arrays, lever variants), without pandas.

    Attributes (after ``fit``; the transform itself learns nothing from data)
    ----------
    feature_names_out_ : ndarray of str, the output columns.
    feature_blocks_ : pillar → feature names of that pillar's booster (context features first).
    monotone_ : feature → +1 / 0 / -1 LightGBM monotone constraint.
    actionable_ : feature → whether a member's own behaviour changes it (context never).
    sources_ : feature → contract columns it is computed from (to roll SHAP values up to columns).
    categorical_features_ : features holding category codes (LightGBM ``categorical_feature``).
    input_monotone_ : pillar → behaviour column the block reads → +1 when a booster fitted on
        that block with ``monotone_`` is guaranteed not to fall as the column rises (the other
        columns fixed); 0 when no such guarantee holds (the column is the denominator of a +1
        rate or share: raising it alone lowers that feature).
    n_features_in_, feature_names_in_ : as in scikit-learn.
    """

    def __init__(self, exclude: Iterable[str] = ()) -> None:
        self.exclude = exclude

    # -- scikit-learn API ----------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> PillarFeatureBuilder:
        """Check the input's shape and record the feature metadata; returns ``self``."""
        self._frame(X, reset=True)
        plan = _compile(tuple(self.exclude))
        self._plan = plan
        names = [f.name for f in plan.features]
        self.feature_names_out_ = np.asarray(names, dtype=object)
        self.feature_blocks_ = {
            p: [f.name for f in plan.features if p in f.blocks] for p in PILLARS
        }
        self.monotone_ = {f.name: f.monotone for f in plan.features}
        self.actionable_ = {f.name: f.actionable for f in plan.features}
        self.sources_ = {f.name: list(f.sources) for f in plan.features}
        self.categorical_features_ = [f.name for f in plan.features if f.op == "code"]
        self.input_monotone_ = {p: _input_monotone(plan.features, p) for p in PILLARS}
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        """Features of every row: float64 DataFrame, columns ``feature_names_out_``, X's index."""
        check_is_fitted(self)
        frame = self._frame(X, reset=False)
        if len(frame) and not any(name in frame.columns for name in self._plan.input_columns):
            warnings.warn(
                "X has no contract input column; every feature is unknown (NaN)",
                UserWarning,
                stacklevel=2,
            )
        return pd.DataFrame(
            self.features(ProfileBatch.from_frame(frame)),
            columns=pd.Index(self.feature_names_out_, dtype=object),
            index=frame.index,
            copy=False,
        )

    def features(self, batch: ProfileBatch) -> np.ndarray:
        """Features of a batch of profiles: float64 (n, F) in ``feature_names_out_`` order.

        Every scoring path comes here: ``transform`` (frames), the estimator's ``predict``
        (frames, records, batches) and the explanations (a member with its lever variants).
        """
        if "_plan" not in self.__dict__:  # scikit-learn's own error; its check costs 20 µs
            check_is_fitted(self)
        plan: _Plan = self._plan
        n = len(batch)
        inputs = np.empty((len(plan.input_columns) + 1, n))
        inputs[-1] = 0.0  # the padding row the plan's index arrays point at
        # The numeric columns in one copy (a row assignment each costs more, for a profile)
        inputs[plan.numeric_rows] = np.concatenate(
            [batch[name] for name in plan.numeric_columns]).reshape(len(plan.numeric_rows), n)
        for j, name, lookup, index in plan.category_inputs:
            values = batch[name]
            if n <= _DICT_LOOKUP_ROWS:  # a dict per cell: far cheaper than an indexer on a few
                inputs[j, :] = [lookup.get(v, np.nan) for v in values]
            else:
                codes = index.get_indexer(values).astype(np.float64)  # type: ignore[arg-type]
                codes[codes < 0] = np.nan
                inputs[j] = codes
        # Column-major, so out.T is the layout a DataFrame keeps its float block in (no copy).
        return _compute(plan, inputs).T

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self)
        _check_feature_names_in(self, input_features)
        return np.asarray(self.feature_names_out_, dtype=object).copy()

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # NaN is how the contract says "unknown"
        return tags

    # -- helpers -------------------------------------------------------------------------------

    def _frame(self, X: Any, *, reset: bool) -> pd.DataFrame:
        """X as a DataFrame with column names (see the class docstring for unnamed arrays)."""
        if isinstance(X, pd.DataFrame):
            if reset:
                validate_data(self, X, reset=True, skip_check_array=True)
            return X
        names = None if reset else getattr(self, "feature_names_in_", None)
        array = validate_data(
            self, X, reset=reset, ensure_all_finite="allow-nan",
            dtype=None if names is not None else "numeric",
        )
        return pd.DataFrame(array, columns=names)


def _input_monotone(features: Sequence[FeatureDef], pillar: str) -> dict[str, int]:
    """For each behaviour column the block reads: the sign the booster is guaranteed to move in."""
    block = [f for f in features if pillar in f.blocks]
    columns = [
        c for c in CONTRACT.behaviour_columns if any(c in f.sources for f in block)
    ]
    result: dict[str, int] = {}
    for column in columns:
        signs = {f.monotone * f.response(column) for f in block if column in f.sources}
        result[column] = signs.pop() if len(signs) == 1 and 0 not in signs else 0
    return result
