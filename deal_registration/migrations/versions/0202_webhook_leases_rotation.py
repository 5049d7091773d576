"""webhook delivery leases, secret rotation with overlap, secrets encrypted at rest

Revision ID: 0202
Revises: 0201
Create Date: 2026-12-02 10:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0202"
down_revision: str | Sequence[str] | None = "0201"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_webhook_deliveries_leased", ["partner_id", "leased_until"])
    with op.batch_alter_table("partner_webhooks") as batch:
        # An encrypted secret is longer than the plain `whsec_...` it wraps.
        batch.alter_column(
            "secret", existing_type=sa.String(length=100), type_=sa.String(length=400)
        )
        batch.add_column(sa.Column("previous_secret", sa.String(length=400), nullable=True))
        batch.add_column(
            sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("partner_webhooks") as batch:
        batch.drop_column("previous_secret_until")
        batch.drop_column("previous_secret")
        batch.alter_column(
            "secret", existing_type=sa.String(length=400), type_=sa.String(length=100)
        )
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_index("ix_webhook_deliveries_leased")
        batch.drop_column("leased_until")
