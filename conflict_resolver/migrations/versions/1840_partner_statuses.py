"""Partners' standing as deal_registration publishes it (dealreg.principals): a suspended
partner may read its account overlap but not upload a list or opt in

Revision ID: 1840_partner_statuses
Revises: 1640_co_sell_partners
Create Date: 2026-12-03 02:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1840_partner_statuses"
down_revision: str | Sequence[str] | None = "1640_co_sell_partners"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partner_statuses",
        sa.Column("partner_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("partner_id"),
    )


def downgrade() -> None:
    op.drop_table("partner_statuses")
