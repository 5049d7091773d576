"""Company records from the CRM (names, alias domains, former names, parent) and their
lookup keys: company families and aliases (issue 17)

Revision ID: 1710_crm_companies
Revises: 1630
Create Date: 2026-12-02 23:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1710_crm_companies"
down_revision: str | Sequence[str] | None = "1630"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_companies",
        sa.Column("crm_system", sa.String(length=20), nullable=False),
        sa.Column("company_id", sa.String(length=100), nullable=False),
        sa.Column("account_key", sa.String(length=300), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("domains", sa.JSON(), nullable=False),
        sa.Column("former_names", sa.JSON(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("parent_company_id", sa.String(length=100), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("crm_system", "company_id"),
    )
    op.create_index("ix_crm_companies_parent", "crm_companies", ["crm_system", "parent_company_id"])
    op.create_table(
        "crm_company_keys",
        sa.Column("lookup_key", sa.String(length=300), nullable=False),
        sa.Column("crm_system", sa.String(length=20), nullable=False),
        sa.Column("company_id", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("lookup_key", "crm_system", "company_id"),
    )


def downgrade() -> None:
    op.drop_table("crm_company_keys")
    op.drop_index("ix_crm_companies_parent", table_name="crm_companies")
    op.drop_table("crm_companies")
