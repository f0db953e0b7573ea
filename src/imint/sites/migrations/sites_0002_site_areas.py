"""site areas of interest

Revision ID: sites_0002
Revises: sites_0001
Create Date: 2026-12-01 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "sites_0002"
down_revision: str | Sequence[str] | None = "sites_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_areas",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("site_id", "name"),
    )
    with op.batch_alter_table("site_areas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_site_areas_site_id"), ["site_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("site_areas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_site_areas_site_id"))
    op.drop_table("site_areas")
