"""The data contract: one profile snapshot per row.

Declared once in ``contract.yaml`` and read here; validation, the simulator, the feature builder,
the API schema and the export reader all take columns, kinds and ranges from this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml

Kind = Literal["string", "date", "category", "int", "bool", "float"]
Group = Literal["context", "brand", "people", "insights", "relationships", "label"]

PILLARS: tuple[str, ...] = ("brand", "people", "insights", "relationships")
PILLAR_LABELS: dict[str, str] = {p: f"ssi_{p}" for p in PILLARS}
TOTAL_LABEL = "ssi_total"
_PLAIN: dict[str, Any] = {"int": int, "float": float, "bool": bool}


@dataclass(frozen=True)
class Column:
    """One contract column: its kind, group and valid range (bounds may name another column)."""

    name: str
    kind: Kind
    group: Group
    required: bool = False
    min: float | str | None = None
    max: float | str | None = None
    values: tuple[str, ...] = ()
    description: str = ""

    @property
    def is_label(self) -> bool:
        return self.group == "label"

    @property
    def is_context(self) -> bool:
        return self.group == "context"

    def numeric_bound(self, which: Literal["min", "max"]) -> float | None:
        """The bound if it is a number; ``None`` if absent or if it names another column."""
        bound = getattr(self, which)
        return float(bound) if isinstance(bound, int | float) else None

    def column_bound(self, which: Literal["min", "max"]) -> str | None:
        """The other column's name if the bound is a cross-column rule."""
        bound = getattr(self, which)
        return bound if isinstance(bound, str) else None

    def pandas_dtype(self) -> Any:
        """The pandas dtype of this column in a validated frame (nullable: NA means unknown)."""
        if self.kind == "int":
            return "Int64"
        if self.kind == "float":
            return "Float64"
        if self.kind == "bool":
            return "boolean"
        if self.kind == "category":
            return pd.CategoricalDtype(list(self.values), ordered=False)
        if self.kind == "date":
            return "datetime64[ns]"
        return "string"


@dataclass(frozen=True)
class Contract:
    version: int
    window_days: int
    pillar_max: float
    total_max: float
    label_sum_tolerance: float
    columns: tuple[Column, ...]
    _by_name: dict[str, Column] = field(repr=False, compare=False, default_factory=dict)

    def __getitem__(self, name: str) -> Column:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    # The column lists are computed once (the contract is immutable) and handed out as fresh
    # lists, so a caller may change its copy; the explanation path reads them per lever.

    @cached_property
    def _lists(self) -> dict[str, tuple[str, ...]]:
        return {
            "names": tuple(c.name for c in self.columns),
            "required": tuple(c.name for c in self.columns if c.required),
            "input": tuple(c.name for c in self.columns if not c.is_label),
            "context": tuple(c.name for c in self.columns if c.is_context),
            "behaviour": tuple(c.name for c in self.columns if c.group in PILLARS),
            "label": tuple(c.name for c in self.columns if c.is_label),
        }

    @property
    def names(self) -> list[str]:
        return list(self._lists["names"])

    @property
    def required(self) -> list[str]:
        return list(self._lists["required"])

    @property
    def input_columns(self) -> list[str]:
        """Everything a prediction may use: context and the four pillars' inputs (no labels)."""
        return list(self._lists["input"])

    @property
    def context_columns(self) -> list[str]:
        return list(self._lists["context"])

    @property
    def behaviour_columns(self) -> list[str]:
        """Inputs a member can change (pillar inputs): the only columns a lever may touch."""
        return list(self._lists["behaviour"])

    @property
    def label_columns(self) -> list[str]:
        return list(self._lists["label"])

    def pillar_inputs(self, pillar: str) -> list[str]:
        return [c.name for c in self.columns if c.group == pillar]

    @cached_property
    def _cross_rules(self) -> tuple[tuple[str, Literal["min", "max"], str], ...]:
        rules: list[tuple[str, Literal["min", "max"], str]] = []
        for col in self.columns:
            for which in ("min", "max"):
                assert which == "min" or which == "max"
                other = col.column_bound(which)
                if other is not None:
                    rules.append((col.name, which, other))
        return tuple(rules)

    def cross_rules(self) -> list[tuple[str, Literal["min", "max"], str]]:
        """``(column, 'max', other)`` for every rule such as ``accepted <= sent``."""
        return list(self._cross_rules)

    def empty_frame(self, columns: list[str] | None = None) -> pd.DataFrame:
        names = columns if columns is not None else self.names
        return pd.DataFrame({n: pd.Series(dtype=self[n].pandas_dtype()) for n in names})

    def to_typed(self, df: pd.DataFrame) -> pd.DataFrame:
        """Cast already-valid values to the contract's dtypes; add absent columns as unknown.

        Extra columns are kept after the contract's. This never clips or drops: a value that does
        not fit its dtype raises, so call it only on rows that passed validation or that code made.
        """
        out: dict[str, Any] = {}
        for col in self.columns:
            if col.name in df.columns:
                s = df[col.name]
                if col.kind == "date":
                    out[col.name] = pd.to_datetime(s).astype("datetime64[ns]")
                elif col.kind == "int":
                    out[col.name] = s.astype("Float64").astype("Int64")  # raises if not whole
                else:
                    out[col.name] = s.astype(col.pandas_dtype())
            else:
                out[col.name] = pd.Series(
                    [pd.NA] * len(df), index=df.index, dtype=col.pandas_dtype()
                ) if col.kind != "date" else pd.Series(
                    pd.NaT, index=df.index, dtype="datetime64[ns]"
                )
        typed = pd.DataFrame(out, index=df.index)
        extras = [c for c in df.columns if c not in self._by_name]
        return pd.concat([typed, df[extras]], axis=1) if extras else typed

    def to_records(self, df: pd.DataFrame, *, for_json: bool = False) -> list[dict[str, Any]]:
        """The input columns of a (typed) frame as plain Python values, one dict per row.

        int, float, bool, str or ``datetime.date``; ``None`` for unknown (an absent column too).
        ``for_json``: as an API request carries a profile: dates as ISO text, unknown left out.
        """
        columns: dict[str, list[Any]] = {}
        for name in self.input_columns:
            if name not in df.columns:
                columns[name] = [None] * len(df)
                continue
            kind = self[name].kind
            known = df[name].notna().to_numpy()
            cells = df[name].astype(object).to_numpy()
            if kind == "date":
                days = [pd.Timestamp(v).date() if k else None
                        for v, k in zip(cells, known, strict=True)]
                columns[name] = [d.isoformat() if d and for_json else d for d in days]
            else:
                plain = _PLAIN.get(kind, str)
                columns[name] = [plain(v) if k else None
                                 for v, k in zip(cells, known, strict=True)]
        records = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(),
                                                                        strict=True)]
        if for_json:
            return [{k: v for k, v in r.items() if v is not None} for r in records]
        return records

    def to_numeric(self, df: pd.DataFrame, columns: list[str]) -> np.ndarray:
        """Numeric (float64, NaN for unknown) matrix of int/bool/float columns, for models."""
        return np.column_stack(
            [pd.to_numeric(df[c].astype("Float64"), errors="raise").to_numpy(
                dtype=float, na_value=np.nan) for c in columns]
        ) if columns else np.empty((len(df), 0))


@cache
def load_contract() -> Contract:
    text = resources.files("ssi_model").joinpath("contract.yaml").read_text(encoding="utf-8")
    spec = yaml.safe_load(text)
    columns = tuple(
        Column(
            name=c["name"],
            kind=c["kind"],
            group=c["group"],
            required=bool(c.get("required", False)),
            min=c.get("min"),
            max=c.get("max"),
            values=tuple(c.get("values", ())),
            description=c.get("description", ""),
        )
        for c in spec["columns"]
    )
    assert tuple(spec["pillars"]) == PILLARS, "contract.yaml pillars disagree with PILLARS"
    contract = Contract(
        version=int(spec["version"]),
        window_days=int(spec["window_days"]),
        pillar_max=float(spec["pillar_max"]),
        total_max=float(spec["total_max"]),
        label_sum_tolerance=float(spec["label_sum_tolerance"]),
        columns=columns,
    )
    contract._by_name.update({c.name: c for c in columns})
    return contract


CONTRACT = load_contract()
