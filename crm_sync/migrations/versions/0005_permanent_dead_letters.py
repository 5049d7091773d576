"""CRM dead letters say whether the CRM refused the data (permanent) or was down

Rows written before this revision were outages as often as bad data: they are marked not
permanent, so crm_sync revives them once; a real data error comes back as a permanent one.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("crm_dead_letters") as batch:
        batch.add_column(
            sa.Column("permanent", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("crm_dead_letters") as batch:
        batch.drop_column("permanent")
