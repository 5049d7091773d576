"""Roles on an opportunity: a registration's role (sourced or influence) and co-sell
invitations

Revision ID: 1610_roles_and_co_sell
Revises: 1520
Create Date: 2026-12-02 23:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1610_roles_and_co_sell"
down_revision: str | Sequence[str] | None = "1520"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("registrations") as batch:
        batch.add_column(
            sa.Column("role", sa.String(length=10), nullable=False, server_default="sourced")
        )
    op.create_table(
        "co_sell_invitations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("registration_id", sa.String(length=36), nullable=False),
        sa.Column("holder_partner_id", sa.String(length=36), nullable=False),
        sa.Column("partner_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("invited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("correlation_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["registration_id"], ["registrations.id"]),
        sa.ForeignKeyConstraint(["holder_partner_id"], ["partners.id"]),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_co_sell_registration", "co_sell_invitations", ["registration_id", "invited_at"]
    )
    op.create_index("ix_co_sell_partner", "co_sell_invitations", ["partner_id", "invited_at"])


def downgrade() -> None:
    op.drop_index("ix_co_sell_partner", table_name="co_sell_invitations")
    op.drop_index("ix_co_sell_registration", table_name="co_sell_invitations")
    op.drop_table("co_sell_invitations")
    with op.batch_alter_table("registrations") as batch:
        batch.drop_column("role")
