"""A registration's appeal (once), the fields a reviewer returned it for edit, and how many
extensions the policy still allows it

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
    with op.batch_alter_table("registrations") as batch:
        batch.add_column(sa.Column("appealed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("editable_fields", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("extensions_left", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registrations") as batch:
        batch.drop_column("extensions_left")
        batch.drop_column("editable_fields")
        batch.drop_column("appealed_at")
