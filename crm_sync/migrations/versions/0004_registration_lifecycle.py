"""registration lifecycle notes (withdrawal or expiry seen before the approval)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registration_lifecycle",
        sa.Column("registration_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("protection_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("registration_id"),
    )


def downgrade() -> None:
    op.drop_table("registration_lifecycle")
