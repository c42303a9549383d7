"""What a model learnt from: simulated members only, reported scores only, or a prior plus N
reported scores, with the fingerprint and source of its training rows.

A model trained on the simulator alone fits our simulator, not LinkedIn: measured on members
from another world it is several times the noise floor off and its "90 %" intervals cover far
fewer members. So every model carries its provenance (``estimator.meta["provenance"]``, saved in
the bundle), and every output that shows its figures says what it learnt from; a simulated-only
model's figures and ranges are illustrative. Bundles saved before provenance was recorded load
as ``None`` (unknown). Which rows count as reported is decided where the data are read
(``tracking.data``); the wording for coaches is the report layer's (it is translated).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

TrainedOn = Literal["simulated", "reported", "prior+reported"]
TRAINED_ON: tuple[str, ...] = get_args(TrainedOn)
META_KEY = "provenance"
ILLUSTRATIVE_NOTE = ("illustrative range: the model was trained on simulated members only, so "
                     "the _lo/_hi bounds are not 90 % intervals for real members until it is "
                     "retrained on reported scores")
"""What the API says beside the interval fields of a simulated-only model (JSON stays English)."""


@dataclass(frozen=True)
class Provenance:
    """What one trained model learnt from.

    ``n_rows``: training rows; ``n_reported``: of those, rows whose reported scores are real;
    ``n_simulated``: rows from the simulator. ``data_fingerprint`` and ``data_source``: of the
    validated rows (training and holdout), as the run logs them. ``prior``: the model the reported
    scores corrected (e.g. ``{"source": "simulated:linkedin:n=20000:seed=0", "n": 20000}``), or
    None.
    """

    trained_on: TrainedOn
    n_rows: int
    n_reported: int
    n_simulated: int
    data_fingerprint: str
    data_source: str
    prior: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.trained_on not in TRAINED_ON:
            raise ValueError(f"trained_on {self.trained_on!r}: expected one of {TRAINED_ON}")

    @classmethod
    def of_rows(cls, *, n_reported: int, n_simulated: int, data_fingerprint: str,
                data_source: str, prior: Mapping[str, Any] | None = None) -> Provenance:
        """The provenance of a fit on these counts: no reported row makes it simulated, whatever
        the prior; reported rows on top of a prior make it ``prior+reported``."""
        trained_on: TrainedOn = ("simulated" if n_reported == 0
                                 else "prior+reported" if prior else "reported")
        return cls(trained_on=trained_on, n_rows=n_reported + n_simulated, n_reported=n_reported,
                   n_simulated=n_simulated, data_fingerprint=data_fingerprint,
                   data_source=data_source, prior=dict(prior) if prior else None)

    @property
    def illustrative(self) -> bool:
        """True when the model learnt from simulated members only: its figures illustrate, and
        its intervals are not calibrated on real members."""
        return self.trained_on == "simulated"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Provenance:
        prior = raw.get("prior")
        return cls(trained_on=raw["trained_on"], n_rows=int(raw["n_rows"]),
                   n_reported=int(raw["n_reported"]), n_simulated=int(raw["n_simulated"]),
                   data_fingerprint=str(raw["data_fingerprint"]),
                   data_source=str(raw["data_source"]),
                   prior=dict(prior) if prior else None)

    @classmethod
    def of_meta(cls, meta: Mapping[str, Any]) -> Provenance | None:
        """The provenance an estimator's ``meta`` carries; None for a bundle saved before
        provenance was recorded."""
        raw = meta.get(META_KEY)
        return cls.from_dict(raw) if raw else None

    def tags(self) -> dict[str, str]:
        """The run's and the registry version's tags (what the promotion gate reads)."""
        return {"trained_on": self.trained_on, "n_reported": str(self.n_reported)}


def origin_fields(provenance: Provenance | None) -> dict[str, Any]:
    """The provenance fields every served answer's ``model`` block carries: ``trained_on`` and
    ``n_reported`` (None: unknown), ``illustrative`` and, for a simulated-only model, the
    ``interval_note`` that its intervals are not 90 % intervals for real members."""
    if provenance is None:
        return {"trained_on": None, "n_reported": None, "illustrative": False,
                "interval_note": None}
    return {"trained_on": provenance.trained_on, "n_reported": provenance.n_reported,
            "illustrative": provenance.illustrative,
            "interval_note": ILLUSTRATIVE_NOTE if provenance.illustrative else None}
