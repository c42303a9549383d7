"""What-if in the coach's hands: the member page carries the model and re-scores in the browser.

Two parts, both built from what the served model itself reads, so the page cannot drift from it:

- :func:`whatif_model` turns an :class:`SSIEstimator` into a :class:`WhatIfModel`: the four
  boosters as compact trees (from LightGBM's ``dump_model``, keeping only what scoring reads:
  split feature, threshold, decision type, ``default_left``, ``missing_type``, children, leaf
  values), the interval tables, the industry "Top X %" quantiles, and the feature transforms as
  JavaScript *generated* from ``features.yaml`` (the same :class:`FeatureDef` declarations the
  Python builder compiles). The scorer itself is ``static/whatif.js``, inlined into the page: no
  CDN, no WebAssembly, no second file.
- :func:`whatif_view` adds one member's controls (every behaviour column of the contract, grouped
  by pillar, within the contract's bounds and the lever ceilings), the levers to apply, and the
  member's own row to start from.

In the page, ``window.ssiWhatIf.score(row)`` returns the keys of a prediction record, equal to
``SSIEstimator.predict`` on the same row (tests/test_whatif.py checks it in Chromium).
"""

from __future__ import annotations

import base64
import json
import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from ssi_model.contract import CONTRACT, PILLARS
from ssi_model.explain.catalogue import load_catalogue
from ssi_model.features import FeatureDef, feature_spec
from ssi_model.model.trees import flat_trees

if TYPE_CHECKING:
    import lightgbm as lgb

    from ssi_model.explain.schema import Explanation
    from ssi_model.model.estimator import SSIEstimator

    from .i18n import Texts

FORMAT = 1
TARGETS = ("total", *PILLARS)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


# --------------------------------------------------------------------------------------------------
# The model bundle
# --------------------------------------------------------------------------------------------------


def _compact_booster(booster: lgb.Booster, global_index: Sequence[int]) -> dict[str, Any]:
    """One booster's flat trees (``model.trees.flat_trees``, the arrays the served model walks
    too) as JSON; ``global_index`` maps its block's columns to feature slots.

    Children are node numbers within their tree (LightGBM's ``split_index``) or ``~leaf_index``
    for a leaf, exactly as LightGBM walks them. Numeric thresholds are shared per booster (bins
    repeat across trees; ``t`` indexes them, or ``cats`` for a categorical split); leaf values are
    little-endian float64 in base64, 11 characters instead of ~19, and exact by construction.
    """
    flat = flat_trees(booster, global_index)
    thresholds: dict[float, int] = {}
    categorical = (flat.flags & 1) != 0
    t = [int(v) if cat else thresholds.setdefault(float(v), len(thresholds))
         for v, cat in zip(flat.threshold.tolist(), categorical.tolist(), strict=True)]
    return {"trees": flat.sizes.tolist(), "f": flat.feature.tolist(), "t": t,
            "d": flat.flags.tolist(), "l": flat.left.tolist(), "r": flat.right.tolist(),
            "thresholds": list(thresholds), "cats": [list(c) for c in flat.cat_sets],
            "leaves": base64.b64encode(flat.leaves.astype("<f8").tobytes()).decode("ascii")}


def model_bundle(estimator: SSIEstimator) -> dict[str, Any]:
    """Everything the page's scorer reads, as JSON-ready data (floats round-trip exactly)."""
    names = list(estimator.feature_names)
    position = {n: i for i, n in enumerate(names)}
    boosters = {
        p: _compact_booster(estimator.boosters[p], [position[f] for f in estimator.blocks[p]])
        for p in PILLARS
    }
    intervals = {
        name: {"edges": list(c.edges), "lower": list(c.lower), "upper": list(c.upper),
               "low": c.low, "high": c.high}
        for name, c in ((n, estimator.intervals[n]) for n in TARGETS)
    }
    quantiles = estimator.peers.industry_quantiles
    levels = {len(q) for q in quantiles.values()}
    return {
        "format": FORMAT,
        "pillars": list(PILLARS),
        "pillar_max": float(CONTRACT.pillar_max),
        "n_features": len(names),
        "boosters": boosters,
        "intervals": intervals,
        # np.linspace(0, 100, n) as PeerStats.top_pct builds it: shipped, not recomputed in JS
        "top_levels": {str(n): _linspace_100(n) for n in levels},
        "industry_quantiles": {k: [float(v) for v in q] for k, q in quantiles.items()},
    }


def _linspace_100(n: int) -> list[float]:
    import numpy as np

    return [float(v) for v in np.linspace(0, 100, n)]


# --------------------------------------------------------------------------------------------------
# Feature code, generated from features.yaml
# --------------------------------------------------------------------------------------------------


def _js_number(value: float) -> str:
    """A JS literal for a double: Python's repr is the shortest text that round-trips."""
    text = repr(float(value))
    if text in ("nan", "inf", "-inf"):
        raise ValueError(f"not a finite number: {value}")
    return text


def _var(column: str) -> str:
    if not _NAME.match(column):
        raise ValueError(f"not a plain column name: {column!r}")
    return f"c_{column}"


def _sum(columns: Sequence[str]) -> str:
    """Left to right, as ``_gather_sum`` adds the columns (the order fixes the rounding)."""
    expr = _var(columns[0])
    for column in columns[1:]:
        expr = f"({expr} + {_var(column)})"
    return expr


def _feature_expr(f: FeatureDef, weeks: float) -> str:
    if f.op in ("code", "value"):
        expr = _sum(f.sources)
        if f.per_week:
            expr = f"{expr} / {_js_number(weeks)}"
        return f"Math.log1p({expr})" if f.log1p else expr
    if f.op == "ratio":
        floor = "NaN" if f.denominator_floor is None else _js_number(f.denominator_floor)
        return f"ratio({_sum(f.numerator)}, {_sum(f.denominator)}, {floor})"
    if f.op == "share_filled":
        cells = ", ".join(f"[{_var(c)}, {_js_number(t)}]" for c, t in f.sections)
        return f"share([{cells}])"
    raise ValueError(f"unknown op {f.op!r}")


def features_js(feature_names: Sequence[str]) -> str:
    """``function ssiFeatures(row)`` for these features, from their ``features.yaml`` entries.

    It mirrors ``features._compute`` operation for operation (sum order, divide, then log1p; a
    ratio over a zero denominator is unknown; shares count known sections only), so the browser
    computes the same doubles as the Python builder.
    """
    spec = feature_spec()
    defs = [spec[name] for name in feature_names]
    columns = [c for c in CONTRACT.input_columns if any(c in f.sources for f in defs)]
    weeks = CONTRACT.window_days / 7.0
    lines = ["function ssiFeatures(row) {"]
    for column in columns:
        values = CONTRACT[column].values if CONTRACT[column].kind == "category" else None
        if values:
            lines.append(f"  var {_var(column)} = cat(row, {json.dumps(column)}, "
                         f"{json.dumps(list(values))});")
        else:
            lines.append(f"  var {_var(column)} = num(row, {json.dumps(column)});")
    lines.append(f"  var x = new Float64Array({len(defs)});")
    for i, f in enumerate(defs):
        lines.append(f"  x[{i}] = {_feature_expr(f, weeks)};  // {f.name}")
    lines += ["  return x;", "}"]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# The page's part: model (cached per estimator) and one member's controls
# --------------------------------------------------------------------------------------------------


def _script_json(data: object) -> str:
    """JSON safe inside a <script> element: no ``</script>``, no ``<!--``."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@cache
def _static_js() -> str:
    return resources.files("ssi_model.report").joinpath("static/whatif.js").read_text("utf-8")


@dataclass(frozen=True)
class WhatIfModel:
    """The model as a page carries it: the JSON bundle and the script (scorer + features)."""

    bundle_json: str
    script: str

    @property
    def size(self) -> int:
        """Bytes this adds to a page (UTF-8)."""
        return len(self.bundle_json.encode("utf-8")) + len(self.script.encode("utf-8"))


_MODELS: dict[int, tuple[weakref.ref[Any], WhatIfModel]] = {}


def whatif_model(estimator: SSIEstimator) -> WhatIfModel:
    """The page's model for an estimator; built once per estimator object (a served model is
    asked for it on every ``POST /v1/report``)."""
    cached = _MODELS.get(id(estimator))
    if cached is not None and cached[0]() is estimator:
        return cached[1]
    generated = features_js(estimator.feature_names)
    script = _static_js().replace("/*@FEATURES@*/", generated)
    model = WhatIfModel(bundle_json=_script_json(model_bundle(estimator)), script=script)
    _MODELS[id(estimator)] = (weakref.ref(estimator, lambda _: _MODELS.pop(id(estimator), None)),
                              model)
    return model


@dataclass(frozen=True)
class WhatIf:
    """What a member page needs for its what-if panel: the model and the member's row."""

    model: WhatIfModel
    row: Mapping[str, Any]


def for_member(estimator: SSIEstimator, row: Mapping[str, Any]) -> WhatIf:
    """The what-if of one member: ``row`` is a contract row (plain values, ``None`` unknown)."""
    return WhatIf(model=whatif_model(estimator), row=dict(row))


@dataclass(frozen=True)
class Control:
    column: str
    label: str
    kind: str  # "int" | "bool" | "float"
    low: float
    high: float
    now: float | bool | None


def _plain(value: Any) -> Any:
    """A cell as JSON: numbers, booleans, strings, ``None`` (dates and the like as text)."""
    if value is None or isinstance(value, bool | int | float | str):
        if isinstance(value, float) and value != value:
            return None
        return value
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    return str(value)


@cache
def _ceilings() -> dict[str, float]:
    """Per column, the highest lever ceiling in the catalogue (the coaching horizon)."""
    out: dict[str, float] = {}
    for lever in load_catalogue().levers:
        for change in lever.changes:
            if change.ceiling is not None:
                out[change.column] = max(out.get(change.column, 0.0), change.ceiling)
    return out


def _control(column: str, now: Any, t: Texts) -> Control:
    spec = CONTRACT[column]
    label = t.label("column", column)
    if spec.kind == "bool":
        return Control(column, label, "bool", 0.0, 1.0, None if now is None else bool(now))
    low = spec.numeric_bound("min")
    high = spec.numeric_bound("max")
    ceiling = _ceilings().get(column)
    if high is None:  # bounded by another column: the widest that column allows
        other = spec.column_bound("max")
        high = CONTRACT[other].numeric_bound("max") if other else None
        ceiling = _ceilings().get(other, ceiling) if other else ceiling
    if ceiling is not None:
        high = ceiling if high is None else min(high, ceiling)
    low = 0.0 if low is None else low
    high = low + 100.0 if high is None else high
    value = None if now is None else float(now)
    if value is not None:  # never cut the member's own value off the scale
        high = max(high, value)
    return Control(column, label, spec.kind, low, high, value)


def whatif_view(whatif: WhatIf, doc: Explanation, t: Texts) -> dict[str, Any]:
    """What ``whatif.html.j2`` renders: controls by pillar, levers to apply, and the data."""
    row = {c: _plain(whatif.row.get(c)) for c in CONTRACT.input_columns}
    groups = []
    for pillar in PILLARS:
        controls = [_control(c, row[c], t) for c in CONTRACT.pillar_inputs(pillar)]
        groups.append({"pillar": pillar, "name": t.key(f"pillar:{pillar}"), "controls": controls})
    levers = [{"id": lever.id, "text": lever.text, "changes": dict(lever.changes)}
              for lever in doc.levers]
    industry = row.get("industry")
    rank = {
        "top": t.gettext("Top %(pct)s in %(industry)s", pct="{pct}",
                         industry=t.label("industry", industry))
        if industry else t.gettext("Top %(pct)s of all members", pct="{pct}"),
        "bottom": t.gettext("Bottom %(pct)s in %(industry)s", pct="{pct}",
                            industry=t.label("industry", industry))
        if industry else t.gettext("Bottom %(pct)s of all members", pct="{pct}"),
    }
    page = {
        "row": row,
        "levers": {lever["id"]: lever["changes"] for lever in levers},
        "plan": dict(doc.plan.changes) if doc.plan else None,
        "rules": [list(r) for r in CONTRACT.cross_rules()],
        "locale": t.locale.language + ("-" + t.locale.territory if t.locale.territory else ""),
        "rank": rank,
        "unknown": t.gettext("Not known"),
    }
    return {
        "groups": groups,
        "levers": levers,
        "has_plan": doc.plan is not None,
        "page_json": _script_json(page),
        "model_json": whatif.model.bundle_json,
        "script": whatif.model.script.replace("</", "<\\/"),
    }
