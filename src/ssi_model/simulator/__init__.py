"""Synthetic cohorts with realistic, correlated behaviour and user-reported SSI labels.

Because the simulator knows its own noiseless truth, it can say how good any prediction or lever
really is: ``structural_pillars`` is the formula, and ``simulate_cohort(..., with_truth=True)``
adds each member's true pillars and the best any model could predict. Calibrations are YAML data
in ``calibrations/``.
"""

from ssi_model.simulator.calibration import Calibration, list_calibrations, load_calibration
from ssi_model.simulator.cohort import (
    BEST_COLUMNS,
    DEFAULT_SNAPSHOT,
    FAULT_COLUMN,
    MEMBER_ID_PREFIX,
    TRUE_COLUMNS,
    calibration_summary,
    simulate_cohort,
)
from ssi_model.simulator.structural import structural_pillars

__all__ = [
    "BEST_COLUMNS",
    "DEFAULT_SNAPSHOT",
    "FAULT_COLUMN",
    "MEMBER_ID_PREFIX",
    "TRUE_COLUMNS",
    "Calibration",
    "calibration_summary",
    "list_calibrations",
    "load_calibration",
    "simulate_cohort",
    "structural_pillars",
]
