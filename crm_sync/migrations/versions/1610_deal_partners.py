"""The partners on deals besides their sourced holder (co-sell and influence)

Revision ID: 1610_deal_partners
Revises: 1540
Create Date: 2026-12-02 23:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1610_deal_partners"
down_revision: str | Sequence[str] | None = "1540"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deal_partners",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("registration_id", sa.String(length=36), nullable=True),
        sa.Column("account_key", sa.String(length=300), nullable=False),
        sa.Column("product_line", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.String(length=36), nullable=False),
        sa.Column("partner_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_deal_partners_registration_id"), "deal_partners", ["registration_id"])
    op.create_index(
        "ix_deal_partners_account_line", "deal_partners", ["account_key", "product_line"]
    )


def downgrade() -> None:
    op.drop_index("ix_deal_partners_account_line", table_name="deal_partners")
    op.drop_index(op.f("ix_deal_partners_registration_id"), table_name="deal_partners")
    op.drop_table("deal_partners")
