"""Calibrations: the simulator's parameters, kept as YAML data beside the code.

A calibration names a population (who the members are and how they behave), LinkedIn's structural
function (how behaviour becomes pillar points) and how members report their dashboard. Built-in
calibrations live in ``calibrations/*.yaml``; a calibration may ``extends:`` another one, in which
case mappings merge key by key and lists and scalars replace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ssi_model.contract import CONTRACT, PILLARS

_PACKAGE = "ssi_model.simulator"
_FOLDER = "calibrations"
CONTEXT_DRAW_ORDER: tuple[str, ...] = (
    "role_family", "region", "industry", "seniority", "subscription",
)
BEHAVIOUR_KINDS = ("count", "flag", "share")
TERM_KINDS = ("flag", "hill", "rate")


@dataclass(frozen=True)
class Calibration:
    """A loaded, checked calibration: its name and the merged YAML mapping."""

    name: str
    spec: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.spec[key]

    @property
    def trait_names(self) -> list[str]:
        return list(self.spec["traits"]["names"])


def list_calibrations() -> list[str]:
    """Names of the built-in calibrations (the YAML files shipped with the package)."""
    folder = resources.files(_PACKAGE).joinpath(_FOLDER)
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir()
                  if p.name.endswith(".yaml"))


@cache
def load_calibration(calibration: str = "linkedin") -> Calibration:
    """Load a built-in calibration by name or a YAML file by path; resolve ``extends``; check."""
    spec = _resolve(calibration, seen=())
    name = str(spec.get("name", calibration))
    cal = Calibration(name=name, spec=spec)
    _check(cal)
    return cal


def _read(calibration: str) -> dict[str, Any]:
    if calibration in list_calibrations():
        text = (resources.files(_PACKAGE).joinpath(_FOLDER, f"{calibration}.yaml")
                .read_text(encoding="utf-8"))
    elif calibration.endswith((".yaml", ".yml")) and Path(calibration).is_file():
        text = Path(calibration).read_text(encoding="utf-8")
    else:
        raise ValueError(
            f"unknown calibration {calibration!r}: use one of {list_calibrations()} "
            "or the path of a calibration YAML file"
        )
    spec = yaml.safe_load(text)
    if not isinstance(spec, dict):
        raise ValueError(f"calibration {calibration!r} is not a YAML mapping")
    return spec


def _resolve(calibration: str, seen: tuple[str, ...]) -> dict[str, Any]:
    if calibration in seen:
        raise ValueError(f"calibration 'extends' cycle: {' -> '.join((*seen, calibration))}")
    spec = _read(calibration)
    parent = spec.pop("extends", None)
    if parent is None:
        return spec
    return _merge(_resolve(str(parent), (*seen, calibration)), spec)


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


# -- checks: a calibration that names an unknown column or category fails on load, not mid-run ----

def _fail(cal_name: str, where: str, msg: str) -> None:
    raise ValueError(f"calibration {cal_name!r}, {where}: {msg}")


def _check_categories(cal: Calibration, where: str, column: str, values: Mapping[str, Any]) -> None:
    allowed = set(CONTRACT[column].values)
    unknown = set(values) - allowed - {"default"}
    if unknown:
        _fail(cal.name, where, f"unknown {column} values {sorted(unknown)}")


def _check(cal: Calibration) -> None:
    sections = ("context", "traits", "behaviour", "structural", "reporting", "unknown", "faults")
    for section in sections:
        if section not in cal.spec:
            _fail(cal.name, section, "section missing")
    context = cal["context"]
    for col in CONTEXT_DRAW_ORDER:
        if col not in context:
            _fail(cal.name, "context", f"no mix for {col}")
        entry = context[col]
        _check_categories(cal, f"context.{col}.mix", col, entry["mix"])
        given = entry.get("given")
        if given is not None:
            if CONTEXT_DRAW_ORDER.index(given) >= CONTEXT_DRAW_ORDER.index(col):
                _fail(cal.name, f"context.{col}", f"'given: {given}' must be drawn earlier")
            _check_categories(cal, f"context.{col}.mix_by", given, entry.get("mix_by", {}))
            for mix in entry.get("mix_by", {}).values():
                _check_categories(cal, f"context.{col}.mix_by", col, mix)

    traits = cal.trait_names
    corr = trait_correlation(cal)
    try:
        np.linalg.cholesky(corr)
    except np.linalg.LinAlgError:
        _fail(cal.name, "traits.correlation", "not positive definite")
    for ctx_col, by_value in cal["traits"].get("shift", {}).items():
        _check_categories(cal, "traits.shift", ctx_col, by_value)
        for shifts in by_value.values():
            unknown = set(shifts) - set(traits)
            if unknown:
                _fail(cal.name, "traits.shift", f"unknown traits {sorted(unknown)}")

    drawn: set[str] = set(CONTEXT_DRAW_ORDER)
    for col, rule in cal["behaviour"].items():
        where = f"behaviour.{col}"
        if col not in CONTRACT or CONTRACT[col].kind not in ("int", "bool"):
            _fail(cal.name, where, "not an int or bool contract column")
        if rule.get("kind") not in BEHAVIOUR_KINDS:
            _fail(cal.name, where, f"kind must be one of {BEHAVIOUR_KINDS}")
        for part in (rule, rule.get("gate") or {}):
            if set(part.get("loadings", {})) - set(traits):
                _fail(cal.name, where, "loading on an unknown trait")
            for ref in part.get("log1p_of", {}):
                if ref not in drawn:
                    _fail(cal.name, where, f"log1p_of {ref!r} is not drawn before it")
            for ctx_col, by_value in part.get("by", {}).items():
                _check_categories(cal, where, ctx_col, by_value)
        of = rule.get("of")
        if rule["kind"] == "share" and not (isinstance(of, int | float) or of in drawn):
            _fail(cal.name, where, f"'of: {of}' must be a number or a column drawn before it")
        drawn.add(col)
    missing = {*CONTRACT.behaviour_columns, "account_age_months"} - drawn
    if missing:
        _fail(cal.name, "behaviour", f"no rule for {sorted(missing)}")

    structural = cal["structural"]
    for pillar in PILLARS:
        if pillar not in structural["pillars"]:
            _fail(cal.name, "structural.pillars", f"{pillar} missing")
        for term in structural["pillars"][pillar]["terms"]:
            where = f"structural.pillars.{pillar}"
            if term.get("kind") not in TERM_KINDS:
                _fail(cal.name, where, f"term kind must be one of {TERM_KINDS}")
            for key in ("column", "per"):
                if key in term and term[key] not in CONTRACT.behaviour_columns:
                    _fail(cal.name, where, f"{term[key]!r} is not a behaviour column")
            if float(term["points"]) <= 0:
                _fail(cal.name, where, "points must be positive")
    if set(CONTRACT.behaviour_columns) - set(structural["impute"]):
        _fail(cal.name, "structural.impute", "every behaviour column needs a typical value")
    if set(cal["reporting"]["hidden_sd"]) != set(PILLARS):
        _fail(cal.name, "reporting.hidden_sd", "one sd per pillar")
    kinds = set(cal["faults"]["kinds"])
    if kinds - set(FAULT_KINDS):
        _fail(cal.name, "faults.kinds", f"unknown kinds {sorted(kinds - set(FAULT_KINDS))}")


FAULT_KINDS: tuple[str, ...] = (
    "pillar_decimal_shift", "total_digit_typo", "accepted_exceeds_sent", "future_snapshot_year",
)


def trait_correlation(cal: Calibration) -> np.ndarray:
    """The latent traits' correlation matrix from the calibration's ``a-b: r`` pairs."""
    names = cal.trait_names
    corr = np.eye(len(names))
    for pair, r in cal["traits"].get("correlation", {}).items():
        a, b = (s.strip() for s in str(pair).split("~"))
        i, j = names.index(a), names.index(b)
        corr[i, j] = corr[j, i] = float(r)
    return corr
