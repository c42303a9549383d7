"""Request and response schemas of the prediction API.

The profile schema is generated from the one contract declaration (``contract.yaml``): one
optional field per input column (``member_id`` is required), ints with their bounds, booleans,
categories as literals, dates; unknown fields are refused, and every cross-column rule of the
contract (``accepted <= sent``) is checked with the failing field's path. The ranges and the
cross-column rules are the contract's own evaluator (:meth:`Contract.check_row`): the types here
are strict JSON types, the rules are not restated. Labels are not inputs,
so a profile carrying ``ssi_total`` is refused as an unknown field.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    create_model,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ssi_model.contract import CONTRACT, Column, Contract, languages
from ssi_model.explain.schema import Explanation, ModelOrigin
from ssi_model.model.estimator import PREDICTION_COLUMNS
from ssi_model.model.provenance import TrainedOn

MAX_PROFILES = 1000
"""Profiles per /v1/predict request; more is refused with 413."""

MAX_EXPLAIN_PROFILES = 100
"""Profiles per /v1/explain request (each costs SHAP values and lever re-scoring); more: 413."""

MEMBER_ID_MAX_CHARS = 128
if TYPE_CHECKING:
    Lang = str
else:
    Lang = Literal[languages()]  # the report's catalogues: one folder per language


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- the profile, generated from the contract ------------------------------------------------------


def _describe(col: Column) -> str:
    parts = [col.description] if col.description else []
    for which, word in (("min", "at least"), ("max", "at most")):
        other = col.column_bound(which)  # type: ignore[arg-type]
        if other is not None:
            parts.append(f"{word} {other} (cross-column rule)")
    parts.append("required" if col.name == "member_id" else "null or absent: unknown")
    return "; ".join(parts)


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    """Only an ISO 8601 day (``2026-01-31``) is a date: no timestamps, numbers or datetimes."""
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise PydanticCustomError("date_type", "Input should be a date in the format YYYY-MM-DD")


def _bounds_schema(col: Column, json_type: str) -> WithJsonSchema:
    """The OpenAPI schema of a number column, with the contract's bounds (documentation only:
    the contract's evaluator enforces them, see :func:`_check_rules`)."""
    schema: dict[str, Any] = {"type": json_type}
    for which, key in (("min", "minimum"), ("max", "maximum")):
        bound = col.numeric_bound(which)  # type: ignore[arg-type]
        if bound is not None:
            schema[key] = int(bound) if json_type == "integer" else bound
    return WithJsonSchema(schema)


def _field_type(col: Column) -> Any:
    """The pydantic type of one contract column (strict: JSON numbers, booleans, strings)."""
    if col.kind == "int":
        return Annotated[int, Field(strict=True), _bounds_schema(col, "integer")]
    if col.kind == "float":
        return Annotated[float, Field(allow_inf_nan=False), _bounds_schema(col, "number")]
    if col.kind == "bool":
        return Annotated[bool, Field(strict=True)]
    if col.kind == "category":
        return Literal[col.values]
    if col.kind == "date":
        return Annotated[dt.date, BeforeValidator(_iso_date)]
    if col.name == "member_id":
        # Pseudonymous: no e-mail address (the contract's rule for this column).
        return Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                max_length=MEMBER_ID_MAX_CHARS,
                                                pattern=r"^[^@]+$")]
    return Annotated[str, StringConstraints(max_length=1000)]


def _check_rules(contract: Contract) -> Any:
    """The contract's ranges and cross-column rules on a typed profile, each broken rule a 422
    problem on its column's path with the rule's name as its type."""

    def check(self: BaseModel) -> BaseModel:
        violations = contract.check_row(self.__dict__)
        if violations:
            raise ValidationError.from_exception_data("Profile", [
                InitErrorDetails(
                    type=PydanticCustomError(v.rule, "{message}: rule {rule}",
                                             {"column": v.column, "rule": v.expression,
                                              "message": v.message}),
                    loc=(v.column,), input=v.value)
                for v in violations])
        return self

    return model_validator(mode="after")(check)


def build_profile_model(contract: Contract = CONTRACT) -> type[BaseModel]:
    """The pydantic model of one profile: the contract's input columns, nothing else."""
    names = contract.input_columns
    fields: dict[str, Any] = {}
    for name in names:
        col = contract[name]
        typ = _field_type(col)
        if col.name == "member_id":
            fields[name] = (typ, Field(description=_describe(col),
                                       examples=["member-0001"]))
        else:
            fields[name] = (typ | None, Field(None, description=_describe(col)))
    validators: dict[str, Any] = {"contract_rules": _check_rules(contract)}
    return create_model(
        "Profile",
        __config__=ConfigDict(extra="forbid", title="Profile"),
        __doc__="One member's profile snapshot: the contract's input columns (contract "
                f"version {contract.version}). A missing or null column is unknown.",
        __validators__=validators,
        **fields,
    )


if TYPE_CHECKING:

    class Profile(BaseModel):
        member_id: str

        def __getattr__(self, name: str) -> Any: ...

    class PredictionRow(BaseModel):
        member_id: str

        def __getattr__(self, name: str) -> Any: ...

else:
    Profile = build_profile_model()

    PredictionRow = create_model(
        "PredictionRow",
        __config__=ConfigDict(extra="forbid", title="PredictionRow"),
        __doc__="Estimated SSI total and pillars with their 90 % intervals (_lo, _hi), and the "
                "estimated 'Top X %' within the member's industry. All figures are estimates.",
        member_id=(str, ...),
        **{c: (float, ...) for c in PREDICTION_COLUMNS if c != "member_id"},
    )


# -- requests --------------------------------------------------------------------------------------


class PredictRequest(_Schema):
    profiles: list[Profile] = Field(
        min_length=1, max_length=MAX_PROFILES,
        description=f"1 to {MAX_PROFILES} profiles; more is refused with 413")


class ExplainOptions(_Schema):
    budget_minutes: float | None = Field(
        None, ge=0, le=7 * 24 * 60, allow_inf_nan=False,
        description="Weekly time budget for the plan, in minutes (default: the catalogue's)")
    target: float | None = Field(
        None, ge=0, le=CONTRACT.total_max, allow_inf_nan=False,
        description="A total SSI to reach: adds the least-effort plan that reaches it")
    lang: Lang = Field("en", description="Language of the lever texts")


class ExplainRequest(ExplainOptions):
    profiles: list[Profile] = Field(
        min_length=1, max_length=MAX_EXPLAIN_PROFILES,
        description=f"1 to {MAX_EXPLAIN_PROFILES} profiles; more is refused with 413")


# -- responses -------------------------------------------------------------------------------------


class ModelRef(ModelOrigin):
    """The served model, and what it learnt from (``illustrative``: simulated members only)."""

    name: str
    version: str
    alias: str


class PredictResponse(_Schema):
    model: ModelRef
    predictions: list[PredictionRow]


class ExplainResponse(_Schema):
    model: ModelRef
    explanations: list[Explanation]


class LoadError(_Schema):
    version: str | None = Field(description="The version that failed to load, if known")
    message: str
    at: dt.datetime


class ProvenanceRecord(_Schema):
    """Everything the served model records about its training data."""

    trained_on: TrainedOn
    n_rows: int = Field(description="Training rows")
    n_reported: int = Field(description="Of those, rows with real reported scores")
    n_simulated: int = Field(description="Of those, simulated members")
    data_fingerprint: str = Field(description="SHA-256 of the validated rows")
    data_source: str = Field(description="The file, store or simulation the rows came from")
    prior: dict[str, Any] | None = Field(description="The model the reported scores corrected")


class ModelStatus(ModelOrigin):
    """What is served, how the last look at the registry went, and what the model learnt from
    (``trained_on`` … ``interval_note``: null/false when nothing is served or not recorded)."""

    name: str = Field(description="Registered model name")
    alias: str
    status: Literal["serving", "no_model"]
    version: str | None = Field(description="The version being served")
    run_id: str | None
    trained_at: str | None
    holdout_metrics: dict[str, float]
    loaded_at: dt.datetime | None
    alias_version: str | None = Field(
        description="Where the alias pointed at the last check (null: no such alias)")
    last_checked_at: dt.datetime | None
    reload_seconds: float
    last_error: LoadError | None = Field(
        description="Why the newest champion is not served (it failed to load), or null")
    reason: str | None = Field(description="Why nothing is served, when nothing is")
    provenance: ProvenanceRecord | None = Field(
        None, description="The served model's training data (null: nothing served, or a model "
                          "saved before provenance was recorded)")


class Health(_Schema):
    status: Literal["ok"]


class Ready(_Schema):
    status: Literal["ready"]
    model: ModelRef


class NotReady(_Schema):
    status: Literal["not_ready"]
    reason: str


class ExportResponse(_Schema):
    row: Profile = Field(description="The contract row read from the archive (counts only)")
    unknown: list[str] = Field(description="Input columns the export could not supply")
    from_archive: list[str]
    derived: dict[str, str] = Field(description="Columns derived by rules, and how")
    warnings: list[str]
    archive_kind: Literal["basic", "complete"]
    export_date: dt.date
    window_start: dt.date
    window_end: dt.date
    model: ModelRef
    prediction: PredictionRow


class Problem(_Schema):
    """An error a client can act on."""

    detail: str


class FieldProblem(BaseModel):
    loc: list[str | int] = Field(description="Path of the offending field, e.g. "
                                             "['body', 'profiles', 0, 'posts_90d']")
    msg: str
    type: str = Field(description="The rule broken, e.g. less_than_equal, extra_forbidden, "
                                  "cross_column_rule")
    ctx: dict[str, Any] | None = None


class ValidationProblem(_Schema):
    detail: list[FieldProblem]
