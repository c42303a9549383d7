"""One column-wise batch of profiles: the form every scoring path reads.

A :class:`ProfileBatch` holds the contract's profile columns (every input column except
``member_id`` and ``snapshot_date``) as numpy arrays: numbers and booleans as float64 (NaN =
unknown, booleans 0/1), categories as object arrays of ``str`` or ``None``; plus the member ids
and the row count. It is built once from whatever a caller holds (a typed or raw frame, plain
records as the API gets them, or column arrays) and then feeds the features, the predictions and
the explanations (which change a few columns of it for each lever variant).

Cells are read by the contract: a value that is already a number or a boolean is taken as it is
(ranges and cross-column rules are validation's job, not this module's); a text cell goes through
:meth:`Contract.parse_series`, so every spelling validation accepts (``"ja"``, ``" 12 "``) reads the
same here, and a cell validation rejects raises its :class:`~ssi_model.contract.CellError` (a
``ValueError``). A category outside the contract raises too; an empty cell is unknown.

>>> batch = ProfileBatch.from_records([{"member_id": "m-1", "posts_90d": 4}])
>>> batch["posts_90d"], batch["industry"], len(batch)
(array([4.]), array([None], dtype=object), 1)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from ssi_model.contract import CONTRACT, CellError

__all__ = ["CATEGORY_COLUMNS", "NUMERIC_COLUMNS", "PROFILE_COLUMNS", "ProfileBatch", "as_batch"]

PROFILE_COLUMNS: tuple[str, ...] = tuple(
    c for c in CONTRACT.input_columns if c not in ("member_id", "snapshot_date")
)
CATEGORY_COLUMNS: tuple[str, ...] = tuple(
    c for c in PROFILE_COLUMNS if CONTRACT[c].kind == "category"
)
NUMERIC_COLUMNS: tuple[str, ...] = tuple(c for c in PROFILE_COLUMNS if c not in CATEGORY_COLUMNS)
_ALLOWED: dict[str, frozenset[str]] = {c: frozenset(CONTRACT[c].values) for c in CATEGORY_COLUMNS}
_MASKED_ARRAYS = (pd.arrays.IntegerArray, pd.arrays.FloatingArray, pd.arrays.BooleanArray)


class ProfileBatch:
    """Profiles as column arrays (see the module docstring); ``len(batch)`` is the row count.

    ``batch[column]`` is a column's array (every name in ``PROFILE_COLUMNS``). The arrays are
    shared, not copied, by :meth:`with_values`; :meth:`take` and :meth:`concat` make new ones.
    Code that changes values in place (the levers) copies the columns it writes first.
    """

    __slots__ = ("_columns", "member_id")

    def __init__(self, columns: Mapping[str, np.ndarray], member_id: np.ndarray) -> None:
        """Trusted construction from already-read arrays; use the ``from_*`` constructors."""
        self._columns = dict(columns)
        self.member_id = member_id

    # -- constructors ------------------------------------------------------------------------

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> ProfileBatch:
        """Contract rows as a frame, typed (``CONTRACT.to_typed``) or raw (CSV: numbers, words).

        An absent contract column is unknown; other columns are ignored. Without a ``member_id``
        column the rows are numbered ``"0"``, ``"1"``, …
        """
        names = frame.columns.tolist()
        position = {name: i for i, name in enumerate(names)}
        if len(position) != len(names):
            raise ValueError("X has duplicate column names")
        n = len(frame)
        columns: dict[str, np.ndarray] = {}
        for name in PROFILE_COLUMNS:
            j = position.get(name, -1)
            if j < 0:
                columns[name] = _unknown(name, n)
            elif name in CATEGORY_COLUMNS:
                columns[name] = _category_array(_column_array(frame, j), name)
            else:
                columns[name] = _numeric_array(_column_array(frame, j), name)
        if "member_id" in position:
            text = frame["member_id"].astype("string")
            ids = text.astype(object).where(text.notna(), None).to_numpy()
        else:
            ids = np.arange(n).astype(str).astype(object)
        return cls(columns, ids)

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]]) -> ProfileBatch:
        """Plain dicts of contract values, as an API request carries them (a missing key or
        ``None`` is unknown). Built cell by cell, without pandas: cheap for a few rows."""
        n = len(records)
        # One (columns, n) matrix from one nested list: a numpy call per column would cost more
        # than reading the cells of a single profile.
        numbers = np.empty((len(NUMERIC_COLUMNS), n))
        numbers.T[:] = [[_number(name, r.get(name)) for name in NUMERIC_COLUMNS]
                        for r in records] if n else 0.0
        columns: dict[str, np.ndarray] = dict(zip(NUMERIC_COLUMNS, numbers, strict=True))
        for name in CATEGORY_COLUMNS:
            cells = np.empty(n, dtype=object)
            cells[:] = [_category(name, r.get(name)) for r in records]
            columns[name] = cells
        ids = np.empty(n, dtype=object)
        ids[:] = [None if (v := r.get("member_id")) is None else str(v) for r in records]
        return cls({c: columns[c] for c in PROFILE_COLUMNS}, ids)

    @classmethod
    def from_columns(cls, columns: Mapping[str, Any],
                     member_id: Sequence[Any] | np.ndarray | None = None) -> ProfileBatch:
        """Column arrays (all of one length) read like a frame's columns; absent ones unknown."""
        frame = pd.DataFrame(dict(columns))
        if member_id is not None:
            frame["member_id"] = np.asarray(member_id, dtype=object)
        return cls.from_frame(frame)

    @classmethod
    def concat(cls, batches: Sequence[ProfileBatch]) -> ProfileBatch:
        """The batches' rows one after the other (one scoring pass for all of them)."""
        columns = {c: np.concatenate([b._columns[c] for b in batches]) for c in PROFILE_COLUMNS}
        return cls(columns, np.concatenate([b.member_id for b in batches]))

    # -- views and variants ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.member_id)

    def __getitem__(self, column: str) -> np.ndarray:
        return self._columns[column]

    def __contains__(self, column: object) -> bool:
        return column in self._columns

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    @property
    def columns(self) -> Mapping[str, np.ndarray]:
        """Column name → array (read-only mapping; the arrays themselves are the batch's)."""
        return MappingProxyType(self._columns)

    def take(self, indices: np.ndarray | Sequence[int]) -> ProfileBatch:
        """The rows at ``indices`` (repeats allowed), as new arrays."""
        index = np.asarray(indices, dtype=np.intp)
        return ProfileBatch({c: a[index] for c, a in self._columns.items()},
                            self.member_id[index])

    def with_values(self, values: Mapping[str, np.ndarray]) -> ProfileBatch:
        """The same rows with some columns replaced by ``values`` (arrays in the batch's form:
        float64 for numbers and booleans, ``str``/``None`` objects for categories); the other
        columns are shared with this batch."""
        unknown = set(values) - set(self._columns)
        if unknown:
            raise KeyError(f"not profile columns: {sorted(unknown)}")
        for column, array in values.items():
            if len(array) != len(self):
                raise ValueError(f"{column}: {len(array)} values for {len(self)} rows")
        return ProfileBatch({**self._columns, **values}, self.member_id)

    def to_frame(self) -> pd.DataFrame:
        """``member_id`` and the profile columns, typed as the contract types them."""
        frame = pd.DataFrame({"member_id": self.member_id, **self._columns})
        return CONTRACT.to_typed(frame)[["member_id", *PROFILE_COLUMNS]]


def as_batch(rows: pd.DataFrame | Sequence[Mapping[str, Any]] | ProfileBatch) -> ProfileBatch:
    """A frame, records or a batch, as a batch (a batch is returned as it is)."""
    if isinstance(rows, ProfileBatch):
        return rows
    if isinstance(rows, pd.DataFrame):
        return ProfileBatch.from_frame(rows)
    return ProfileBatch.from_records(rows)


# --------------------------------------------------------------------------------------------------
# Reading cells. One reader per kind (_number, _category); a frame's object column applies it to
# each distinct value once, so a large CSV column of words costs a handful of contract parses.
# --------------------------------------------------------------------------------------------------


def _unknown(name: str, n: int) -> np.ndarray:
    return np.full(n, None, dtype=object) if name in CATEGORY_COLUMNS else np.full(n, np.nan)


def _column_array(frame: pd.DataFrame, position: int) -> Any:
    """The values of one column without building a Series (which costs ~20 µs a column)."""
    get = getattr(frame, "_get_column_array", None)  # pandas internal; public fallback below
    return get(position) if get is not None else frame.iloc[:, position].array


def _contract_value(name: str, text: str) -> Any:
    """A text cell as the contract parses it (validation's parse); raises CellError if invalid."""
    typed, errors = CONTRACT.parse_series(name, pd.Series([text], dtype=object))
    if errors[0] is not None:
        raise CellError(errors[0])
    value = typed.iloc[0]
    return None if pd.isna(value) else value


def _number(name: str, value: Any) -> float:
    """One numeric or boolean cell as a float (NaN = unknown)."""
    kind = type(value)
    if kind is int or kind is float or kind is bool:  # the common case first: it is per cell
        return float(value)
    if value is None or value is pd.NA or value is pd.NaT:
        return np.nan
    if isinstance(value, bool | int | float | np.bool_ | np.integer | np.floating):
        return float(value)
    if isinstance(value, str):
        parsed = _contract_value(name, value)
        return np.nan if parsed is None else float(parsed)
    raise TypeError(f"column {name!r}: unsupported value {value!r}")


def _category(name: str, value: Any) -> str | None:
    """One category cell: a contract value, or None for unknown; anything else raises."""
    if type(value) is str and value in _ALLOWED[name]:
        return value
    if value is None or value is pd.NA or value == "" or (
        isinstance(value, float) and np.isnan(value)
    ):
        return None
    if isinstance(value, str):  # " tech": the contract strips; a value it does not know raises
        try:
            return str(_contract_value(name, value))
        except CellError:
            raise ValueError(f"column {name!r}: value outside the contract: {value!r}") from None
    raise ValueError(f"column {name!r}: value outside the contract: {value!r}")


def _per_distinct(values: Any, read: Any, name: str, dtype: Any, missing: Any) -> np.ndarray:
    """``read(name, v)`` for every cell, computed once per distinct value (NA cells: missing)."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    table = np.empty(len(uniques) + 1, dtype=dtype)
    table[:-1] = [read(name, v) for v in uniques]
    table[-1] = missing  # code -1 (NA) picks the trailing entry
    return table[codes]


def _numeric_array(values: Any, name: str) -> np.ndarray:
    """float64 (NaN = unknown) from a numeric, boolean, nullable or object column."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return values.astype(np.float64)
    if isinstance(values, _MASKED_ARRAYS):  # Int64, Float64, boolean: NA -> NaN
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return _per_distinct(values, _number, name, np.float64, np.nan)


def _category_array(values: Any, name: str) -> np.ndarray:
    """Contract category values as objects (``None`` = unknown); a value outside raises."""
    if isinstance(values, pd.Categorical):  # one check per category, and only used ones
        used = np.unique(values.codes[values.codes >= 0])
        categories = np.full(len(values.categories) + 1, None, dtype=object)
        categories[used] = [_category(name, values.categories[k]) for k in used]
        return categories[values.codes]
    return _per_distinct(values, _category, name, object, None)
