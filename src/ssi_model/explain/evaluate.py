"""How good are the levers? Measured against the simulator's own noiseless truth.

Every figure here is measured on our own simulator (its noiseless structural truth), not on real
members: simulated members are explained, and every catalogue lever that applies to a member (the
catalogue's ``apply_lever`` gives a valid changed row) is scored twice, by the model (prediction
after minus before: the model gain) and by the simulator's structural function (the true gain).
Scoring every applicable lever, not only the listed ones, lets a truly good lever the model missed
count against it. From those:

- validity: share of listed levers that truly raise the pillar they target first;
- faithfulness: per member and pillar, Spearman correlation between model and true gains of all
  applicable levers targeting that pillar (median over members and pillars), and the median
  relative error of the model gain on each applicable lever's first pillar;
- recall@3: per member and pillar, whether the truly best applicable lever is among the top three
  the explanation lists for that pillar (ties count: any lever within 1e-6 of the best is best);
- regret against the best applicable lever: per member and pillar, the true gain of the listed
  top-ranked lever as a share of the best true gain among all applicable levers (0 when nothing
  is listed for the pillar); median and share ≥ 0.8;
- regret among listed levers (the former figure): the same ratio against the best *listed* lever;
- constraint violations: context changed, a value outside the contract's ranges or rules;
- stability: agreement of the top-3 levers per pillar between two models trained on different
  bootstrap samples.

A (member, pillar) pair takes part in recall and regret only when some applicable lever targeting
the pillar truly gains at least ``MIN_TRUE_GAIN`` points on it; otherwise (best true gain ≤ 0 or
negligible) there is nothing worth finding, listing nothing is right, and the pair is only counted
in ``pairs_without_true_gain``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ssi_model.batch import ProfileBatch
from ssi_model.contract import CONTRACT, PILLARS

# Package-level explain_rows: it stays public however the explain module is split.
from ssi_model.explain import explain_rows
from ssi_model.explain.catalogue import Catalogue, load_catalogue
from ssi_model.explain.schema import Explanation
from ssi_model.explain.variants import lever_variants
from ssi_model.model.config import ExperimentConfig
from ssi_model.model.estimator import SSIEstimator
from ssi_model.model.train import fit_estimator
from ssi_model.progress import task
from ssi_model.simulator import simulate_cohort, structural_pillars
from ssi_model.validation import validate

# Below this true gain (points) a lever is not worth recommending; the same size as the smallest
# gain the explanations list, so "the model listed nothing" is not counted as a miss there.
MIN_TRUE_GAIN = 0.05
TIE = 1e-6  # true gains this close are the same gain (recall@3 accepts any of the tied best)
TOP_K = 3
SIMULATOR_CAVEAT = ("measured on our own simulator (its noiseless structural truth), "
                    "not on real members")


@dataclass
class LeverQuality:
    members: int
    levers_listed: int
    levers_applicable: int
    validity: float
    faithfulness_spearman_median: float
    relative_error_median: float
    recall_at_3: float
    regret_ratio_median: float
    regret_share_at_least_80pct: float
    regret_among_listed_median: float
    pairs_scored: int
    pairs_without_true_gain: int
    constraint_violations: int
    stability_share: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return dict(self.__dict__)

    def metrics(self) -> dict[str, float]:
        """The figures as MLflow metrics (``levers_`` prefix); unmeasured ones are left out."""
        return {f"levers_{k}": float(v) for k, v in self.__dict__.items()
                if v is not None and np.isfinite(float(v))}


def _violations(row: Mapping[str, Any], changes: Mapping[str, object]) -> int:
    count = 0
    changed = dict(row)
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


# -- building the changed rows -------------------------------------------------------------------

def _applicable(table: ProfileBatch, catalogue: Catalogue) -> tuple[ProfileBatch, pd.DataFrame]:
    """Every (member, lever) pair where the lever applies: the changed rows, stacked (the
    explanations' own ``lever_variants``), and a table of who and which lever (``member``,
    ``lever``, ``pillars``)."""
    variants = lever_variants(table, catalogue)
    levers = [catalogue.levers[j] for j in variants.lever]
    return variants.rows, pd.DataFrame({"member": variants.member,
                                        "lever": [lever.id for lever in levers],
                                        "pillars": [lever.pillars for lever in levers]},
                                       columns=["member", "lever", "pillars"])


def _listed(table: ProfileBatch,
            docs: Sequence[Explanation]) -> tuple[ProfileBatch, pd.DataFrame]:
    """Every listed lever: the member's row with the lever's concrete ``changes`` applied."""
    members: list[int] = []
    changes: list[Mapping[str, bool | int | float]] = []
    records: list[dict[str, Any]] = []
    for i, doc in enumerate(docs):
        for rank, lever in enumerate(doc.levers):
            members.append(i)
            changes.append(lever.changes)
            records.append({"member": i, "lever": lever.id, "pillar": lever.pillar,
                            "pillars": tuple(lever.pillars), "rank": rank,
                            **{f"est_{p}": float(getattr(lever.gain, p)) for p in PILLARS}})
    rows = table.take(np.array(members, dtype=int))
    for k, change in enumerate(changes):
        for column, value in change.items():
            # Levers change behaviour columns only (numbers, booleans as 0/1); anything else is
            # a constraint violation, counted separately, and must not break the scoring.
            if column in rows and CONTRACT[column].kind in ("int", "float", "bool"):
                rows[column][k] = float(value)
    listed = pd.DataFrame(records, columns=["member", "lever", "pillar", "pillars", "rank",
                                            *[f"est_{p}" for p in PILLARS]])
    return rows, listed


Part = tuple[ProfileBatch, np.ndarray]  # changed rows and, for each, the index of its member


def _score(table: ProfileBatch, parts: Sequence[Part], calibration: str,
           estimator: SSIEstimator | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """True (and, with an estimator, model) gains of each part's rows over their members' own
    rows: one structural call and one model predict on a single frame holding the members and
    every part's rows."""
    stacked = ProfileBatch.concat([table, *[rows for rows, _ in parts]])
    truth = structural_pillars(stacked.to_frame(), calibration)[list(PILLARS)].to_numpy(float)
    model = estimator.predict_pillars(stacked) if estimator is not None else None
    n = len(table)
    true_gain: list[np.ndarray] = []
    model_gain: list[np.ndarray] = []
    offset = n
    for _rows, member in parts:
        after = slice(offset, offset + len(member))
        true_gain.append(truth[after] - truth[member])
        if model is not None:
            model_gain.append(model[after] - model[member])
        offset += len(member)
    return true_gain, model_gain


def _listed_violations(rows: pd.DataFrame, docs: Sequence[Explanation]) -> int:
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in r.items()} for r in rows.to_dict("records")]
    return sum(int(_violations(records[i], lever.changes))
               for i, doc in enumerate(docs) for lever in doc.levers)


def true_gains(rows: pd.DataFrame, docs: Sequence[Explanation],
               calibration: str = "linkedin") -> tuple[pd.DataFrame, int]:
    """Every listed lever with its estimated and true gain per pillar, and the violations."""
    table = ProfileBatch.from_frame(rows)
    listed_rows, listed = _listed(table, docs)
    violations = _listed_violations(rows, docs)
    if not len(listed):
        return listed, violations
    (true,), _ = _score(table, [(listed_rows, listed["member"].to_numpy(int))], calibration,
                        None)
    for j, p in enumerate(PILLARS):
        listed[f"true_{p}"] = true[:, j]
    return listed, violations


def lever_gains(estimator: SSIEstimator, rows: pd.DataFrame, docs: Sequence[Explanation],
                calibration: str = "linkedin", catalogue: Catalogue | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Model and true gains of every applicable catalogue lever, and of every listed lever.

    Returns ``(applicable, listed, violations)``. ``applicable``: one row per (member, lever)
    where the lever applies, with ``est_<pillar>`` (model gain) and ``true_<pillar>``.
    ``listed``: one row per lever in the explanations, with the listed (rounded) gain as
    ``est_<pillar>`` and the true gain of its concrete ``changes``. One model predict and one
    structural call for the members, every applicable lever and every listed lever.
    """
    catalogue = catalogue or load_catalogue()
    table = ProfileBatch.from_frame(rows)
    variant_rows, applicable = _applicable(table, catalogue)
    listed_rows, listed = _listed(table, docs)
    (true_app, true_listed), (model_app, _) = _score(
        table, [(variant_rows, applicable["member"].to_numpy(int)),
                (listed_rows, listed["member"].to_numpy(int))], calibration, estimator)
    for j, p in enumerate(PILLARS):
        applicable[f"est_{p}"] = model_app[:, j]
        applicable[f"true_{p}"] = true_app[:, j]
        listed[f"true_{p}"] = true_listed[:, j]
    return applicable, listed, _listed_violations(rows, docs)


# -- the figures ---------------------------------------------------------------------------------

def _targeting(table: pd.DataFrame, pillar: str) -> pd.DataFrame:
    if not len(table):
        return table
    return table[table["pillars"].map(lambda ps: pillar in ps)]


def _spearman_per_group(table: pd.DataFrame) -> list[float]:
    values = []
    for p in PILLARS:
        for _, group in _targeting(table, p).groupby("member"):
            if len(group) < 3:
                continue
            est, true = group[f"est_{p}"].to_numpy(), group[f"true_{p}"].to_numpy()
            if np.ptp(est) == 0 or np.ptp(true) == 0:
                continue
            values.append(float(spearmanr(est, true).statistic))
    return values


@dataclass
class RankingFigures:
    """Per (member, pillar) pair with a truly helpful applicable lever, in the same order."""

    recall_at_3: list[bool]
    regret: list[float]
    regret_among_listed: list[float]  # pairs whose best listed lever truly gains something
    pairs_without_true_gain: int


def ranking_figures(applicable: pd.DataFrame, listed: pd.DataFrame,
                    k: int = TOP_K) -> RankingFigures:
    """Recall@k and regret per (member, pillar) against every applicable lever.

    ``applicable`` needs ``member``, ``lever``, ``pillars`` and ``true_<pillar>``; ``listed``
    needs the same plus ``rank`` and ``est_<pillar>`` (the gain the explanation shows). For a
    pillar, the explanation's ranking is its listed levers targeting that pillar ordered by the
    listed gain on it (ties in the document's order), as a coach reads them per pillar.
    """
    recall: list[bool] = []
    regret: list[float] = []
    among: list[float] = []
    without = 0
    for p in PILLARS:
        pool = _targeting(applicable, p)
        if not len(pool):
            continue
        best = pool.groupby("member")[f"true_{p}"].max()
        without += int((best < MIN_TRUE_GAIN).sum())
        best = best[best >= MIN_TRUE_GAIN]
        if not len(best):
            continue
        is_best = pool[f"true_{p}"].to_numpy() >= best.reindex(pool["member"]).to_numpy() - TIE
        best_pairs = set(zip(pool["member"][is_best], pool["lever"][is_best], strict=True))

        shown = _targeting(listed, p)
        shown = shown.sort_values(["member", f"est_{p}", "rank"], ascending=[True, False, True],
                                  kind="stable")
        top = shown.groupby("member").head(k)
        hit = {m for m, lever in zip(top["member"], top["lever"], strict=True)
               if (m, lever) in best_pairs}
        first = shown.groupby("member")[f"true_{p}"].first().to_dict()
        best_listed = shown.groupby("member")[f"true_{p}"].max().to_dict()
        for member, value in best.to_dict().items():
            recall.append(member in hit)
            if member not in first:
                regret.append(0.0)  # nothing listed for the pillar: the best lever was missed
                continue
            regret.append(float(first[member]) / float(value))
            if best_listed[member] > 0:
                among.append(float(first[member]) / float(best_listed[member]))
    return RankingFigures(recall, regret, among, without)


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


def _median(values: Sequence[float] | np.ndarray) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def _mean(values: Sequence[float] | Sequence[bool] | np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def _main_pillar(table: pd.DataFrame, prefix: str) -> np.ndarray:
    """Each lever's ``<prefix>_<pillar>`` value on the pillar it targets first."""
    if not len(table):
        return np.zeros(0)
    values = table[[f"{prefix}_{p}" for p in PILLARS]].to_numpy(float)
    first = table["pillars"].map(lambda ps: PILLARS.index(ps[0])).to_numpy(int)
    return values[np.arange(len(table)), first]


def evaluate_levers(
    estimator: SSIEstimator,
    *,
    members: int = 500,
    seed: int = 2024,
    calibration: str = "linkedin",
    bootstrap_pair: tuple[SSIEstimator, SSIEstimator] | None = None,
) -> LeverQuality:
    """Lever quality of ``estimator`` on simulated members (see the module docstring)."""
    # Simulate a few extra: rows with injected typing faults are quarantined, not explained.
    # Steps: simulate, explain, score every lever, then explain again with each bootstrap model.
    with task("evaluate-levers", total=3 + 2 * (bootstrap_pair is not None),
              unit="steps") as steps:
        validated = validate(simulate_cohort(int(members * 1.1) + 10, seed,
                                             calibration=calibration))
        rows = validated.clean.head(members).reset_index(drop=True)
        steps.advance()
        docs = explain_rows(estimator, rows)
        steps.advance()
        applicable, listed, violations = lever_gains(estimator, rows, docs, calibration)
        steps.advance()
        stab = None
        if bootstrap_pair is not None:
            first = explain_rows(bootstrap_pair[0], rows)
            steps.advance()
            stab = stability(first, explain_rows(bootstrap_pair[1], rows))
            steps.advance()

    listed_true = _main_pillar(listed, "true")
    # Relative error over every applicable lever on its first pillar; below MIN_TRUE_GAIN the
    # ratio divides by (almost) nothing and says nothing about faithfulness.
    app_true, app_est = _main_pillar(applicable, "true"), _main_pillar(applicable, "est")
    sizable = np.abs(app_true) >= MIN_TRUE_GAIN
    rel = np.abs(app_est[sizable] - app_true[sizable]) / np.abs(app_true[sizable])
    spear = _spearman_per_group(applicable)
    ranking = ranking_figures(applicable, listed)
    regret = np.array(ranking.regret)
    return LeverQuality(
        members=len(rows),
        levers_listed=len(listed),
        levers_applicable=len(applicable),
        validity=_mean(listed_true > 0),
        faithfulness_spearman_median=_median(spear),
        relative_error_median=_median(rel),
        recall_at_3=_mean(ranking.recall_at_3),
        regret_ratio_median=_median(regret),
        regret_share_at_least_80pct=_mean(regret >= 0.8),
        regret_among_listed_median=_median(ranking.regret_among_listed),
        pairs_scored=len(ranking.regret),
        pairs_without_true_gain=ranking.pairs_without_true_gain,
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
