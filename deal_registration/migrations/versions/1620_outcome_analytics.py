"""Partners' outcome figures: the analytics projection, attribution credits, exchange rates,
and when each history step was written (the export's cursor)

Revision ID: 1620_analytics
Revises: 1610_roles_and_co_sell
Create Date: 2026-12-02 23:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1620_analytics"
down_revision: str | Sequence[str] | None = "1610_roles_and_co_sell"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    # When a history step was written (its ``at`` is when it happened): the export's cursor.
    op.add_column("registration_history", sa.Column("recorded_at", _AT, nullable=True))
    op.create_table(
        "analytics_registrations",
        sa.Column("registration_id", sa.String(36), nullable=False),
        sa.Column("partner_id", sa.String(36), nullable=True),
        sa.Column("account_key", sa.String(300), nullable=True),
        sa.Column("customer_name", sa.String(200), nullable=True),
        sa.Column("product_line", sa.String(64), nullable=True),
        sa.Column("amount_value", sa.Numeric(18, 2), nullable=True),
        sa.Column("amount_currency", sa.String(3), nullable=True),
        sa.Column("submitted_at", _AT, nullable=True),
        sa.Column("approved_at", _AT, nullable=True),
        sa.Column("rejected_at", _AT, nullable=True),
        sa.Column("review_at", _AT, nullable=True),
        sa.Column("waitlisted", sa.Boolean(), nullable=False),
        sa.Column("protection_expires_at", _AT, nullable=True),
        sa.Column("won_at", _AT, nullable=True),
        sa.Column("lost_at", _AT, nullable=True),
        sa.Column("expired_at", _AT, nullable=True),
        sa.Column("withdrawn_at", _AT, nullable=True),
        sa.Column("left_waitlist_at", _AT, nullable=True),
        sa.Column("transferred_at", _AT, nullable=True),
        sa.Column("updated_at", _AT, nullable=False),
        sa.PrimaryKeyConstraint("registration_id"),
    )
    op.create_index(
        "ix_analytics_registrations_partner",
        "analytics_registrations",
        ["partner_id", "updated_at"],
    )
    op.create_index(
        "ix_analytics_registrations_account", "analytics_registrations", ["account_key"]
    )
    op.create_table(
        "analytics_credits",
        sa.Column("registration_id", sa.String(36), nullable=False),
        sa.Column("partner_id", sa.String(36), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("amount_value", sa.Numeric(18, 2), nullable=False),
        sa.Column("amount_currency", sa.String(3), nullable=False),
        sa.Column("share", sa.Numeric(9, 6), nullable=False),
        sa.Column("model", sa.String(20), nullable=False),
        sa.Column("attributed_at", _AT, nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.PrimaryKeyConstraint("registration_id", "partner_id", "role"),
    )
    op.create_index(
        "ix_analytics_credits_partner", "analytics_credits", ["partner_id", "updated_at"]
    )
    op.create_table(
        "exchange_rates",
        sa.Column("policy_version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("base_currency", sa.String(3), nullable=False),
        sa.Column("rates", sa.JSON(), nullable=False),
        sa.Column("published_at", _AT, nullable=False),
        sa.PrimaryKeyConstraint("policy_version"),
    )


def downgrade() -> None:
    op.drop_column("registration_history", "recorded_at")
    op.drop_table("exchange_rates")
    op.drop_index("ix_analytics_credits_partner", table_name="analytics_credits")
    op.drop_table("analytics_credits")
    op.drop_index("ix_analytics_registrations_account", table_name="analytics_registrations")
    op.drop_index("ix_analytics_registrations_partner", table_name="analytics_registrations")
    op.drop_table("analytics_registrations")
