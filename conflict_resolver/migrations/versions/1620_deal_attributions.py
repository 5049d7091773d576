"""Deals credited at closed-won (DealAttributed as emitted), for the policy what-if

Revision ID: 1620_attributions
Revises: 1610_influence_claims
Create Date: 2026-12-02 23:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1620_attributions"
down_revision: str | Sequence[str] | None = "1610_influence_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deal_attributions",
        sa.Column("registration_id", sa.String(36), nullable=False),
        sa.Column("attributed", sa.JSON(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("registration_id"),
    )


def downgrade() -> None:
    op.drop_table("deal_attributions")
