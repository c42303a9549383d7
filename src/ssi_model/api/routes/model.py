"""What is served: registered name, version, alias, training run and date, holdout metrics, what
the model learnt from, and how the last look at the registry went (a newest champion that failed
to load is reported)."""

from __future__ import annotations

from fastapi import APIRouter

from ssi_model.api.deps import HolderDep
from ssi_model.api.schemas import LoadError, ModelStatus, ProvenanceRecord
from ssi_model.model.provenance import origin_fields

router = APIRouter(tags=["model"])


@router.get("/model", response_model=ModelStatus, summary="The served model and its load status")
async def model_status(holder: HolderDep) -> ModelStatus:
    served, view = holder.current, holder.view
    error = view.last_error
    provenance = served.provenance if served else None
    return ModelStatus(
        name=holder.name,
        alias=holder.alias,
        status="serving" if served is not None else "no_model",
        version=served.version if served else None,
        run_id=served.run_id if served else None,
        trained_at=served.trained_at if served else None,
        holdout_metrics=dict(served.holdout_metrics) if served else {},
        loaded_at=served.loaded_at if served else None,
        alias_version=view.alias_version,
        last_checked_at=view.checked_at,
        reload_seconds=holder.reload_seconds,
        last_error=LoadError(version=error.version, message=error.message, at=error.at)
        if error else None,
        reason=view.reason if served is None else None,
        **origin_fields(provenance),
        provenance=ProvenanceRecord(**provenance.to_dict()) if provenance else None,
    )
