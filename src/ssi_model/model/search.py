"""Hyperparameter search by grouped cross-validation (Optuna's TPE sampler), one pillar at a time.

Few reported scores need other settings than 20,000 simulated ones (smaller trees, more
regularisation, a slower learning rate), and which ones depends on the data actually given. The
search proposes ``trials`` parameter sets inside the configured ``space``; each is scored by the
same grouped K-fold cross-validation as the configured settings (``model.train``), and the lowest
CV MAE wins. With a prior, whether to start from it is one more choice of the search. The sampler
is seeded and trials run one after another, so the same data, config and seed choose the same
settings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import optuna

from ssi_model.model.config import SearchConfig

if TYPE_CHECKING:
    from ssi_model.model.train import _Candidate


def search(configured: Sequence[_Candidate], config: SearchConfig, *, seed: int,
           evaluate: Callable[[_Candidate], float]) -> None:
    """Run ``config.trials`` proposals through ``evaluate`` (which records each one's CV).

    A proposal takes one configured candidate (scratch, or the prior with one of its shrinks) and
    overrides the searched parameters.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    starts = {c.label: c for c in configured}
    study = optuna.create_study(direction="minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed))

    def objective(trial: optuna.Trial) -> float:
        base = starts[trial.suggest_categorical("start", sorted(starts))]
        params: dict[str, Any] = dict(base.params)
        for name, r in config.space.items():
            if r.integer:
                params[name] = trial.suggest_int(name, int(r.low), int(r.high), log=r.log)
            else:
                params[name] = trial.suggest_float(name, r.low, r.high, log=r.log)
        return evaluate(replace(base, label=f"trial {trial.number}", params=params))

    study.optimize(objective, n_trials=config.trials)
