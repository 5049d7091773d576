"""Influence claims: decided apart from the rules of engagement, never in ``claims``

Revision ID: 1610_influence_claims
Revises: 1530
Create Date: 2026-12-02 23:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1610_influence_claims"
down_revision: str | Sequence[str] | None = "1530"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "influence_claims",
        sa.Column("registration_id", sa.String(length=36), nullable=False),
        sa.Column("partner_id", sa.String(length=36), nullable=False),
        sa.Column("account_key", sa.String(length=300), nullable=False),
        sa.Column("product_line", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason_code", sa.String(length=40), nullable=False),
        sa.Column("policy_version", sa.BigInteger(), nullable=False),
        sa.Column("submitted", sa.JSON(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("correlation_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("registration_id"),
    )
    op.create_index(
        "ix_influence_claims_account_line", "influence_claims", ["account_key", "product_line"]
    )


def downgrade() -> None:
    op.drop_index("ix_influence_claims_account_line", table_name="influence_claims")
    op.drop_table("influence_claims")
