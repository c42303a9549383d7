"""Validation with quarantine: split contract rows into clean rows and rows with reasons.

Nothing is silently dropped, clipped or coerced. Every input row ends in exactly one of
``clean`` or ``quarantine``; a quarantined row keeps all its original cells plus ``row`` (its
1-based position among the file's data rows) and ``reason`` (every rule it broke, ``; ``-joined,
each naming the column and the rule).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ssi_model.contract import CONTRACT, FALSE_WORDS, TRUE_WORDS, Contract, Violation
from ssi_model.io import InputFileError, read_raw

__all__ = ["FALSE_WORDS", "TRUE_WORDS", "ValidationResult", "validate",
           "validate_file"]


@dataclass(frozen=True)
class ValidationResult:
    clean: pd.DataFrame
    quarantine: pd.DataFrame

    @property
    def n_read(self) -> int:
        return len(self.clean) + len(self.quarantine)

    @property
    def n_clean(self) -> int:
        return len(self.clean)

    @property
    def n_quarantined(self) -> int:
        return len(self.quarantine)

    def rule_counts(self) -> Counter[str]:
        """How many quarantined rows broke each column's rules (a row may count several times)."""
        counts: Counter[str] = Counter()
        for reason in self.quarantine.get("reason", pd.Series(dtype=str)):
            for part in str(reason).split("; "):
                counts[part.split(":", 1)[0]] += 1
        return counts

    def summary(self) -> str:
        return (
            f"rows read: {self.n_read}, kept: {self.n_clean}, quarantined: {self.n_quarantined}"
        )


# A numeric range is a fault of one cell, reported in column order with the parse faults.
_CELL_RULES = frozenset({"greater_than_equal", "less_than_equal"})


def _infer(raw: pd.Series) -> pd.Series:
    """Best-effort dtype for a column outside the contract (e.g. the simulator's truth)."""
    if not (raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype)):
        return raw
    stripped = raw.astype("string").str.strip()
    text = stripped.mask(stripped == "")
    known = text.dropna()
    if known.str.casefold().isin(TRUE_WORDS | FALSE_WORDS).all() and not known.str.fullmatch(
            r"[01](\.0)?").all():
        return text.str.casefold().map(lambda v: v in TRUE_WORDS, na_action="ignore").astype(
            "boolean")
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().sum() == len(known):
        return numbers.astype("Float64")
    return text


def _add(reasons: list[list[str]], idx: np.ndarray, message: object) -> None:
    for i in idx:
        reasons[i].append(message(i) if callable(message) else str(message))


def validate(
    raw: pd.DataFrame, *, today: date | None = None, contract: Contract = CONTRACT,
    check_duplicates: bool = True,
) -> ValidationResult:
    """Split raw rows (as read, cells uninterpreted) into clean typed rows and quarantine.

    ``check_duplicates=False`` leaves out the two rules across rows (exact copies; conflicting
    rows for one member and snapshot), for a caller that sees only part of the rows and checks
    those across all of them itself (Spark: ``tracking.spark``).
    """
    missing = [c for c in contract.required if c not in raw.columns]
    if missing:
        raise InputFileError(
            f"missing required column(s): {', '.join(missing)}"
            f" (a contract file needs at least {', '.join(contract.required)})"
        )
    duplicated_names = raw.columns[raw.columns.duplicated()].tolist()
    if duplicated_names:
        raise InputFileError(f"column(s) named more than once: {', '.join(duplicated_names)}")

    today = today or date.today()
    raw = raw.reset_index(drop=True)
    n = len(raw)
    reasons: list[list[str]] = [[] for _ in range(n)]

    # The contract parses every cell and evaluates every rule; validation only collects. A
    # row's reasons list its cells' faults in column order, then the rules across columns.
    position = {name: k for k, name in enumerate(contract.names)}
    cell_faults: list[list[Violation]] = [[] for _ in range(n)]
    typed_cols: dict[str, pd.Series] = {}
    for col in contract.columns:
        if col.name not in raw.columns:
            continue
        parsed, errors = contract.parse_series(col.name, raw[col.name])
        typed_cols[col.name] = parsed
        for i, err in enumerate(errors):
            if err is not None:
                cell_faults[i].append(err)
    extras = [c for c in raw.columns if c not in contract]
    typed = contract.to_typed(pd.concat(
        [pd.DataFrame(typed_cols, index=raw.index), *(_infer(raw[c]) for c in extras)], axis=1))

    broken = contract.check_frame(typed[list(typed_cols)], today=today)
    for i in range(n):
        if not (cell_faults[i] or broken[i]):
            continue
        cells = [v for v in broken[i] if v.rule in _CELL_RULES]
        across = [v for v in broken[i] if v.rule not in _CELL_RULES]
        ordered = sorted([*cell_faults[i], *cells], key=lambda v: position[v.column])
        reasons[i].extend(v.message for v in [*ordered, *across])

    if check_duplicates:
        _duplicates(raw, typed, reasons)

    bad = np.array([bool(r) for r in reasons], dtype=bool)
    quarantine = raw[bad].copy()
    quarantine.insert(0, "row", np.flatnonzero(bad) + 1)
    quarantine["reason"] = ["; ".join(r) for r, b in zip(reasons, bad, strict=True) if b]
    clean = typed[~bad].reset_index(drop=True)
    return ValidationResult(clean=clean, quarantine=quarantine.reset_index(drop=True))


def _duplicates(raw: pd.DataFrame, typed: pd.DataFrame, reasons: list[list[str]]) -> None:
    """Duplicates: later exact copies, and conflicting rows for one member and snapshot."""
    as_text = raw.astype("string").fillna("")
    exact = as_text.duplicated(keep="first").to_numpy()
    first_of: dict[tuple[object, ...], int] = {}
    for i, key in enumerate(map(tuple, as_text.itertuples(index=False, name=None))):
        if exact[i]:
            _add(reasons, np.array([i]), f"duplicate: exact copy of row {first_of[key] + 1}")
        else:
            first_of.setdefault(key, i)
    keys = as_text[["member_id", "snapshot_date"]].copy()
    keys["snapshot_date"] = typed["snapshot_date"].astype("string").fillna(
        as_text["snapshot_date"])
    distinct = keys[~exact]
    conflicting = distinct.duplicated(keep=False)
    if conflicting.any():
        for _, group in distinct[conflicting].groupby(["member_id", "snapshot_date"], sort=False):
            rows = group.index.to_numpy()
            for i in rows:
                others = ", ".join(str(j + 1) for j in rows if j != i)
                reasons[i].append(
                    f"member_id+snapshot_date: conflicting values for the same member and "
                    f"snapshot in row(s) {others}"
                )
        # Exact copies of a conflicting row conflict too.
        for j in np.flatnonzero(exact):
            key = tuple(keys.iloc[j])
            if ((distinct["member_id"] == key[0]) & (distinct["snapshot_date"] == key[1])
                    & conflicting).any():
                reasons[j].append("member_id+snapshot_date: conflicting values for the same "
                                  "member and snapshot")


def validate_file(path: str | Path, *, today: date | None = None) -> ValidationResult:
    """Read and validate a CSV or Parquet contract file; errors name the file."""
    raw = read_raw(path)
    try:
        return validate(raw, today=today)
    except InputFileError as exc:
        raise InputFileError(f"{path}: {exc}") from None
