"""The first snapshot store: coaches, members, snapshots and quarantined submissions.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coaches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_coaches"),
        sa.UniqueConstraint("name", name="uq_coaches_name"),
        sa.UniqueConstraint("key_hash", name="uq_coaches_key_hash"),
    )
    op.create_table(
        "members",
        sa.Column("member_id", sa.String(200), nullable=False),
        sa.Column("coach_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["coach_id"], ["coaches.id"],
                                name="fk_members_coach_id_coaches"),
        sa.PrimaryKeyConstraint("member_id", name="pk_members"),
    )
    op.create_index("ix_members_coach_id", "members", ["coach_id"])
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.String(200), nullable=False),
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("row", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(20), nullable=True),
        sa.Column("consent", sa.String(20), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["members.member_id"], ondelete="CASCADE",
                                name="fk_snapshots_member_id_members"),
        sa.ForeignKeyConstraint(["submitted_by"], ["coaches.id"],
                                name="fk_snapshots_submitted_by_coaches"),
        sa.PrimaryKeyConstraint("id", name="pk_snapshots"),
        sa.UniqueConstraint("member_id", "snapshot_date",
                            name="uq_snapshots_member_id_snapshot_date"),
    )
    op.create_index("ix_snapshots_member_id", "snapshots", ["member_id"])
    op.create_table(
        "quarantined_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.String(200), nullable=True),
        sa.Column("coach_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["coach_id"], ["coaches.id"],
                                name="fk_quarantined_submissions_coach_id_coaches"),
        sa.PrimaryKeyConstraint("id", name="pk_quarantined_submissions"),
    )
    op.create_index("ix_quarantined_submissions_member_id", "quarantined_submissions",
                    ["member_id"])
    op.create_index("ix_quarantined_submissions_coach_id", "quarantined_submissions",
                    ["coach_id"])


def downgrade() -> None:
    op.drop_table("quarantined_submissions")
    op.drop_table("snapshots")
    op.drop_table("members")
    op.drop_table("coaches")
