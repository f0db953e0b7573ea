"""checks: shadow markings (a person's input for the sun check)

Revision ID: checks_0002
Revises: checks_0001
Create Date: 2026-12-01 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "checks_0002"
down_revision: str | Sequence[str] | None = "checks_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shadow_markings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=False),
        sa.Column("object_line", sa.JSON(), nullable=False),
        sa.Column("shadow_line", sa.JSON(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("place_basis", sa.String(length=64), nullable=False),
        sa.Column("claimed_utc", sa.String(length=40), nullable=False),
        sa.Column("time_basis", sa.String(length=64), nullable=False),
        sa.Column("tolerance", sa.Float(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["evidence_sha256"], ["evidence.sha256"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("shadow_markings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shadow_markings_evidence_sha256"), ["evidence_sha256"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("shadow_markings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shadow_markings_evidence_sha256"))
    op.drop_table("shadow_markings")
