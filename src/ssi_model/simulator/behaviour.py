"""Who the simulated members are and what they do: context, latent traits, behaviour counts.

Members differ by a few latent traits (e.g. activity, content, networking, profile care,
prospecting), jointly normal with the calibration's correlations and with means shifted by the
member's context (role, industry, region, seniority, subscription). Each behaviour column is drawn
from the traits through a linear predictor::

    eta = base + sum(loadings[t] * trait_t) + sum(by[context][value]) + sum(log1p_of[c] * log1p(c))
          + Normal(0, noise)

* ``count``: Poisson(exp(eta)), a lognormal-Poisson mixture, so counts are heavy-tailed and mostly
  zero when ``base`` is low; an optional ``gate`` (same fields) first decides whether the member
  does it at all; ``add`` shifts the result (profile_locales starts at 1).
* ``flag``: Bernoulli(sigmoid(eta)).
* ``share``: Binomial(of, sigmoid(eta)), ``of`` a number (days in the window) or an earlier column,
  so children never exceed their parents (accepted <= sent, replied <= received, ...).

``only: {subscription: [...]}`` zeroes a column for everyone else (free members save no leads).
Every draw is clipped to the contract's range.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ssi_model.contract import CONTRACT
from ssi_model.simulator.calibration import CONTEXT_DRAW_ORDER, Calibration, trait_correlation


def _normalised(mix: Mapping[str, float], values: tuple[str, ...]) -> np.ndarray:
    p = np.array([float(mix.get(v, 0.0)) for v in values])
    if p.sum() <= 0:
        raise ValueError(f"a mix over {values} has no positive weight")
    return p / p.sum()


def draw_context(n: int, cal: Calibration, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Categorical context columns (object arrays of category names), drawn in dependency order.

    Each column has a ``mix`` (relative weights); with ``given: <earlier column>``, ``mix_by``
    multiplies those weights per value of the earlier column (e.g. recruiters work in staffing).
    """
    out: dict[str, np.ndarray] = {}
    for col in CONTEXT_DRAW_ORDER:
        entry = cal["context"][col]
        values = CONTRACT[col].values
        given = entry.get("given")
        drawn = np.empty(n, dtype=object)
        if given is None:
            drawn[:] = rng.choice(np.array(values, dtype=object), size=n,
                                  p=_normalised(entry["mix"], values))
        else:
            factors = entry.get("mix_by", {})
            for g in CONTRACT[given].values:
                rows = np.flatnonzero(out[given] == g)
                if rows.size:
                    factor = factors.get(g, {})
                    mix = {v: float(entry["mix"].get(v, 0.0)) * float(factor.get(v, 1.0))
                           for v in values}
                    p = _normalised(mix, values)
                    drawn[rows] = rng.choice(np.array(values, dtype=object), size=rows.size, p=p)
        out[col] = drawn
    return out


def context_codes(context: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each context column as integer codes into the contract's category list."""
    codes = {}
    for col, values in context.items():
        index = {v: i for i, v in enumerate(CONTRACT[col].values)}
        codes[col] = np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values))
    return codes


def _context_shift(spec: Mapping[str, Mapping[str, float]], codes: Mapping[str, np.ndarray],
                   n: int) -> np.ndarray:
    """Sum over context columns of ``spec[column][value]`` (``default``, else 0, if not listed)."""
    total = np.zeros(n)
    for col, by_value in spec.items():
        default = float(by_value.get("default", 0.0))
        lookup = np.array([float(by_value.get(v, default)) for v in CONTRACT[col].values])
        total += lookup[codes[col]]
    return total


def draw_traits(context: Mapping[str, np.ndarray], cal: Calibration,
                rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Latent traits: correlated normals with spreads and context-shifted means."""
    n = len(context["role_family"])
    codes = context_codes(context)
    names = cal.trait_names
    chol = np.linalg.cholesky(trait_correlation(cal))
    z = rng.standard_normal((n, len(names))) @ chol.T
    sd = cal["traits"]["sd"]
    shifts = cal["traits"].get("shift", {})
    out = {}
    for i, t in enumerate(names):
        per_column = {col: {v: s.get(t, 0.0) for v, s in by_value.items()}
                      for col, by_value in shifts.items()}
        mean = float(cal["traits"].get("mean", {}).get(t, 0.0)) + _context_shift(
            per_column, codes, n)
        out[t] = mean + float(sd[t]) * z[:, i]
    return out


def _eta(rule: Mapping[str, Any], traits: Mapping[str, np.ndarray],
         codes: Mapping[str, np.ndarray], drawn: Mapping[str, np.ndarray], n: int,
         rng: np.random.Generator) -> np.ndarray:
    eta = np.full(n, float(rule.get("base", 0.0)))
    for t, w in rule.get("loadings", {}).items():
        eta += float(w) * traits[t]
    eta += _context_shift(rule.get("by", {}), codes, n)
    for col, w in rule.get("log1p_of", {}).items():
        eta += float(w) * np.log1p(drawn[col])
    noise = float(rule.get("noise", 0.0))
    if noise > 0:
        eta += noise * rng.standard_normal(n)
    return eta


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def draw_behaviour(context: Mapping[str, np.ndarray], traits: Mapping[str, np.ndarray],
                   cal: Calibration, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every int/bool behaviour column (and account age) as float arrays, in the YAML's order."""
    n = len(context["role_family"])
    codes = context_codes(context)
    drawn: dict[str, np.ndarray] = {}
    for col, rule in cal["behaviour"].items():
        eta = _eta(rule, traits, codes, drawn, n, rng)
        kind = rule["kind"]
        if kind == "flag":
            x = (rng.random(n) < _sigmoid(eta)).astype(float)
        elif kind == "share":
            of = rule["of"]
            trials = (np.full(n, int(of)) if isinstance(of, int | float)
                      else drawn[of].astype(np.int64))
            x = rng.binomial(trials, _sigmoid(eta)).astype(float)
        else:
            x = rng.poisson(np.exp(np.minimum(eta, 20.0))).astype(float)
            if "gate" in rule:
                x *= rng.random(n) < _sigmoid(_eta(rule["gate"], traits, codes, drawn, n, rng))
            x += float(rule.get("add", 0.0))
        for ctx_col, allowed in rule.get("only", {}).items():
            x *= np.isin(context[ctx_col], list(allowed))
        lo, hi = CONTRACT[col].numeric_bound("min"), CONTRACT[col].numeric_bound("max")
        drawn[col] = np.clip(x, lo, hi) if kind != "flag" else x
    return drawn
