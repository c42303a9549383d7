"""Where an experiment's rows come from: a contract file, or the simulation its config names.

The one module outside evaluation code that may call the simulator (see the ``protected``
contract in pyproject.toml): the default experiment trains on a simulated cohort because no real
labelled data ship with the project. Everything downstream sees validated contract rows only.
"""

from __future__ import annotations

from pathlib import Path

from ssi_model.model.config import ExperimentConfig, SimulateSource
from ssi_model.validation import ValidationResult, validate, validate_file


def load_training_data(config: ExperimentConfig, data: Path | None) -> tuple[ValidationResult,
                                                                              str]:
    """Validated rows and a description of their source (logged as the run's ``data_source``):
    the file ``data`` if given, else the cohort the config's ``data.simulate`` describes."""
    if data is not None:
        return validate_file(data), str(data)
    return simulated_rows(config.data.simulate)


def simulated_rows(sim: SimulateSource) -> tuple[ValidationResult, str]:
    """The simulated cohort ``sim`` describes (with the simulator's truth columns), validated,
    and its source string (``simulated:<calibration>:n=<n>:seed=<seed>``)."""
    from ssi_model.simulator import simulate_cohort

    cohort = simulate_cohort(sim.n, sim.seed, calibration=sim.calibration, with_truth=True)
    return validate(cohort), f"simulated:{sim.calibration}:n={sim.n}:seed={sim.seed}"
