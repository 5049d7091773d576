"""Co-sell partners as the resolver learns them (dealreg.cosell.accepted/declined): who is
involved in a sourced deal besides its holder, for attribution at closed-won (issue 16)

Revision ID: 1640_co_sell_partners
Revises: 1710_crm_companies
Create Date: 2026-12-02 23:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1640_co_sell_partners"
down_revision: str | Sequence[str] | None = "1710_crm_companies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "co_sell_partners",
        sa.Column("invitation_id", sa.String(length=36), nullable=False),
        sa.Column("registration_id", sa.String(length=36), nullable=False),
        sa.Column("partner_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("invitation_id"),
    )
    op.create_index("ix_co_sell_partners_registration", "co_sell_partners", ["registration_id"])


def downgrade() -> None:
    op.drop_index("ix_co_sell_partners_registration", table_name="co_sell_partners")
    op.drop_table("co_sell_partners")
