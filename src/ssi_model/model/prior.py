"""A prior for the reported scores: pillar boosters whose predictions the labels then correct.

Real reported scores are scarce (a coach has tens to hundreds of clients), so training starts from
a prior: boosters fitted on a simulated cohort, or a registered model's boosters. Training then
continues boosting from the prior's trees (LightGBM's ``init_model``), so the corrected model is
again one booster per pillar, holding the prior's trees and the correction's; every scoring path
(the fast single-row path, Spark, the browser's what-if page) serves it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np

from ssi_model.contract import PILLARS
from ssi_model.errors import UserError


@dataclass(frozen=True)
class PriorModel:
    """The prior's boosters (one per pillar, on the same feature blocks) and where they came from.

    ``source``: how to make it again (``simulated:linkedin:n=20000:seed=1`` or a model URI);
    ``trained_on``: what the prior itself learnt from (``simulated`` for a simulated cohort; for a
    registered model, what that model's provenance says).
    """

    boosters: dict[str, lgb.Booster]
    source: str
    n_rows: int
    trained_on: str

    def rounds(self, pillar: str) -> int:
        return int(self.boosters[pillar].current_iteration())

    def rescaled(self, pillar: str, predicted: np.ndarray, observed: np.ndarray,
                 shrink: float) -> lgb.Booster:
        """The prior's booster refitted to the reported scores as ``a + shrink * k * prior``.

        ``k`` and ``a`` are the least-squares line of ``observed`` on the prior's ``predicted``
        (``k`` kept non-negative, ``a`` refitted after shrinking), so a prior that is off in level
        or scale is corrected by two numbers before any tree is added. ``shrink`` < 1 leaves room
        for the correction: its trees are monotone like the prior's (so the sum stays monotone),
        and they can only add, so a prior that overshoots somewhere must be scaled down first.
        The result is again a plain booster: every leaf of the copy is scaled and ``a`` added to
        the first tree's leaves (each row reaches exactly one leaf per tree).
        """
        k = float(np.polyfit(predicted, observed, 1)[0]) if len(observed) > 1 else 1.0
        k = max(k, 0.0) * shrink
        a = float(np.mean(observed - k * predicted))
        booster = lgb.Booster(model_str=self.boosters[pillar].model_to_string())
        for tree, leaves in enumerate(self._leaf_counts(pillar)):
            for leaf in range(leaves):
                value = k * booster.get_leaf_output(tree, leaf)
                booster.set_leaf_output(tree, leaf, value + (a if tree == 0 else 0.0))
        return booster

    def _leaf_counts(self, pillar: str) -> list[int]:
        cache: dict[str, list[int]] = self.__dict__.setdefault("_leaves", {})
        if pillar not in cache:
            info = self.boosters[pillar].dump_model()["tree_info"]
            cache[pillar] = [int(t["num_leaves"]) for t in info]
        return cache[pillar]

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "n": self.n_rows, "trained_on": self.trained_on}

    def check_blocks(self, blocks: dict[str, list[str]]) -> None:
        """The prior must read the same features in the same order as the model it starts."""
        for pillar in PILLARS:
            names = self.boosters[pillar].feature_name()
            if len(names) != len(blocks[pillar]):
                raise UserError(
                    f"prior {self.source}: its {pillar} booster reads {len(names)} features, this "
                    f"experiment's {pillar} block has {len(blocks[pillar])} (features.exclude "
                    "must match the prior's)")


def prior_from_boosters(boosters: dict[str, lgb.Booster], *, source: str, n_rows: int,
                        trained_on: str) -> PriorModel:
    """A prior from boosters already trained (a registered model's); copies, so training never
    touches the originals."""
    copies = {p: lgb.Booster(model_str=boosters[p].model_to_string()) for p in PILLARS}
    return PriorModel(boosters=copies, source=source, n_rows=n_rows, trained_on=trained_on)
