"""The lever catalogue (levers.yaml): loading, checking against the contract, applying levers.

Levers are applied to a :class:`~ssi_model.batch.ProfileBatch` (float arrays for the behaviour
columns, NaN = unknown, booleans as 0/1; the context columns as objects), the batch every scoring
path reads. Applying is vectorised over members and levers (:class:`LeverEngine`: a different
lever per row in a fixed number of numpy passes), so gains for every member and lever come from
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

from ssi_model.batch import PROFILE_COLUMNS, ProfileBatch
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

    @cached_property
    def engine(self) -> LeverEngine:
        """This lever alone, for :func:`apply_lever`."""
        return LeverEngine((self,))

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

    @cached_property
    def engine(self) -> LeverEngine:
        """Every lever, for applying a different one per row (variants, plans)."""
        return LeverEngine(self.levers)

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


_NONE = -1  # no change in this slot (the lever has fewer changes, or the row has no lever)
_CODE = {op: code for code, op in enumerate(OPS)}
_SUBSCRIPTIONS = CONTRACT["subscription"].values
_SUBSCRIPTION_CODE = {s: k for k, s in enumerate(_SUBSCRIPTIONS)}  # anything else: unknown


class LeverEngine:
    """Applies levers to a batch, a possibly different lever per row, in a fixed number of numpy
    passes: one per change slot (a lever's first, second, … change), whatever the number of
    levers. Each lever's changes are data, laid out per slot as arrays indexed by lever (op,
    column, value, ceiling, source columns); a pass reads each row's own entries. The last
    index of each array stands for "no lever" (``-1`` in the lever array).

    The columns the levers read, write, require or that the contract's rules on them read are
    held as one ``(columns, rows)`` float matrix while the changes are applied.

    The contract's verdict: every rule that reads a column some lever writes is evaluated once
    on all rows, each rule on its own (:meth:`Contract.rules_broken`), and a row is judged only
    by the rules that read a column its own lever writes (a lever × rule relevance matrix).
    What that assumes: nothing about the rows (explain hands validated rows, but any rows are
    judged exactly). Judging a lever's rules in validation's order instead
    (:meth:`Contract.check_row`: a value outside its range is unknown to the rules after it)
    gives the same verdict: among a row's rules a range rule can blank only a column its lever
    writes, and then that range rule is broken and rejects the row either way; a column the
    lever does not write is blanked by none of the row's rules.
    """

    def __init__(self, levers: tuple[LeverSpec, ...]) -> None:
        self.levers = levers
        written = list(dict.fromkeys(c for lever in levers for c in lever.columns))
        self.written = frozenset(written)
        self.rules = CONTRACT.rules_reading(written)
        required = [c for lever in levers for c in lever.requires_min]
        read = [c for lever in levers for c in sorted(lever.reads)]
        on_rules = [c for r in self.rules for c in r.columns if c in PROFILE_COLUMNS]
        self.columns = tuple(dict.fromkeys([*written, *read, *required, *on_rules]))
        at = {c: k for k, c in enumerate(self.columns)}
        size = len(levers) + 1  # the last row: no lever
        self.writes = np.zeros((size, len(self.columns)), dtype=bool)
        self.relevant = np.zeros((size, len(self.rules)), dtype=bool)
        self.subscription_ok = np.zeros((size, len(_SUBSCRIPTIONS) + 1), dtype=bool)
        self.required = tuple(dict.fromkeys(required))
        self.minimum = np.full((size, len(self.required)), np.nan)
        slots = max((len(lever.changes) for lever in levers), default=0)
        self.op = np.full((slots, size), _NONE)
        self.column = np.zeros((slots, size), dtype=np.intp)
        self.source = np.zeros((slots, size), dtype=np.intp)  # of (follow, copy), rate numerator
        self.per = np.zeros((slots, size), dtype=np.intp)  # rate denominator
        self.value = np.zeros((slots, size))
        self.cap = np.full((slots, size), np.inf)
        self.default_rate = np.zeros((slots, size))
        for j, lever in enumerate(levers):
            self.writes[j, [at[c] for c in lever.columns]] = True
            self.relevant[j] = [bool(set(lever.columns).intersection(r.columns))
                                for r in self.rules]
            allowed = lever.requires_subscription
            self.subscription_ok[j, :-1] = [not allowed or s in allowed for s in _SUBSCRIPTIONS]
            self.subscription_ok[j, -1] = not allowed
            for column, minimum in lever.requires_min.items():
                self.minimum[j, self.required.index(column)] = minimum
            for k, change in enumerate(lever.changes):
                self.op[k, j] = _CODE[change.op]
                self.column[k, j] = at[change.column]
                self.value[k, j] = change.value
                self.default_rate[k, j] = change.default_rate
                if change.op == "add":
                    self.cap[k, j] = _cap(change.column, change.ceiling)
                if change.of:
                    self.source[k, j] = at[change.of]
                if change.rate_of:
                    self.source[k, j], self.per[k, j] = (at[c] for c in change.rate_of)
        self.required_at = np.array([at[c] for c in self.required], dtype=np.intp)
        self.slot_ops = [sorted({int(op) for op in self.op[k] if op != _NONE})
                         for k in range(slots)]

    def apply(self, table: ProfileBatch, lever: np.ndarray,
              rows: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Lever ``lever[i]`` (an index into ``levers``; -1: none) applied to row ``rows[i]`` of
        ``table`` (default: row ``i``); ``table`` is not changed.

        Returns where the lever applied, and the new values of every column the applied levers
        write (each row's own value where its lever does not write the column; meaningless where
        the lever did not apply).
        """
        lever = np.asarray(lever, dtype=np.intp)
        m = len(lever)
        row = np.arange(m)
        at = np.where(lever >= 0, lever, len(self.levers))
        before = np.array([table[c] for c in self.columns], dtype=float).reshape(
            len(self.columns), len(table))
        codes = np.array([_SUBSCRIPTION_CODE.get(s, len(_SUBSCRIPTIONS))
                          for s in table["subscription"]], dtype=np.intp)
        if rows is not None:
            before, codes = before[:, rows], codes[rows]
        ok = (lever >= 0) & self.subscription_ok[at, codes]
        with np.errstate(invalid="ignore", divide="ignore"):
            if len(self.required):
                minimum = self.minimum[at].T
                ok &= ((before[self.required_at] >= minimum) | np.isnan(minimum)).all(axis=0)
            new = before.copy()
            for k, present in enumerate(self.slot_ops):
                ok &= self._change(k, present, at, row, before, new, first=k == 0)
            # A lever never makes a value unknown (NaN passes every rule).
            ok &= ~(np.isnan(new) & self.writes[at].T).any(axis=0)
        broken = CONTRACT.rules_broken(dict(zip(self.columns, new, strict=True)), self.written)
        ok &= ~(broken & self.relevant[at].T).any(axis=0)
        changed = np.flatnonzero(self.writes[at[ok]].any(axis=0))
        return ok, {self.columns[c]: new[c] for c in changed}

    def _change(self, k: int, present: list[int], at: np.ndarray, row: np.ndarray,
                before: np.ndarray, new: np.ndarray, first: bool) -> np.ndarray:
        """Change slot ``k`` of each row's lever, written into ``new``; False where the change
        reads an unknown value (or, for the first change, moves nothing)."""
        op = self.op[k, at]
        column = self.column[k, at]
        current = new[column, row]
        value = self.value[k, at]
        source = self.source[k, at]
        chosen = current.copy()
        for code in present:  # each op the rows' levers have in this slot, on every row
            here = op == code
            if not here.any():
                continue
            name = OPS[code]
            if name == "set":
                choice = value
            elif name == "at_least":
                choice = np.maximum(current, value)
            elif name == "add":
                cap = self.cap[k, at]
                choice = np.where(current >= cap, current, np.minimum(current + value, cap))
            elif name == "add_at_rate":
                num, den = before[source, row], before[self.per[k, at], row]
                rate = np.where((den > 0) & ~np.isnan(num), num / den, self.default_rate[k, at])
                choice = current + np.floor(value * np.clip(rate, 0.0, 1.0))
            elif name == "follow":
                choice = current + (new[source, row] - before[source, row])
            else:  # copy
                choice = new[source, row]
            np.copyto(chosen, choice, where=here)
        ok = ~np.isnan(current) | (op == _NONE)
        if _CODE["copy"] in present:
            ok &= ~((op == _CODE["copy"]) & np.isnan(chosen))
        if first:
            ok &= chosen != current
        changes = op != _NONE
        new[column[changes], row[changes]] = chosen[changes]
        return ok

    def apply_in_place(self, table: ProfileBatch, lever: np.ndarray) -> np.ndarray:
        """:meth:`apply` written into ``table`` where the lever applied; returns where.

        Whole rows of the written columns: where a row's lever does not write a column, the new
        value is the row's own."""
        ok, new = self.apply(table, lever)
        applied = np.flatnonzero(ok)
        for column, values in new.items():
            table[column][applied] = values[applied]
        return ok


def apply_lever(lever: LeverSpec, table: ProfileBatch,
                rows: np.ndarray | None = None) -> np.ndarray:
    """Apply ``lever`` in place to ``table`` (only at ``rows``); returns where it applied.

    In place: the arrays of the columns the lever changes are written; a caller that must keep
    the original copies them first (``table.with_values({c: table[c].copy() ...})``).

    A lever applies to a member when its requirements hold, every column it reads is known, its
    first change moves something, and the result keeps the contract's ranges and cross-column
    rules. Elsewhere the table is left untouched. (The lever's own :class:`LeverEngine`.)
    """
    which = np.full(len(table), _NONE)
    which[rows if rows is not None else slice(None)] = 0
    return lever.engine.apply_in_place(table, which)
