"""Plan search: bundles of up to three levers, re-scored jointly (a bundle's gain is not the sum
of its parts); the most gain within a weekly time budget, and the least effort reaching a target.

All members' bundles of one size are scored in one pass (a bundle extends its prefix by one
lever). The functions here return bundle indices; turning them into documents is
``explain.document``'s job.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ssi_model.batch import ProfileBatch
from ssi_model.contract import PILLARS
from ssi_model.explain.catalogue import Catalogue
from ssi_model.explain.variants import MIN_GAIN, LeverVariants, Value, as_value
from ssi_model.model.estimator import SSIEstimator

MAX_LEVERS = 3


@dataclass
class Bundle:
    member: int
    levers: tuple[int, ...]
    effort: float
    variant: int  # the lever variant (a row of ``LeverVariants``) of its first lever


@dataclass
class BundleScores:
    """Joint re-scoring of the bundles, aligned with them."""

    gain: np.ndarray  # (b, 4) pillar gains over the member's own prediction
    valid: np.ndarray  # (b,) every lever of the bundle applied
    levels: list[ProfileBatch]  # per bundle size, the rows of that size's bundles applied
    where: np.ndarray  # (b,) a bundle's row in ``levels[size - 1]``

    @cached_property
    def total(self) -> np.ndarray:
        """(b,) total gains (the pillars' in order, as ``gain[k].sum()`` adds them)."""
        return self.gain.sum(axis=1)

    @cached_property
    def ranked_total(self) -> list[float]:
        """The total gains rounded to 6 decimals (plans within rounding noise tie)."""
        return np.round(self.total, 6).tolist()

    def changes(self, k: int, bundle: Bundle, catalogue: Catalogue) -> dict[str, Value]:
        """The changed values of bundle ``k`` (a plan document lists only one or two of them)."""
        rows = self.levels[len(bundle.levers) - 1]
        columns = dict.fromkeys(c for j in bundle.levers for c in catalogue.levers[j].columns)
        return {c: as_value(c, rows[c][self.where[k]]) for c in columns}


@dataclass(frozen=True)
class TargetSearch:
    """The least-effort bundle reaching a target total, if any."""

    reachable: bool
    bundle: int | None  # None when the member is already there, or when no bundle reaches it
    best_total: float  # the highest total any bundle (or none) reaches


def candidate_bundles(variants: LeverVariants, gains: np.ndarray, n: int, catalogue: Catalogue,
                      size: int, max_levers: int = MAX_LEVERS) -> list[Bundle]:
    """Every combination of up to ``max_levers`` of each member's ``size`` best levers.

    ``gains``: (m, 4) pillar gains of the variants.
    """
    bundles = []
    total = gains.sum(axis=1)
    primary = [lever.primary for lever in catalogue.levers]
    effort = [lever.effort_per_week(catalogue.window_weeks) for lever in catalogue.levers]
    for i in range(n):
        rows = np.flatnonzero((variants.member == i) & (total > MIN_GAIN))
        best = rows[np.argsort(-total[rows], kind="stable")][:size]
        variant = {int(variants.lever[r]): int(r) for r in best}  # best first, as ids
        for k in range(1, max_levers + 1):
            for combo in itertools.combinations(variant, k):
                if len({primary[c] for c in combo}) < k:
                    continue  # two levers on the same behaviour are alternatives, not a bundle
                bundles.append(Bundle(member=i, levers=combo,
                                      effort=sum(effort[c] for c in combo),
                                      variant=variant[combo[0]]))
    return bundles


def score_bundles(estimator: SSIEstimator, variants: LeverVariants, scored: np.ndarray,
                  features: np.ndarray, base: np.ndarray, bundles: list[Bundle],
                  catalogue: Catalogue) -> BundleScores:
    """Joint re-scoring: levers applied in sequence to each member's row, size by size.

    A bundle of one lever is its variant (the same engine applied that lever to the same row):
    ``variants`` with their ``features`` and ``scored`` predictions. A bundle of more levers is
    the bundle of all its levers but the last (listed too: ``candidate_bundles`` keeps every
    prefix of a bundle it keeps) with the last applied, one engine call per size; it keeps that
    bundle's prediction for the pillars whose features the last lever leaves alone
    (``SSIEstimator.predict_sharing``). ``base``: the members' own predictions."""
    variant = np.array([b.variant for b in bundles], dtype=np.intp)
    size = np.array([len(b.levers) for b in bundles], dtype=np.intp)
    at = {(b.member, b.levers): k for k, b in enumerate(bundles)}
    parent = np.array([at[(b.member, b.levers[:-1])] if len(b.levers) > 1 else -1
                       for b in bundles], dtype=np.intp)
    valid = np.ones(len(bundles), dtype=bool)
    after = np.zeros((len(bundles), len(PILLARS)))
    one = size == 1
    where = np.where(one, variant, -1)
    levels, level_x, level_y = [variants.rows], features, scored
    after[one] = scored[variant[one]]
    for s in range(2, MAX_LEVERS + 1):
        ks = np.flatnonzero(size == s)
        if not len(ks):
            break
        start = where[parent[ks]]  # the row of each bundle's prefix in the previous level
        rows = levels[-1].take(start)
        last = np.array([bundles[k].levers[-1] for k in ks], dtype=np.intp)
        valid[ks] = valid[parent[ks]] & catalogue.engine.apply_in_place(rows, last)
        x = estimator.builder.features(rows)
        level_y = estimator.predict_sharing(x, start, known=(level_x, level_y))
        levels.append(rows)
        level_x = x
        where[ks] = np.arange(len(ks))
        after[ks] = level_y
    member = np.array([b.member for b in bundles], dtype=np.intp)
    return BundleScores(gain=after - base[member], valid=valid, levels=levels, where=where)


def valid_bundles_by_member(bundles: list[Bundle], scores: BundleScores) -> dict[int, list[int]]:
    """Indices of each member's bundles whose levers all applied, in bundle order."""
    by_member: dict[int, list[int]] = {}
    for k, b in enumerate(bundles):
        by_member.setdefault(b.member, []).append(k)
    return {i: [k for k in ks if scores.valid[k]] for i, ks in by_member.items()}


def best_in_budget(bundles: list[Bundle], scores: BundleScores, candidates: list[int],
                   budget: float) -> int | None:
    """The bundle with the most total gain within ``budget`` minutes a week (ties: less effort),
    or None when nothing in budget gains more than noise."""
    in_budget = [k for k in candidates if bundles[k].effort <= budget + 1e-9]
    if not in_budget:
        return None
    ranked = scores.ranked_total
    best = max(in_budget, key=lambda k: (ranked[k], -bundles[k].effort))
    return best if scores.total[best] > MIN_GAIN else None


def least_effort_to_target(bundles: list[Bundle], scores: BundleScores, candidates: list[int],
                           base_total: float, target: float) -> TargetSearch:
    """The least-effort bundle whose total reaches ``target`` (ties: the higher total)."""
    totals = {k: base_total + float(scores.total[k]) for k in candidates}
    reaching = [k for k in candidates if totals[k] >= target]
    best_total = max([base_total, *totals.values()])
    if base_total >= target:
        return TargetSearch(reachable=True, bundle=None, best_total=best_total)
    if reaching:
        k = min(reaching, key=lambda k: (bundles[k].effort, -totals[k]))
        return TargetSearch(reachable=True, bundle=k, best_total=best_total)
    return TargetSearch(reachable=False, bundle=None, best_total=best_total)
