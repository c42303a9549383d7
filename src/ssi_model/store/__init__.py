"""The snapshot store: members over time, per coach, with consent (SQLite or PostgreSQL).

The API is :class:`SnapshotStore` in ``repository.py`` (its docstring states the rules);
``db.py`` opens and migrates the database from ``SSI_DATABASE_URL``; ``models.py`` declares the
tables; ``keys.py`` makes and hashes coaches' API keys; ``cli.py`` holds ``ssi coach`` and
``ssi store``; ``training.py`` trains from the store; ``explained.py`` explains each member's
latest snapshot (for reports, issued plans and the API's pages) and finds the last plan issued;
``advice.py`` exports issued plans and follows them up.

The names below are imported from ``repository`` on first use (PEP 562), so that ``ssi --help``,
which loads ``store.cli``, does not pay for pandas and SQLAlchemy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ssi_model.store.repository import (
        ADMIN,
        Coach,
        CoachExists,
        CoachInfo,
        CoachNotFound,
        CohortEntry,
        Conflict,
        Consent,
        Erasure,
        IssuedExplanation,
        MemberNotFound,
        QuarantinedSubmission,
        RowRefusal,
        SnapshotNotFound,
        SnapshotStore,
        StoredSnapshot,
        StoreError,
        SubmitResult,
        snapshots_frame,
    )

__all__ = [
    "ADMIN",
    "Coach",
    "CoachExists",
    "CoachInfo",
    "CoachNotFound",
    "CohortEntry",
    "Conflict",
    "Consent",
    "Erasure",
    "IssuedExplanation",
    "MemberNotFound",
    "QuarantinedSubmission",
    "RowRefusal",
    "SnapshotNotFound",
    "SnapshotStore",
    "StoreError",
    "StoredSnapshot",
    "SubmitResult",
    "snapshots_frame",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module("ssi_model.store.repository"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
