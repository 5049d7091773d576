"""Companies published to the resolver (families and aliases from the CRM, issue 17)

Revision ID: 1710_crm_companies
Revises: 1610_deal_partners
Create Date: 2026-12-02 23:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1710_crm_companies"
down_revision: str | Sequence[str] | None = "1610_deal_partners"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_companies",
        sa.Column("crm_system", sa.String(length=20), nullable=False),
        sa.Column("company_id", sa.String(length=100), nullable=False),
        sa.Column("account_key", sa.String(length=300), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("crm_system", "company_id"),
    )


def downgrade() -> None:
    op.drop_table("crm_companies")
