"""'Protection expires in N days' notices, each once per expiry

Revision ID: 1520
Revises: 1510
Create Date: 2026-12-02 17:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1520"
down_revision: str | Sequence[str] | None = "1510"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "expiry_notices",
        sa.Column("registration_id", sa.String(length=36), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notice_seconds", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("registration_id", "expires_at", "notice_seconds"),
    )


def downgrade() -> None:
    op.drop_table("expiry_notices")
