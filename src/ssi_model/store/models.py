"""The snapshot store's tables (SQLAlchemy 2 typed ORM).

What is kept, and only this: coaches (a name and the SHA-256 of their API key), members (the
pseudonymous ``member_id`` and the owning coach), snapshots (the validated contract row as a JSON
document of plain values, with its key columns, the reported figures' ``source``, the member's
consent and the receipt time), quarantined submissions (the contract cells as sent and every
reason) and issued explanations (the document, the model's name and version, the snapshot it
explains). The contract has no names, e-mail addresses, URLs or message text, and columns outside
the contract are never stored.

Every table that holds member data carries ``member_id`` itself (indexed), so an erasure is one
``DELETE ... WHERE member_id = ?`` per table and a test can check every table for leftovers.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Explicit constraint names, so Alembic can alter them on SQLite (batch mode) and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MEMBER_ID_LENGTH = 200
CONSENT_SCOPES = ("coaching", "training")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[str]: JSON}


class CoachRow(Base):
    __tablename__ = "coaches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # SHA-256 hex of the key; the key itself is shown once and never stored (see keys.py).
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class MemberRow(Base):
    __tablename__ = "members"

    member_id: Mapped[str] = mapped_column(String(MEMBER_ID_LENGTH), primary_key=True)
    # NULL: created by the administrator's key; only the administrator sees it.
    coach_id: Mapped[int | None] = mapped_column(ForeignKey("coaches.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SnapshotRow(Base):
    __tablename__ = "snapshots"
    # The idempotency key: a retried request can never create a second row.
    __table_args__ = (UniqueConstraint("member_id", "snapshot_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[str] = mapped_column(
        ForeignKey("members.member_id", ondelete="CASCADE"), index=True)
    snapshot_date: Mapped[date] = mapped_column(Date)
    # The contract row as validated, plain JSON values, unknown cells left out.
    row: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(String(20))
    labelled: Mapped[bool] = mapped_column(Boolean, index=True)
    consent: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("coaches.id"))


class QuarantinedRow(Base):
    __tablename__ = "quarantined_submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # As sent (may be empty or too long to be a valid id, hence no foreign key).
    member_id: Mapped[str | None] = mapped_column(String(MEMBER_ID_LENGTH), index=True)
    coach_id: Mapped[int | None] = mapped_column(ForeignKey("coaches.id"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ExplanationRow(Base):
    __tablename__ = "issued_explanations"
    __table_args__ = (Index("ix_issued_explanations_snapshot", "snapshot_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[str] = mapped_column(
        ForeignKey("members.member_id", ondelete="CASCADE"), index=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id", ondelete="CASCADE"))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(50))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


MEMBER_TABLES: tuple[type[Base], ...] = (ExplanationRow, SnapshotRow, QuarantinedRow, MemberRow)
"""Every table holding member data, in the order an erasure deletes from them."""
