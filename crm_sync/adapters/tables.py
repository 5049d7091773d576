"""crm_sync's own database schema."""

from __future__ import annotations

from sqlalchemy import JSON, Column, MetaData, Numeric, String, Table

from services.tables import UtcDateTime, inbox_table, outbox_table

metadata = MetaData()

mirrored_deals = Table(
    "mirrored_deals",
    metadata,
    Column("registration_id", String(36), primary_key=True),
    Column("account_key", String(300), nullable=False),
    Column("partner_id", String(36), nullable=False),
    Column("product_line", String(64), nullable=False),
    Column("amount_value", Numeric(18, 2), nullable=False),
    Column("amount_currency", String(3), nullable=False),
    Column("protection_expires_at", UtcDateTime(), nullable=False),
    Column("registration", JSON, nullable=False),
    Column("sync_state", String(20), nullable=False),  # pending, synced, failed
    Column("crm_system", String(20), nullable=True),
    Column("crm_opportunity_id", String(64), nullable=True),
    Column("approved_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
