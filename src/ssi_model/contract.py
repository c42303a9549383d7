"""The data contract: one profile snapshot per row, and the one engine that applies its rules.

Declared once in ``contract.yaml`` and read here; validation, the simulator, the feature builder,
the API schema, lever application and the export reader all take from this module the columns,
kinds and ranges, the parse of a cell (:meth:`Contract.parse_series`, :meth:`Contract.parse_cell`,
one set of true/false words), and the rule evaluator (:meth:`Contract.check_row`,
:meth:`Contract.check_frame`, :meth:`Contract.rules_broken`): every range and cross-column rule
is data (:class:`Rule`) and every caller gets the same :class:`Violation` with the same message.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache, cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd

from ssi_model.contract_spec import SOURCE_LANG, languages
from ssi_model.contract_spec import spec as contract_spec

__all__ = ["BOOL_WORDS", "CONTRACT", "FALSE_WORDS", "PILLARS", "PILLAR_LABELS", "SOURCE_LANG",
           "TOTAL_LABEL", "TRUE_WORDS", "CellError", "Column", "Contract", "Rule", "Violation",
           "languages", "load_contract", "parse_bool_word"]

Kind = Literal["string", "date", "category", "int", "bool", "float"]
Group = Literal["context", "brand", "people", "insights", "relationships", "label"]

PILLARS: tuple[str, ...] = ("brand", "people", "insights", "relationships")
PILLAR_LABELS: dict[str, str] = {p: f"ssi_{p}" for p in PILLARS}
TOTAL_LABEL = "ssi_total"
_PLAIN: dict[str, Any] = {"int": int, "float": float, "bool": bool}

# The words a cell may carry for a boolean (compared stripped and case-folded), in English, Dutch
# and German, as CSV files, web forms and LinkedIn exports spell them.
TRUE_WORDS: frozenset[str] = frozenset(
    {"true", "t", "yes", "y", "1", "1.0", "waar", "ja", "j", "wahr"})
FALSE_WORDS: frozenset[str] = frozenset(
    {"false", "f", "no", "n", "0", "0.0", "onwaar", "nee", "falsch", "nein"})
BOOL_WORDS: dict[str, bool] = {**dict.fromkeys(TRUE_WORDS, True),
                               **dict.fromkeys(FALSE_WORDS, False)}

_EPOCH = date(1970, 1, 1)


def parse_bool_word(word: object) -> bool | None:
    """``True``/``False`` for one of the contract's bool words, ``None`` for anything else."""
    return BOOL_WORDS.get(str(word).strip().casefold())


@dataclass(frozen=True)
class Violation:
    """One broken rule: the column it is reported on, the rule's name, the offending value.

    ``rule`` names the kind of rule (``required``, ``not_a_number``, ``not_whole``,
    ``not_bool``, ``not_allowed``, ``not_a_date``, ``greater_than_equal``, ``less_than_equal``,
    ``cross_column_rule``, ``date_too_early``, ``date_in_future``, ``label_sum``);
    ``expression`` states it (``posts_90d <= 10000``); ``message`` is the reason validation
    writes to the quarantine file.
    """

    column: str
    rule: str
    value: Any
    message: str
    expression: str = ""


class CellError(ValueError):
    """A cell that does not parse as its column's kind (raised by :meth:`Contract.parse_cell`)."""

    def __init__(self, violation: Violation) -> None:
        super().__init__(violation.message)
        self.violation = violation


@dataclass(frozen=True)
class Rule:
    """One range or cross-column rule, as data: ``column op bound`` (``op`` is ``>=`` or ``<=``).

    ``bound`` is a number (a range), or ``other`` names a column (``accepted <= sent``); ``scope``
    says what the values are: numbers, dates (as days since 1970-01-01, ``other`` may be
    ``today``), or the label sum (``|sum(pillars) - total| <= bound``).
    """

    column: str
    rule: str
    op: Literal[">=", "<="]
    scope: Literal["range", "cross", "date", "date_cross", "label_sum"]
    bound: float | None = None
    other: str | None = None
    valid: str = ""

    @property
    def expression(self) -> str:
        if self.scope == "label_sum":
            return f"|sum of pillars - {self.column}| <= {_fmt(self.bound or 0.0)}"
        right = self.other if self.other is not None else (
            _day_text(self.bound) if self.scope == "date" else _fmt(self.bound or 0.0))
        return f"{self.column} {self.op} {right}"

    @cached_property  # read per rule and record: every request's profiles are checked
    def columns(self) -> tuple[str, ...]:
        if self.scope == "label_sum":
            return (*PILLAR_LABELS.values(), TOTAL_LABEL)
        return (self.column,) if self.other in (None, "today") else (self.column, str(self.other))


def _is_empty(raw: pd.Series) -> np.ndarray:
    """Unknown cells: NA in a typed file, or an empty/blank string in a text file."""
    na = raw.isna().to_numpy()
    if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):
        text = raw.astype("string").str.strip()
        na = na | (text == "").fillna(True).to_numpy(dtype=bool)
    return na


def _show(value: object) -> str:
    text = str(value)
    return repr(text[:40] + "…" if len(text) > 40 else text)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _day_text(days: float | None) -> str:
    return (_EPOCH + timedelta(days=int(days or 0))).isoformat()


def _day_number(value: Any) -> float:
    """A date (``datetime.date``, ``Timestamp``) as days since 1970-01-01; NaN if unknown."""
    if value is None or value is pd.NaT or value is pd.NA:
        return np.nan
    if isinstance(value, pd.Timestamp):
        value = value.date()
    return float((value - _EPOCH).days) if isinstance(value, date) else np.nan


# Broken when the comparison fails; NaN (unknown) compares False, so it never breaks a rule.
# The operator functions take Python floats and numpy arrays alike: one evaluator for both.
_BROKEN: dict[str, Callable[[Any, Any], Any]] = {">=": operator.lt, "<=": operator.gt}


def _blank(values: Any, broken: Any) -> Any:
    if isinstance(values, np.ndarray):
        return np.where(broken, np.nan, values)
    return np.nan if broken else values


@dataclass(frozen=True)
class _RuleVerdict:
    """Every rule of the contract compiled into index arrays: whether one record breaks any rule,
    in a few numpy calls instead of a Python step per rule (``Contract.check_row`` asks this
    first; only a record that breaks something is walked rule by rule for the messages).

    Each rule is ``v[a] < v[b]`` on one vector (``a >= b`` broken; ``a <= b`` is the same with
    the slots swapped): the record's values (NaN unknown), then today's day number, then the
    rules' constant bounds. A comparison with NaN is False, so an unknown or absent value breaks
    nothing, as in ``Contract._evaluate``. That walk blanks a value outside its range for the
    rules after it; one pass judges every rule on the values as given, which is the same
    verdict: a record with a broken range is broken either way, and one without is not blanked.
    """

    slots: Mapping[str, int]  # column -> position in the value vector
    template: np.ndarray  # the vector before a record's values: NaN, today (unset), bounds
    today: int  # today's slot
    a: np.ndarray  # broken where v[a] < v[b]
    b: np.ndarray
    labels: np.ndarray  # the pillar labels' slots (the label sum rule)
    total: int  # the total label's slot, or -1 without a label sum rule
    tolerance: float

    @classmethod
    def of(cls, rules: tuple[Rule, ...], columns: tuple[str, ...]) -> _RuleVerdict:
        slots = {name: i for i, name in enumerate(columns)}
        today = len(columns)
        constants: list[float] = []
        pairs: list[tuple[int, int]] = []
        total, labels, tolerance = -1, np.zeros(0, dtype=np.intp), 0.0
        for rule in rules:
            if rule.scope == "label_sum":
                total = slots[rule.column]
                labels = np.array([slots[c] for c in PILLAR_LABELS.values()], dtype=np.intp)
                tolerance = (rule.bound or 0.0) + 1e-9
                continue
            if rule.other == "today":
                b = today
            elif rule.other is not None:
                b = slots[rule.other]
            else:
                constants.append(float(rule.bound))  # type: ignore[arg-type]
                b = today + len(constants)
            a = slots[rule.column]
            pairs.append((a, b) if rule.op == ">=" else (b, a))
        template = np.full(today + 1 + len(constants), np.nan)
        template[today + 1:] = constants
        return cls(slots=slots, template=template, today=today,
                   a=np.array([a for a, _ in pairs], dtype=np.intp),
                   b=np.array([b for _, b in pairs], dtype=np.intp),
                   labels=labels, total=total, tolerance=tolerance)

    def any_broken(self, values: Mapping[str, float], today: date | None) -> bool:
        """Whether ``values`` (column -> float, dates as day numbers) break any rule."""
        v = self.template.copy()
        slots = self.slots
        for name, value in values.items():
            v[slots[name]] = value
        v[self.today] = _day_number(today or date.today())
        if (v[self.a] < v[self.b]).any():
            return True
        if self.total >= 0:
            return bool(abs(v[self.labels].sum() - v[self.total]) > self.tolerance)
        return False


@dataclass(frozen=True)
class _BrokenPlan:
    """:meth:`Contract.rules_broken`'s grouping of rules: numeric ranges and cross-column rules
    stacked per operator (row indices, comparison, left columns, right bounds or columns), and
    the rules judged alone (dates, the label sum)."""

    size: int
    stacked: tuple[tuple[list[int], Callable[[Any, Any], Any], tuple[str, ...],
                         np.ndarray | tuple[str, ...]], ...]
    alone: tuple[tuple[int, Rule], ...]

    @classmethod
    def of(cls, rules: tuple[Rule, ...], given: frozenset[str]) -> _BrokenPlan:
        known = [i for i, r in enumerate(rules) if given.issuperset(r.columns)]
        stacked: list[Any] = []
        for op, compare in _BROKEN.items():
            ranges = [i for i in known if rules[i].scope == "range" and rules[i].op == op]
            if ranges:
                bounds = np.array([[rules[i].bound] for i in ranges], dtype=float)
                stacked.append((ranges, compare, tuple(rules[i].column for i in ranges), bounds))
            crosses = [i for i in known if rules[i].scope == "cross" and rules[i].op == op]
            if crosses:
                stacked.append((crosses, compare, tuple(rules[i].column for i in crosses),
                                tuple(str(rules[i].other) for i in crosses)))
        grouped = {i for at, *_ in stacked for i in at}
        alone = tuple((i, rules[i]) for i in known if i not in grouped)
        return cls(len(rules), tuple(stacked), alone)


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
    earliest_date: date
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
        """``(column, 'max', other)`` for every numeric rule such as ``accepted <= sent``.

        Date rules (``reported_on >= snapshot_date``) are in :attr:`rules`, not here: callers of
        this list compare numbers.
        """
        return [r for r in self._cross_rules if self[r[0]].kind != "date"]

    @cached_property
    def context_categories(self) -> list[str]:
        """The context columns a member or coach states (industry, role family, …)."""
        return [c.name for c in self.columns if c.is_context and c.kind == "category"]

    # -- the parse of a cell -------------------------------------------------------------------

    def parse_series(self, column: str,
                     raw: pd.Series) -> tuple[pd.Series, list[Violation | None]]:
        """Parse one column's raw cells (text as read, or typed values): typed values (NA where
        unknown or unparseable) and per cell the :class:`Violation`, if any.

        Only the kind is checked here; ranges and cross-column rules are :meth:`check_frame`'s.
        """
        col = self[column]
        n = len(raw)
        empty = _is_empty(raw)
        errors: list[Violation | None] = [None] * n
        values = raw.to_numpy(dtype=object)

        def fail(i: Any, rule: str, message: str) -> None:  # i: a numpy integer position
            errors[i] = Violation(column=column, rule=rule, value=values[i],
                                  message=f"{column}: {message}")

        if col.required:
            for i in np.flatnonzero(empty):
                fail(i, "required", "required, but empty")

        if col.kind in ("int", "float"):
            text = raw.astype("string").str.strip() if raw.dtype == object else raw
            parsed = pd.to_numeric(text, errors="coerce").astype("Float64")
            parsed_np = parsed.to_numpy(dtype=float, na_value=np.nan)
            bad = ~empty & np.isnan(parsed_np)
            if raw.dtype == bool or pd.api.types.is_bool_dtype(raw.dtype):
                bad = ~empty  # a boolean in a numeric column is a type error, not 0/1
            else:  # a Python bool in an object column is one too
                bad |= ~empty & np.array([isinstance(v, bool | np.bool_) for v in values],
                                         dtype=bool)
            for i in np.flatnonzero(bad):
                fail(i, "not_a_number", f"not a number ({_show(values[i])})")
            ok = ~empty & ~bad
            if col.kind == "int":
                with np.errstate(invalid="ignore"):
                    non_int = ok & (np.isinf(parsed_np) | (parsed_np != np.round(parsed_np)))
                for i in np.flatnonzero(non_int):
                    fail(i, "not_whole", f"not a whole number ({_show(values[i])})")
                ok &= ~non_int
            result = pd.Series(np.where(ok, parsed_np, np.nan), index=raw.index)
            numbers = (result.astype("Float64").round(0).astype("Int64") if col.kind == "int"
                       else result.astype("Float64"))
            return numbers.where(pd.Series(ok, index=raw.index)), errors

        if col.kind == "bool":
            out_vals: list[object] = [pd.NA] * n
            for i in np.flatnonzero(~empty):
                v = values[i]
                word = bool(v) if isinstance(v, bool | np.bool_) else parse_bool_word(v)
                if word is None:
                    fail(i, "not_bool", f"not true/false ({_show(v)})")
                else:
                    out_vals[i] = word
            return pd.Series(out_vals, index=raw.index, dtype="boolean"), errors

        if col.kind == "category":
            text = raw.astype("string").str.strip()
            known = ~empty
            bad = known & ~text.isin(set(col.values)).fillna(False).to_numpy(dtype=bool)
            for i in np.flatnonzero(bad):
                fail(i, "not_allowed", f"{_show(values[i])} is not one of the allowed values")
            return text.where(known & ~bad).astype(col.pandas_dtype()), errors

        if col.kind == "date":
            is_dt = pd.api.types.is_datetime64_any_dtype(raw.dtype)
            text = raw if is_dt else raw.astype("string").str.strip()
            if not is_dt:
                # Only ISO 8601 dates; anything else is invalid, not guessed. Whether the day is
                # plausible (not before earliest_date, not in the future) is a rule, not a parse.
                iso = text.str.fullmatch(r"\d{4}-\d\d-\d\d([T ].*)?").fillna(False)
                text = text.where(iso.to_numpy(dtype=bool))
            parsed_dt = pd.to_datetime(text, errors="coerce", format="ISO8601")
            bad = ~empty & parsed_dt.isna().to_numpy()
            for i in np.flatnonzero(bad):
                fail(i, "not_a_date", f"not an ISO 8601 date ({_show(values[i])})")
            # A real day beyond what a datetime64[ns] column holds (before 1678, after 2261)
            # breaks a date rule; say which, as for any other day (not "not a date").
            with np.errstate(invalid="ignore"):
                far = (~bad & ~empty & ((parsed_dt < pd.Timestamp.min)
                                        | (parsed_dt > pd.Timestamp.max)).to_numpy(dtype=bool))
            for i in np.flatnonzero(far):
                day = parsed_dt.iloc[i].date()
                errors[i] = next(iter(self.check_row({column: day})), None) or Violation(
                    column, "not_a_date", values[i],
                    f"{column}: not an ISO 8601 date ({_show(values[i])})")
            bad |= far
            typed_dt = parsed_dt.where(~bad)
            if typed_dt.dt.tz is not None:
                typed_dt = typed_dt.dt.tz_localize(None)
            return typed_dt.dt.normalize().astype("datetime64[ns]"), errors

        # string
        text = raw.astype("string")
        return text.where(~empty).astype("string"), errors

    def parse_cell(self, column: str, raw: Any) -> Any:
        """One cell as a plain value (int, float, bool, str, ``datetime.date``; ``None`` unknown).

        The same parse as :meth:`parse_series`; raises :class:`CellError` (carrying the
        :class:`Violation`) for a cell that does not parse. Ranges are :meth:`check_row`'s.
        """
        typed, errors = self.parse_series(column, pd.Series([raw], dtype=object))
        if errors[0] is not None:
            raise CellError(errors[0])
        value = typed.iloc[0]
        if pd.isna(value):
            return None
        kind = self[column].kind
        if kind == "date":
            return pd.Timestamp(value).date()
        return _PLAIN.get(kind, str)(value)

    # -- the rule engine -------------------------------------------------------------------------

    @cached_property
    def rules(self) -> tuple[Rule, ...]:
        """Every range and cross-column rule, in the order validation reports them."""
        ranges: list[Rule] = []
        crosses: list[Rule] = []
        dates: list[Rule] = []
        date_crosses: list[Rule] = []
        for col in self.columns:
            if col.kind in ("int", "float"):
                lo, hi = col.numeric_bound("min"), col.numeric_bound("max")
                valid = (f"{'…' if lo is None else _fmt(lo)}–{'…' if hi is None else _fmt(hi)}")
                if lo is not None:
                    ranges.append(Rule(col.name, "greater_than_equal", ">=", "range", bound=lo,
                                       valid=valid))
                if hi is not None:
                    ranges.append(Rule(col.name, "less_than_equal", "<=", "range", bound=hi,
                                       valid=valid))
            if col.kind == "date":
                dates.append(Rule(col.name, "date_too_early", ">=", "date",
                                  bound=_day_number(self.earliest_date)))
                dates.append(Rule(col.name, "date_in_future", "<=", "date", other="today"))
            for which, op in (("min", ">="), ("max", "<=")):
                other = col.column_bound(which)  # type: ignore[arg-type]
                if other is not None:
                    date_rule = col.kind == "date"
                    (date_crosses if date_rule else crosses).append(Rule(
                        col.name, "cross_column_rule", op,  # type: ignore[arg-type]
                        "date_cross" if date_rule else "cross", other=other))
        label_sum = Rule(TOTAL_LABEL, "label_sum", "<=", "label_sum",
                         bound=self.label_sum_tolerance)
        return (*ranges, *crosses, *dates, *date_crosses, label_sum)

    def _evaluate(self, values: Mapping[str, Any], rules: tuple[Rule, ...],
                  today: date | None) -> Iterator[tuple[Rule, Any, Any, Any]]:
        """``(rule, broken, value, bound)`` per rule whose columns are in ``values``.

        ``values`` holds floats (dates as day numbers, NaN unknown): one record's scalars or a
        frame's arrays, through the same comparisons. A value outside its range is unknown to
        the rules after it, so a cross-column rule is judged on valid values only.
        """
        vals = dict(values)
        today_n = _day_number(today or date.today())
        for rule in rules:
            columns = rule.columns
            if columns[0] not in vals or (len(columns) > 1
                                          and not all(c in vals for c in columns)):
                continue
            a = vals[rule.column]
            if rule.scope == "label_sum":
                sums = sum(vals[c] for c in PILLAR_LABELS.values())
                yield rule, operator.gt(abs(sums - a), (rule.bound or 0.0) + 1e-9), sums, a
                continue
            b = (today_n if rule.other == "today" else
                 vals[rule.other] if rule.other is not None else rule.bound)
            broken = _BROKEN[rule.op](a, b)
            yield rule, broken, a, b
            if rule.scope == "range":
                vals[rule.column] = _blank(a, broken)

    def _violation(self, rule: Rule, a: Any, b: Any) -> Violation:
        """The one wording of a broken rule (validation's quarantine reasons, the API's 422s)."""
        name, value = rule.column, a
        if rule.scope == "range":
            word = "below the minimum" if rule.op == ">=" else "above the maximum"
            message = f"{name}: {_fmt(a)} is {word} {_fmt(b)} (valid {rule.valid})"
        elif rule.scope == "cross":
            word = "is below" if rule.op == ">=" else "exceeds"
            message = f"{name}: {_fmt(a)} {word} {rule.other} ({_fmt(b)})"
        elif rule.scope == "date":
            value = _EPOCH + timedelta(days=int(a))
            message = (f"{name}: {value.isoformat()} is in the future (today is {_day_text(b)})"
                       if rule.rule == "date_in_future"
                       else f"{name}: {value.isoformat()} is before {_day_text(b)}")
        elif rule.scope == "date_cross":
            value = _EPOCH + timedelta(days=int(a))
            message = f"{name}: {'before' if rule.op == '>=' else 'after'} {rule.other}"
        else:
            message = (f"{name}: pillars add up to {a:.2f} but the reported total is {b:g} "
                       f"(tolerance {rule.bound:g})")
            value = b
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return Violation(column=name, rule=rule.rule, value=value, message=message,
                         expression=rule.expression)

    def _row_values(self, record: Mapping[str, Any]) -> dict[str, float]:
        values: dict[str, float] = {}
        for name, v in record.items():
            col = self._by_name.get(name)
            if col is None:
                continue
            if col.kind in ("int", "float"):
                values[name] = np.nan if v is None else float(v)
            elif col.kind == "date":
                values[name] = _day_number(date.fromisoformat(v) if isinstance(v, str) else v)
        return values

    def check_row(self, record: Mapping[str, Any], *,
                  today: date | None = None) -> list[Violation]:
        """Every range and cross-column rule one record breaks (plain values, ``None`` unknown).

        A column absent from the record is unknown: its rules are not checked.
        """
        values = self._row_values(record)
        if not self._verdict.any_broken(values, today):  # the common case, in a few numpy calls
            return []
        return [self._violation(rule, a, b)
                for rule, broken, a, b in self._evaluate(values, self.rules, today) if broken]

    @cached_property
    def _verdict(self) -> _RuleVerdict:
        return _RuleVerdict.of(self.rules, tuple(
            c.name for c in self.columns if c.kind in ("int", "float", "date")))

    def frame_values(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """The rule engine's view of a typed frame: float arrays (dates as day numbers)."""
        values: dict[str, np.ndarray] = {}
        for name in frame.columns:
            col = self._by_name.get(name)
            if col is None:
                continue
            if col.kind in ("int", "float"):
                values[name] = frame[name].to_numpy(dtype=float, na_value=np.nan)
            elif col.kind == "date":
                # Whatever the unit (ns from validation, s for far dates): days, no ns overflow.
                stamps = pd.to_datetime(frame[name]).to_numpy()
                days = stamps.astype("datetime64[D]").astype(np.int64).astype(float)
                days[np.isnat(stamps)] = np.nan
                values[name] = days
        return values

    def check_frame(self, frame: pd.DataFrame | Mapping[str, np.ndarray], *,
                    today: date | None = None) -> list[list[Violation]]:
        """:meth:`check_row` for every row of a typed frame at once (vectorised per rule)."""
        values = self.frame_values(frame) if isinstance(frame, pd.DataFrame) else frame
        n = len(frame) if isinstance(frame, pd.DataFrame) else len(next(iter(values.values())))
        found: list[list[Violation]] = [[] for _ in range(n)]
        with np.errstate(invalid="ignore"):
            for rule, broken, a, b in self._evaluate(values, self.rules, today):
                for i in np.flatnonzero(broken):
                    found[i].append(self._violation(
                        rule, float(a[i]), b if np.ndim(b) == 0 else float(b[i])))
        return found

    def rules_reading(self, columns: Iterable[str]) -> tuple[Rule, ...]:
        """The rules that read any of ``columns``, in the order of :attr:`rules`."""
        wanted = frozenset(columns)
        return tuple(r for r in self.rules if wanted.intersection(r.columns))

    @cached_property
    def _broken_plans(self) -> dict[tuple[frozenset[str], frozenset[str]], _BrokenPlan]:
        """How :meth:`rules_broken` judges, per (columns asked for, columns given)."""
        return {}

    def rules_broken(self, values: Mapping[str, np.ndarray], columns: frozenset[str], *,
                     today: date | None = None) -> np.ndarray:
        """Where each rule of :meth:`rules_reading` ``(columns)`` is broken, row by row: a
        ``(rules, n)`` bool matrix (float arrays, NaN unknown; a rule whose columns are not all
        in ``values`` is never broken).

        For code that changes values and judges each row by its own subset of these rules (the
        lever engine): no messages. Each rule is judged on its own, on the values as given:
        unlike :meth:`check_row`, a value outside its range is not unknown to the cross-column
        rules after it. Numeric ranges and cross-column rules are compared as stacked matrices,
        one per operator (the same :data:`_BROKEN` comparisons as :meth:`_evaluate`); other
        rules one by one through :meth:`_evaluate`.
        """
        key = (columns, frozenset(values))
        plan = self._broken_plans.get(key)
        if plan is None:  # the engine asks for the same columns for every batch: plan once
            plan = self._broken_plans[key] = _BrokenPlan.of(self.rules_reading(columns), key[1])
        n = len(next(iter(values.values())))
        broken = np.zeros((plan.size, n), dtype=bool)
        with np.errstate(invalid="ignore"):
            for at, compare, left, right in plan.stacked:
                a = np.array([values[c] for c in left], dtype=float)
                b = right if isinstance(right, np.ndarray) else np.array(
                    [values[c] for c in right], dtype=float)
                broken[at] = compare(a, b)
            for i, rule in plan.alone:
                for _, verdict, _, _ in self._evaluate(values, (rule,), today):
                    broken[i] = verdict
        return broken

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
    spec = contract_spec()
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
        earliest_date=spec["earliest_date"],
        columns=columns,
    )
    contract._by_name.update({c.name: c for c in columns})
    return contract


CONTRACT = load_contract()
