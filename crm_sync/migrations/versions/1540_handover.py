"""A protection transfer hands a mirrored deal's CRM opportunity to another registration

Revision ID: 1540
Revises: 1301
Create Date: 2026-12-02 18:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1540"
down_revision: str | Sequence[str] | None = "1301"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mirrored_deals") as batch:
        batch.add_column(sa.Column("handed_over_to", sa.String(length=36), nullable=True))
        batch.create_index("ix_mirrored_deals_handed_over_to", ["handed_over_to"])


def downgrade() -> None:
    with op.batch_alter_table("mirrored_deals") as batch:
        batch.drop_index("ix_mirrored_deals_handed_over_to")
        batch.drop_column("handed_over_to")
