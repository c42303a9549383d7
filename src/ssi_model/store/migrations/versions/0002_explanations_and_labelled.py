"""Issued explanations, and a ``labelled`` flag on snapshots filled in from the stored rows.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PILLAR_LABELS = ("ssi_brand", "ssi_people", "ssi_insights", "ssi_relationships")


def upgrade() -> None:
    with op.batch_alter_table("snapshots") as batch:
        batch.add_column(sa.Column("labelled", sa.Boolean(), nullable=True))
    # Data migration: a row is labelled when all four reported pillars are known. Done in Python
    # over the JSON documents so it reads the same on SQLite and PostgreSQL.
    snapshots = sa.table("snapshots", sa.column("id", sa.Integer()),
                         sa.column("row", sa.JSON()), sa.column("labelled", sa.Boolean()))
    conn = op.get_bind()
    for snapshot_id, row in conn.execute(sa.select(snapshots.c.id, snapshots.c.row)).all():
        labelled = all(row.get(name) is not None for name in PILLAR_LABELS)
        conn.execute(snapshots.update().where(snapshots.c.id == snapshot_id)
                     .values(labelled=labelled))
    with op.batch_alter_table("snapshots") as batch:
        batch.alter_column("labelled", existing_type=sa.Boolean(), nullable=False)
        batch.create_index("ix_snapshots_labelled", ["labelled"])

    op.create_table(
        "issued_explanations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.String(200), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.member_id"], ondelete="CASCADE",
                                name="fk_issued_explanations_member_id_members"),
        sa.ForeignKeyConstraint(["snapshot_id"], ["snapshots.id"], ondelete="CASCADE",
                                name="fk_issued_explanations_snapshot_id_snapshots"),
        sa.PrimaryKeyConstraint("id", name="pk_issued_explanations"),
    )
    op.create_index("ix_issued_explanations_member_id", "issued_explanations", ["member_id"])
    op.create_index("ix_issued_explanations_snapshot", "issued_explanations", ["snapshot_id"])


def downgrade() -> None:
    op.drop_table("issued_explanations")
    with op.batch_alter_table("snapshots") as batch:
        batch.drop_index("ix_snapshots_labelled")
        batch.drop_column("labelled")
