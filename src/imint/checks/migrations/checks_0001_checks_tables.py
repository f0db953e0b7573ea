"""checks tables

Revision ID: checks_0001
Revises: 0001_core
Create Date: 2026-12-01 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "checks_0001"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("checks",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "check_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=False),
        sa.Column("check", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("artifact", sa.Text(), nullable=True),
        sa.Column("method", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["evidence_sha256"], ["evidence.sha256"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("evidence_sha256", "check", name="uq_check_result"),
    )
    with op.batch_alter_table("check_results", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_check_results_evidence_sha256"), ["evidence_sha256"], unique=False
        )
    op.create_table(
        "image_hashes",
        sa.Column("evidence_sha256", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("hash_hex", sa.String(length=64), nullable=False),
        sa.Column("mirror_hex", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["evidence_sha256"], ["evidence.sha256"]),
        sa.PrimaryKeyConstraint("evidence_sha256", "method"),
    )


def downgrade() -> None:
    op.drop_table("image_hashes")
    with op.batch_alter_table("check_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_check_results_evidence_sha256"))
    op.drop_table("check_results")
