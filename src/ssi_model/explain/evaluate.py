"""How good are the levers? Measured against the simulator's own noiseless truth.

For simulated members, every listed lever's ``changes`` are re-scored with the simulator's
structural function: the true gain. From those:
- validity: share of listed levers that truly raise the pillar they target first;
- faithfulness: per member and pillar, Spearman correlation between estimated and true gains of
  the listed levers (median over members and pillars), and the median relative error;
- regret: per member and pillar, the true gain of the top-ranked lever as a share of the best true
  gain among the listed levers;
- constraint violations: context changed, a value outside the contract's ranges or rules;
- stability: agreement of the top-3 levers per pillar between two models trained on different
  bootstrap samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ssi_model.contract import CONTRACT, PILLARS
from ssi_model.explain.explain import explain_rows
from ssi_model.explain.schema import Explanation
from ssi_model.model.config import ExperimentConfig
from ssi_model.model.estimator import SSIEstimator
from ssi_model.model.train import fit_estimator
from ssi_model.simulator import simulate_cohort, structural_pillars
from ssi_model.validation import validate


@dataclass
class LeverQuality:
    members: int
    levers_listed: int
    validity: float
    faithfulness_spearman_median: float
    relative_error_median: float
    regret_ratio_median: float
    regret_share_at_least_80pct: float
    constraint_violations: int
    stability_share: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return dict(self.__dict__)


def _violations(row: pd.Series, changes: Mapping[str, object]) -> int:
    count = 0
    changed = row.copy()
    for column, value in changes.items():
        if column not in CONTRACT or CONTRACT[column].is_context or CONTRACT[column].is_label:
            count += 1
            continue
        changed[column] = value
        col = CONTRACT[column]
        lo, hi = col.numeric_bound("min"), col.numeric_bound("max")
        v = float(value)  # type: ignore[arg-type]
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            count += 1
    for column, which, other in CONTRACT.cross_rules():
        a, b = changed[column], changed[other]
        if pd.isna(a) or pd.isna(b):
            continue
        if (which == "max" and float(a) > float(b)) or (which == "min" and float(a) < float(b)):
            count += 1
    return count


def true_gains(rows: pd.DataFrame, docs: Sequence[Explanation],
               calibration: str = "linkedin") -> tuple[pd.DataFrame, int]:
    """Every listed lever with its estimated and true gain per pillar, and the violations."""
    before = structural_pillars(rows, calibration)
    changed_rows, records = [], []
    violations = 0
    for i, doc in enumerate(docs):
        row = rows.iloc[i]
        for rank, lever in enumerate(doc.levers):
            violations += _violations(row, lever.changes)
            after = row.copy()
            for column, value in lever.changes.items():
                after[column] = value
            changed_rows.append(after)
            records.append({"member": i, "lever": lever.id, "pillar": lever.pillar,
                            "pillars": tuple(lever.pillars), "rank": rank,
                            **{f"est_{p}": getattr(lever.gain, p) for p in PILLARS}})
    table = pd.DataFrame(records)
    if not len(table):
        return table, violations
    after_frame = CONTRACT.to_typed(pd.DataFrame(changed_rows).reset_index(drop=True))
    truth_after = structural_pillars(after_frame, calibration)
    truth_before = before.iloc[table["member"].to_numpy()].reset_index(drop=True)
    for p in PILLARS:
        table[f"true_{p}"] = truth_after[p].to_numpy() - truth_before[p].to_numpy()
    return table, violations


def _spearman_per_group(table: pd.DataFrame) -> list[float]:
    values = []
    for p in PILLARS:
        targeted = table[table["pillars"].map(lambda ps, p=p: p in ps)]
        for _, group in targeted.groupby("member"):
            if len(group) < 3:
                continue
            est, true = group[f"est_{p}"].to_numpy(), group[f"true_{p}"].to_numpy()
            if np.ptp(est) == 0 or np.ptp(true) == 0:
                continue
            values.append(float(spearmanr(est, true).statistic))
    return values


def _regret(table: pd.DataFrame) -> list[float]:
    ratios = []
    for p in PILLARS:
        targeted = table[table["pillars"].map(lambda ps, p=p: p in ps)]
        for _, group in targeted.groupby("member"):
            best_true = group[f"true_{p}"].max()
            if best_true <= 0:
                continue
            top = group.loc[cast(Any, group[f"est_{p}"].idxmax())]
            ratios.append(float(top[f"true_{p}"] / best_true))
    return ratios


def top_levers(docs: Sequence[Explanation], k: int = 3) -> list[dict[str, list[str]]]:
    """Per member and pillar, the ids of the k levers with the largest estimated pillar gain."""
    out = []
    for doc in docs:
        per = {}
        for p in PILLARS:
            ranked = sorted((lv for lv in doc.levers if p in lv.pillars),
                            key=lambda lv, p=p: -float(getattr(lv.gain, p)))  # type: ignore[misc]
            per[p] = [lv.id for lv in ranked[:k]]
        out.append(per)
    return out


def stability(first: Sequence[Explanation], second: Sequence[Explanation]) -> float:
    """Share of members whose top-3 levers agree (≥2 of 3) in every pillar with ≥3 levers."""
    agree = []
    for a, b in zip(top_levers(first), top_levers(second), strict=True):
        ok = True
        for p in PILLARS:
            k = min(len(a[p]), len(b[p]), 3)
            if k == 0:
                continue
            need = 2 if k == 3 else k
            ok &= len(set(a[p][:k]) & set(b[p][:k])) >= need
        agree.append(ok)
    return float(np.mean(agree)) if agree else float("nan")


def evaluate_levers(
    estimator: SSIEstimator,
    *,
    members: int = 500,
    seed: int = 2024,
    calibration: str = "linkedin",
    bootstrap_pair: tuple[SSIEstimator, SSIEstimator] | None = None,
) -> LeverQuality:
    # Simulate a few extra: rows with injected typing faults are quarantined, not explained.
    validated = validate(simulate_cohort(int(members * 1.1) + 10, seed, calibration=calibration))
    rows = validated.clean.head(members).reset_index(drop=True)
    docs = explain_rows(estimator, rows)
    table, violations = true_gains(rows, docs, calibration)
    main_true = np.array([table.loc[i, f"true_{p}"] for i, p in enumerate(table["pillar"])])
    main_est = np.array([table.loc[i, f"est_{p}"] for i, p in enumerate(table["pillar"])])
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(main_est - main_true) / np.abs(main_true)
    spear = _spearman_per_group(table)
    regret = _regret(table)
    stab = None
    if bootstrap_pair is not None:
        stab = stability(explain_rows(bootstrap_pair[0], rows),
                         explain_rows(bootstrap_pair[1], rows))
    return LeverQuality(
        members=len(rows),
        levers_listed=len(table),
        validity=float((main_true > 0).mean()) if len(table) else float("nan"),
        faithfulness_spearman_median=float(np.median(spear)) if spear else float("nan"),
        relative_error_median=float(np.nanmedian(rel[np.isfinite(rel)])) if len(rel) else
        float("nan"),
        regret_ratio_median=float(np.median(regret)) if regret else float("nan"),
        regret_share_at_least_80pct=float(np.mean(np.array(regret) >= 0.8)) if regret else
        float("nan"),
        constraint_violations=violations,
        stability_share=stab,
    )


def bootstrap_estimators(train: pd.DataFrame, config: ExperimentConfig,
                         seeds: tuple[int, int] = (1, 2)) -> tuple[SSIEstimator, SSIEstimator]:
    """Two models on two bootstrap samples of the same training rows (for stability)."""
    out = []
    for seed in seeds:
        sample = train.sample(frac=1.0, replace=True, random_state=seed).reset_index(drop=True)
        out.append(fit_estimator(sample, config.with_seed(config.seed + seed)).estimator)
    return out[0], out[1]
