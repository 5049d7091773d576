"""a sweep requested on any instance reaches the one holding the reconciler's lease

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 11:25:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("crm_connector_state") as batch:
        batch.add_column(sa.Column("reconcile_requested_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("crm_connector_state") as batch:
        batch.drop_column("reconcile_requested_at")
