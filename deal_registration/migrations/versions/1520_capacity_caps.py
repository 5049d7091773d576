"""The capacity caps of each published policy version (partners read their capacity)

Revision ID: 1520
Revises: 1510
Create Date: 2026-12-02 18:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1520"
down_revision: str | Sequence[str] | None = "1510"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "capacity_caps",
        sa.Column("policy_version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("caps", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("policy_version"),
    )


def downgrade() -> None:
    op.drop_table("capacity_caps")
