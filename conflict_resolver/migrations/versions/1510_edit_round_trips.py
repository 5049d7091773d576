"""How many times a claim was returned for edit (the policy caps the round trips)

Revision ID: 1510
Revises: 1301
Create Date: 2026-12-02 17:55:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1510"
down_revision: str | Sequence[str] | None = "1301"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("claims") as batch:
        batch.add_column(
            sa.Column("edit_round_trips", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("claims") as batch:
        batch.drop_column("edit_round_trips")
