"""Where an experiment's rows come from: a contract file, or the simulation its config names;
and whether their reported scores are real.

The one module outside evaluation code that may call the simulator (see the ``protected``
contract in pyproject.toml): the default experiment trains on a simulated cohort because no real
labelled data ship with the project. Everything downstream sees validated contract rows only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ssi_model.model.config import ExperimentConfig, SimulateSource
from ssi_model.model.provenance import Provenance
from ssi_model.simulator import MEMBER_ID_PREFIX
from ssi_model.validation import ValidationResult, validate, validate_file


def load_training_data(config: ExperimentConfig, data: Path | None) -> tuple[ValidationResult,
                                                                              str]:
    """Validated rows and a description of their source (logged as the run's ``data_source``):
    the file ``data`` if given, else the cohort the config's ``data.simulate`` describes.

    What the rows' reported scores are (``count_simulated`` counts them) follows one rule:

    - the config's ``data.simulate`` cohort is simulated: the simulator names its members
      ``sim-000001``…;
    - a file (``--data``, and ``--from-store``, which trains on the store's export) is reported,
      except the rows whose member_id has the simulator's prefix ``sim-``: a demo cohort written
      to a file or imported into the store keeps those ids, so a file of ``sim-`` ids only is
      simulated;
    - ``data.origin`` in the config (``ssi train --origin``) overrides the ids for every row:
      ``reported`` for real scores whose ids happen to start with ``sim-`` (or for a stand-in
      world in an experiment), ``simulated`` for simulated rows renamed.
    """
    if data is not None:
        return validate_file(data), str(data)
    return simulated_rows(config.data.simulate)


def simulated_rows(sim: SimulateSource) -> tuple[ValidationResult, str]:
    """The simulated cohort ``sim`` describes (with the simulator's truth columns), validated,
    and its source string (``simulated:<calibration>:n=<n>:seed=<seed>``)."""
    from ssi_model.simulator import simulate_cohort

    cohort = simulate_cohort(sim.n, sim.seed, calibration=sim.calibration, with_truth=True)
    return validate(cohort), f"simulated:{sim.calibration}:n={sim.n}:seed={sim.seed}"


def count_simulated(config: ExperimentConfig, rows: pd.DataFrame) -> int:
    """How many of ``rows`` are simulated members, by the rule of ``load_training_data``."""
    origin = config.data.origin
    if origin != "auto":
        return len(rows) if origin == "simulated" else 0
    return int(rows["member_id"].astype(str).str.startswith(MEMBER_ID_PREFIX).sum())


def training_provenance(config: ExperimentConfig, train: pd.DataFrame, *, fingerprint: str,
                        source: str, prior: Mapping[str, Any] | None = None) -> Provenance:
    """What a model fitted on ``train`` learnt from (``prior``: the model it corrected, if any)."""
    n_simulated = count_simulated(config, train)
    return Provenance.of_rows(n_reported=len(train) - n_simulated, n_simulated=n_simulated,
                              data_fingerprint=fingerprint, data_source=source, prior=prior)
