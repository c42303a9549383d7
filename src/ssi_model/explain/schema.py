"""The explanation document: one per member, the same from the CLI (`ssi explain`) and the API.

Declared once here (pydantic), used as the API's response model, by the report renderer, and by
the tests. Every figure is an estimate from our model, never LinkedIn's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ssi_model.contract import CONTRACT, languages
from ssi_model.model.provenance import Provenance, TrainedOn, origin_fields

Pillar = Literal["brand", "people", "insights", "relationships"]
Target = Literal["total", "brand", "people", "insights", "relationships"]
PeerLevel = Literal["industry_role", "industry", "everyone"]
if TYPE_CHECKING:
    Lang = str
else:
    Lang = Literal[languages()]  # one per report catalogue folder


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelOrigin(_Doc):
    """What the model learnt from, as every ``model`` block says (explanations, API answers)."""

    trained_on: TrainedOn | None = Field(
        None, description="simulated (simulated members only), reported (reported scores only) "
                          "or prior+reported (a prior corrected by reported scores); null: not "
                          "recorded (a model saved before provenance was)")
    n_reported: int | None = Field(None, description="Reported (real) scores it was trained on")
    illustrative: bool = Field(
        False, description="True when trained on simulated members only: its figures are "
                           "illustrative until real reported scores are collected, and the "
                           "_lo/_hi bounds are not 90 % intervals for real members")
    interval_note: str | None = Field(None, description="What the intervals are, when they are "
                                                        "not 90 % intervals for real members")

    @staticmethod
    def fields_of(meta: Mapping[str, Any]) -> dict[str, Any]:
        """The origin fields of an estimator's ``meta`` (unknown for an older bundle)."""
        return origin_fields(Provenance.of_meta(meta))


class ModelInfo(ModelOrigin):
    name: str = Field(description="Registered model name, e.g. ssi-estimator")
    version: str | None = Field(None, description="Registry version, when known")
    run_id: str | None = None
    trained_at: str | None = Field(None, description="UTC timestamp of training (ISO 8601)")

    @classmethod
    def of(cls, meta: Mapping[str, Any], *, name: str, version: str | None = None) -> ModelInfo:
        """What explanations say about a model with this ``meta`` (an estimator's)."""
        return cls(name=name, version=version, run_id=meta.get("run_id"),
                   trained_at=meta.get("trained_at"), **ModelOrigin.fields_of(meta))


class Prediction(_Doc):
    """Estimated SSI and pillars with their 90 % intervals, and the industry rank estimate."""

    ssi_total: float
    ssi_total_lo: float
    ssi_total_hi: float
    ssi_brand: float
    ssi_brand_lo: float
    ssi_brand_hi: float
    ssi_people: float
    ssi_people_lo: float
    ssi_people_hi: float
    ssi_insights: float
    ssi_insights_lo: float
    ssi_insights_hi: float
    ssi_relationships: float
    ssi_relationships_lo: float
    ssi_relationships_hi: float
    industry_top_pct: float = Field(description="Estimated 'Top X %' within the industry")


class Peers(_Doc):
    """The comparison group: same industry and role family, else the industry, else everyone."""

    level: PeerLevel
    industry: str | None
    role_family: str | None
    n: int = Field(description="Members of this group in the training population")
    pillar_means: dict[Pillar, float] = Field(description="Mean reported pillar of the group")
    total_mean: float


class Driver(_Doc):
    """One contract column's share of the gap between the member's pillar and the peer profile."""

    column: str = Field(description="Contract column, e.g. comments_given_90d")
    contribution: float = Field(description="Points of the pillar (SHAP, against the peer "
                                            "profile); not a gain")
    value: float | bool | None = Field(description="The member's value (None = unknown)")
    peer_median: float | None = Field(description="Median of the peer group (None = unknown)")


class PillarDrivers(_Doc):
    estimate: float = Field(description="The member's estimated pillar")
    peer_estimate: float = Field(description="The model's estimate for the peers' median profile")
    up: list[Driver] = Field(description="Columns that lift the pillar above the peer profile, "
                                         "largest first")
    down: list[Driver] = Field(description="Columns that hold it below, largest first")


class Gain(_Doc):
    """Estimated points gained: the model's prediction after the change minus before."""

    brand: float
    people: float
    insights: float
    relationships: float
    total: float


class Lever(_Doc):
    id: str = Field(description="Catalogue id, e.g. post_weekly")
    pillar: Pillar = Field(description="The pillar the lever targets first")
    pillars: list[Pillar] = Field(description="Every pillar the catalogue says it targets")
    changes: dict[str, bool | int | float] = Field(
        description="Contract column -> the new absolute value (re-score the changed profile "
                    "with these)")
    gain: Gain
    effort_minutes_per_week: float = Field(description="Weekly time; a one-off action is spread "
                                                       "over the 13-week window")
    one_off: bool = Field(description="True for a one-time change (add a banner), false for a "
                                      "habit (post weekly)")
    text: str = Field(description="What to do, in the requested language")


class Plan(_Doc):
    levers: list[str] = Field(description="Ids of at most three levers, best first")
    changes: dict[str, bool | int | float]
    gain: Gain = Field(description="Gain of the bundle, re-scored jointly (not a sum)")
    effort_minutes_per_week: float
    budget_minutes: float | None = Field(description="Weekly time budget the plan respects")
    total_after: float = Field(description="Estimated total after the plan")


class TargetPlan(_Doc):
    target: float
    reachable: bool
    plan: Plan | None = Field(description="Least-effort plan of ≤3 levers reaching the target, "
                                          "or None")
    best_total: float = Field(description="Highest total any catalogue plan reaches")


class Tip(_Doc):
    id: str
    pillar: Pillar
    text: str = Field(description="Coaching advice the model cannot measure (no modelled gain)")


class Explanation(_Doc):
    member_id: str
    model: ModelInfo
    lang: Lang = "en"
    context: dict[str, str | None] = Field(
        description=f"{', '.join(CONTRACT.context_categories)} (None = unknown)")
    prediction: Prediction
    peers: Peers
    unknown: list[str] = Field(description="Contract input columns unknown for this member")
    drivers: dict[Pillar, PillarDrivers]
    levers: list[Lever] = Field(description="Applicable levers with a positive estimated gain, "
                                            "by estimated total gain, largest first")
    plan: Plan | None
    target: TargetPlan | None = None
    tips: list[Tip]
    caveat: str = Field(description="All figures are estimates from a model, not LinkedIn's")
