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

from ssi_model.contract import CONTRACT, PILLAR_LABELS, TOTAL_LABEL, Column, Contract
from ssi_model.io import InputFileError, read_raw

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "1.0"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "0.0"})


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


def _fmt(bound: float) -> str:
    return f"{bound:g}"


def _parse_column(col: Column, raw: pd.Series) -> tuple[pd.Series, list[str | None]]:
    """Parse one column; returns typed values (NA where unknown or invalid) and per-row errors."""
    n = len(raw)
    empty = _is_empty(raw)
    errors: list[str | None] = [None] * n
    values = raw.to_numpy(dtype=object)

    if col.required:
        for i in np.flatnonzero(empty):
            errors[i] = f"{col.name}: required, but empty"

    if col.kind in ("int", "float"):
        text = raw.astype("string").str.strip() if raw.dtype == object else raw
        parsed = pd.to_numeric(text, errors="coerce").astype("Float64")
        parsed_np = parsed.to_numpy(dtype=float, na_value=np.nan)
        bad = ~empty & np.isnan(parsed_np)
        if raw.dtype == bool or pd.api.types.is_bool_dtype(raw.dtype):
            bad = ~empty  # a boolean in a numeric column is a type error, not 0/1
        for i in np.flatnonzero(bad):
            errors[i] = f"{col.name}: not a number ({_show(values[i])})"
        ok = ~empty & ~bad
        if col.kind == "int":
            non_int = ok & (np.isinf(parsed_np) | (parsed_np != np.round(parsed_np)))
            for i in np.flatnonzero(non_int):
                errors[i] = f"{col.name}: not a whole number ({_show(values[i])})"
            ok &= ~non_int
        lo, hi = col.numeric_bound("min"), col.numeric_bound("max")
        for bound, cmp, word in ((lo, np.less, "below the minimum"),
                                 (hi, np.greater, "above the maximum")):
            if bound is None:
                continue
            with np.errstate(invalid="ignore"):
                out = ok & cmp(parsed_np, bound)
            for i in np.flatnonzero(out):
                errors[i] = (
                    f"{col.name}: {_fmt(parsed_np[i])} is {word} {_fmt(bound)}"
                    f" (valid {_fmt(lo) if lo is not None else '…'}–"
                    f"{_fmt(hi) if hi is not None else '…'})"
                )
            ok &= ~out
        result = pd.Series(np.where(ok, parsed_np, np.nan), index=raw.index)
        numbers = result.astype("Float64").round(0).astype("Int64") if col.kind == "int" \
            else result.astype("Float64")
        return numbers.where(pd.Series(ok, index=raw.index)), errors

    if col.kind == "bool":
        out_vals: list[object] = [pd.NA] * n
        for i in np.flatnonzero(~empty):
            v = values[i]
            if isinstance(v, bool | np.bool_):
                out_vals[i] = bool(v)
                continue
            word = str(v).strip().lower()
            if word in TRUE_WORDS:
                out_vals[i] = True
            elif word in FALSE_WORDS:
                out_vals[i] = False
            else:
                errors[i] = f"{col.name}: not true/false ({_show(v)})"
        return pd.Series(out_vals, index=raw.index, dtype="boolean"), errors

    if col.kind == "category":
        text = raw.astype("string").str.strip()
        allowed = set(col.values)
        known = ~empty
        bad = known & ~text.isin(allowed).fillna(False).to_numpy(dtype=bool)
        for i in np.flatnonzero(bad):
            errors[i] = f"{col.name}: {_show(values[i])} is not one of the allowed values"
        return text.where(known & ~bad).astype(col.pandas_dtype()), errors

    if col.kind == "date":
        text = raw.astype("string").str.strip() if not pd.api.types.is_datetime64_any_dtype(
            raw.dtype) else raw
        if not pd.api.types.is_datetime64_any_dtype(raw.dtype):
            # Only ISO 8601 dates within pandas' range; anything else is invalid, not guessed.
            iso = text.str.fullmatch(r"(19|20|21)\d\d-\d\d-\d\d([T ].*)?").fillna(False)
            text = text.where(iso.to_numpy(dtype=bool))
        parsed_dt = pd.to_datetime(text, errors="coerce", format="ISO8601")
        bad = ~empty & parsed_dt.isna().to_numpy()
        for i in np.flatnonzero(bad):
            errors[i] = f"{col.name}: not an ISO 8601 date ({_show(values[i])})"
        typed_dt = parsed_dt.where(~bad)
        if typed_dt.dt.tz is not None:
            typed_dt = typed_dt.dt.tz_localize(None)
        return typed_dt.dt.normalize().astype("datetime64[ns]"), errors

    # string
    text = raw.astype("string")
    return text.where(~empty).astype("string"), errors


def _infer(raw: pd.Series) -> pd.Series:
    """Best-effort dtype for a column outside the contract (e.g. the simulator's truth)."""
    if not (raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype)):
        return raw
    stripped = raw.astype("string").str.strip()
    text = stripped.mask(stripped == "")
    known = text.dropna()
    if known.str.lower().isin(TRUE_WORDS | FALSE_WORDS).all() and not known.str.fullmatch(
            r"[01](\.0)?").all():
        return text.str.lower().map(lambda v: v in TRUE_WORDS, na_action="ignore").astype(
            "boolean")
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().sum() == len(known):
        return numbers.astype("Float64")
    return text


def _add(reasons: list[list[str]], idx: np.ndarray, message: object) -> None:
    for i in idx:
        reasons[i].append(message(i) if callable(message) else str(message))


def validate(
    raw: pd.DataFrame, *, today: date | None = None, contract: Contract = CONTRACT
) -> ValidationResult:
    """Split raw rows (as read, cells uninterpreted) into clean typed rows and quarantine."""
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

    typed_cols: dict[str, pd.Series] = {}
    for col in contract.columns:
        if col.name not in raw.columns:
            continue
        parsed, errors = _parse_column(col, raw[col.name])
        typed_cols[col.name] = parsed
        for i, err in enumerate(errors):
            if err is not None:
                reasons[i].append(err)
    extras = [c for c in raw.columns if c not in contract]
    typed = contract.to_typed(pd.concat(
        [pd.DataFrame(typed_cols, index=raw.index), *(_infer(raw[c]) for c in extras)], axis=1))

    # Cross-column rules, checked where both values are known and valid.
    for name, which, other in contract.cross_rules():
        if name not in typed_cols or other not in typed_cols:
            continue
        a = typed[name].to_numpy(dtype=float, na_value=np.nan)
        b = typed[other].to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            broken = a > b if which == "max" else a < b
        word = "exceeds" if which == "max" else "is below"
        _add(reasons, np.flatnonzero(broken),
             lambda i, a=a, b=b, name=name, other=other, word=word:
             f"{name}: {_fmt(a[i])} {word} {other} ({_fmt(b[i])})")

    # Dates: nothing from the future; a reading cannot precede the snapshot it reports on.
    limit = pd.Timestamp(today)
    for name in ("snapshot_date", "reported_on"):
        if name in typed_cols:
            future = (typed[name] > limit).fillna(False).to_numpy(dtype=bool)
            _add(reasons, np.flatnonzero(future),
                 lambda i, name=name: f"{name}: {str(typed[name].iloc[i])[:10]} is in the "
                 f"future (today is {today:%Y-%m-%d})")
    if "reported_on" in typed_cols:
        early = (typed["reported_on"] < typed["snapshot_date"]).fillna(False).to_numpy(dtype=bool)
        _add(reasons, np.flatnonzero(early), "reported_on: before snapshot_date")

    # Labels: the pillars add up to the reported total within the dashboard's rounding.
    label_cols = [*PILLAR_LABELS.values(), TOTAL_LABEL]
    if all(c in typed_cols for c in label_cols):
        pillars = np.column_stack([typed[c].to_numpy(dtype=float, na_value=np.nan)
                                   for c in PILLAR_LABELS.values()])
        total = typed[TOTAL_LABEL].to_numpy(dtype=float, na_value=np.nan)
        sums = pillars.sum(axis=1)
        with np.errstate(invalid="ignore"):
            off = np.abs(sums - total) > contract.label_sum_tolerance + 1e-9
        _add(reasons, np.flatnonzero(off),
             lambda i: f"ssi_total: pillars add up to {sums[i]:.2f} but the reported total is "
             f"{total[i]:g} (tolerance {contract.label_sum_tolerance:g})")

    # Duplicates: later exact copies, and conflicting rows for one member and snapshot.
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

    bad = np.array([bool(r) for r in reasons], dtype=bool)
    quarantine = raw[bad].copy()
    quarantine.insert(0, "row", np.flatnonzero(bad) + 1)
    quarantine["reason"] = ["; ".join(r) for r, b in zip(reasons, bad, strict=True) if b]
    clean = typed[~bad].reset_index(drop=True)
    return ValidationResult(clean=clean, quarantine=quarantine.reset_index(drop=True))


def validate_file(path: str | Path, *, today: date | None = None) -> ValidationResult:
    """Read and validate a CSV or Parquet contract file; errors name the file."""
    raw = read_raw(path)
    try:
        return validate(raw, today=today)
    except InputFileError as exc:
        raise InputFileError(f"{path}: {exc}") from None
