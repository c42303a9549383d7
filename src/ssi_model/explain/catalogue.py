"""The lever catalogue (levers.yaml): loading, checking against the contract, applying levers.

Levers are applied to a :class:`~ssi_model.batch.ProfileBatch` (float arrays for the behaviour
columns, NaN = unknown, booleans as 0/1; the context columns as objects), the batch every scoring
path reads. Applying is vectorised over members, so gains for every member and lever come from
one batch of predictions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from typing import Any, Literal

import numpy as np
import yaml

from ssi_model.batch import ProfileBatch
from ssi_model.contract import CONTRACT, PILLARS, languages

Op = Literal["set", "at_least", "add", "add_at_rate", "follow", "copy"]
OPS = ("set", "at_least", "add", "add_at_rate", "follow", "copy")
LANGS = languages()


@dataclass(frozen=True)
class Change:
    column: str
    op: Op
    value: float = 0.0
    of: str | None = None
    ceiling: float | None = None
    rate_of: tuple[str, str] | None = None
    default_rate: float = 0.0


@dataclass(frozen=True)
class LeverSpec:
    id: str
    pillars: tuple[str, ...]
    one_off: bool
    effort_minutes: float
    changes: tuple[Change, ...]
    text: Mapping[str, str]
    requires_subscription: tuple[str, ...] = ()
    requires_min: Mapping[str, float] = field(default_factory=dict)

    @property
    def pillar(self) -> str:
        return self.pillars[0]

    @property
    def primary(self) -> str:
        return self.changes[0].column

    # Computed once per lever: an explanation asks for them per member, variant and bundle.

    @cached_property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.column for c in self.changes))

    @cached_property
    def reads(self) -> frozenset[str]:
        """The columns its changes read (their own, the sources they follow or copy, rates)."""
        changes = self.changes
        return frozenset({ch.column for ch in changes} | {ch.of for ch in changes if ch.of}
                         | {r for ch in changes for r in (ch.rate_of or ())})

    def effort_per_week(self, window_weeks: int) -> float:
        return self.effort_minutes / window_weeks if self.one_off else self.effort_minutes


@dataclass(frozen=True)
class TipSpec:
    id: str
    pillar: str
    text: Mapping[str, str]


@dataclass(frozen=True)
class Catalogue:
    version: int
    window_weeks: int
    default_budget_minutes: float
    plan_candidates: int
    levers: tuple[LeverSpec, ...]
    tips: tuple[TipSpec, ...]
    caveat: Mapping[str, str]

    def __getitem__(self, lever_id: str) -> LeverSpec:
        for lever in self.levers:
            if lever.id == lever_id:
                return lever
        raise KeyError(lever_id)

    @property
    def ids(self) -> list[str]:
        return [lever.id for lever in self.levers]


class CatalogueError(ValueError):
    """levers.yaml breaks a rule (unknown column, a context column changed, missing text…)."""


def _check_text(owner: str, text: Mapping[str, str]) -> None:
    missing = [lang for lang in LANGS if not str(text.get(lang, "")).strip()]
    if missing:
        raise CatalogueError(f"{owner}: text missing for {', '.join(missing)}")


def _parse_change(lever_id: str, raw: Mapping[str, Any]) -> Change:
    column = raw["column"]
    if column not in CONTRACT:
        raise CatalogueError(f"{lever_id}: unknown column {column!r}")
    if column not in CONTRACT.behaviour_columns:
        raise CatalogueError(f"{lever_id}: {column} is context or a label; levers never change it")
    op = raw["op"]
    if op not in OPS:
        raise CatalogueError(f"{lever_id}: unknown op {op!r}")
    for ref in [raw.get("of"), *(raw.get("rate_of") or [])]:
        if ref is not None and ref not in CONTRACT.behaviour_columns:
            raise CatalogueError(f"{lever_id}: {ref!r} is not a behaviour column")
    if op in ("follow", "copy") and not raw.get("of"):
        raise CatalogueError(f"{lever_id}: {op} needs `of`")
    if op == "add_at_rate" and len(raw.get("rate_of") or []) != 2:
        raise CatalogueError(f"{lever_id}: add_at_rate needs rate_of: [numerator, denominator]")
    value = raw.get("value", 0)
    return Change(
        column=column,
        op=op,
        value=float(value),
        of=raw.get("of"),
        ceiling=float(raw["ceiling"]) if "ceiling" in raw else None,
        rate_of=tuple(raw["rate_of"]) if raw.get("rate_of") else None,
        default_rate=float(raw.get("default_rate", 0.0)),
    )


def parse_catalogue(spec: Mapping[str, Any]) -> Catalogue:
    levers = []
    seen: set[str] = set()
    for raw in spec["levers"]:
        lever_id = raw["id"]
        if lever_id in seen:
            raise CatalogueError(f"lever id {lever_id!r} appears twice")
        seen.add(lever_id)
        pillars = tuple(raw["pillars"])
        if not pillars or any(p not in PILLARS for p in pillars):
            raise CatalogueError(f"{lever_id}: pillars must be among {', '.join(PILLARS)}")
        _check_text(lever_id, raw["text"])
        requires = raw.get("requires") or {}
        subs = tuple(requires.get("subscription", ()))
        if any(s not in CONTRACT["subscription"].values for s in subs):
            raise CatalogueError(f"{lever_id}: unknown subscription in requires")
        levers.append(LeverSpec(
            id=lever_id,
            pillars=pillars,
            one_off=bool(raw["one_off"]),
            effort_minutes=float(raw["effort_minutes"]),
            changes=tuple(_parse_change(lever_id, c) for c in raw["changes"]),
            text=dict(raw["text"]),
            requires_subscription=subs,
            requires_min={k: float(v) for k, v in (requires.get("min") or {}).items()},
        ))
    tips = []
    for raw in spec.get("tips", []):
        _check_text(raw["id"], raw["text"])
        tips.append(TipSpec(id=raw["id"], pillar=raw["pillar"], text=dict(raw["text"])))
    _check_text("caveat", spec["caveat"])
    return Catalogue(
        version=int(spec["version"]),
        window_weeks=int(spec["window_weeks"]),
        default_budget_minutes=float(spec["default_budget_minutes"]),
        plan_candidates=int(spec["plan_candidates"]),
        levers=tuple(levers),
        tips=tuple(tips),
        caveat=dict(spec["caveat"]),
    )


@cache
def load_catalogue() -> Catalogue:
    text = resources.files("ssi_model.explain").joinpath("levers.yaml").read_text("utf-8")
    return parse_catalogue(yaml.safe_load(text))


def _cap(column: str, ceiling: float | None) -> float:
    hi = CONTRACT[column].numeric_bound("max")
    caps = [c for c in (ceiling, hi) if c is not None]
    return min(caps) if caps else np.inf


def apply_lever(lever: LeverSpec, table: ProfileBatch,
                rows: np.ndarray | None = None) -> np.ndarray:
    """Apply ``lever`` in place to ``table`` (only at ``rows``); returns where it applied.

    In place: the arrays of the columns the lever changes are written; a caller that must keep
    the original copies them first (``table.with_values({c: table[c].copy() ...})``).

    A lever applies to a member when its requirements hold, every column it reads is known, its
    first change moves something, and the result keeps the contract's ranges and cross-column
    rules. Elsewhere the table is left untouched.
    """
    n = len(table)
    where = np.zeros(n, dtype=bool)
    where[rows if rows is not None else slice(None)] = True
    ok = where.copy()
    if lever.requires_subscription:
        subs = table["subscription"]
        ok &= np.isin(subs.astype(str), lever.requires_subscription)
    for column, minimum in lever.requires_min.items():
        with np.errstate(invalid="ignore"):
            ok &= table[column] >= minimum

    before = {c: table[c].copy() for c in lever.reads}
    new: dict[str, np.ndarray] = {}
    for k, change in enumerate(lever.changes):
        current = new.get(change.column, before[change.column])
        reads = [current]
        if change.op == "set":
            value = np.full(n, change.value)
        elif change.op == "at_least":
            value = np.maximum(current, change.value)
        elif change.op == "add":
            cap = _cap(change.column, change.ceiling)
            value = np.where(current >= cap, current, np.minimum(current + change.value, cap))
        elif change.op == "add_at_rate":
            num, den = (before[c] for c in change.rate_of)  # type: ignore[union-attr]
            with np.errstate(invalid="ignore", divide="ignore"):
                rate = np.where((den > 0) & ~np.isnan(num), num / den, change.default_rate)
            value = current + np.floor(change.value * np.clip(rate, 0.0, 1.0))
        elif change.op == "follow":
            source = change.of or ""
            delta = new.get(source, before[source]) - before[source]
            value = current + delta
        else:  # copy
            source = change.of or ""
            value = new.get(source, before[source]).copy()
            reads.append(value)
        for r in reads:
            ok &= ~np.isnan(r)
        if k == 0:
            with np.errstate(invalid="ignore"):
                ok &= value != current
        new[change.column] = value

    # The result must stay inside the contract: the contract's evaluator judges every rule that
    # reads a changed column. A lever never makes a value unknown (NaN passes every rule).
    for value in new.values():
        ok &= ~np.isnan(value)
    ok &= CONTRACT.rows_ok({**table.columns, **new}, set(new))

    for column, value in new.items():
        table[column][ok] = value[ok]
    return ok
