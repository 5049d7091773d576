"""crm_sync's own database schema."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    false,
)

from services.principals import ops_keys_table
from services.tables import BigIntId, UtcDateTime, inbox_table, outbox_table

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
    Column("sync_state", String(20), nullable=False),  # pending, synced, dead
    Column("crm_system", String(20), nullable=True),
    Column("crm_opportunity_id", String(64), nullable=True),
    Column("approved_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # The owned (partner and protection) fields as they should be in the CRM.
    Column("desired", JSON, nullable=True),
    # The owned fields as we last wrote them: only differences are sent.
    Column("last_written", JSON, nullable=True),
    # The sales fields and CRM modification time we last applied (ordering, echo rule).
    Column("applied", JSON, nullable=True),
    Column("applied_modified_at", UtcDateTime(), nullable=True),
    Column("written_modified_at", UtcDateTime(), nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("crm_archived", Boolean, nullable=False, server_default=false()),
    Column("pending_since", UtcDateTime(), nullable=True),
    Column("correlation_id", String(64), nullable=True),
    # W3C trace context of the event that made the deal pending: the CRM push continues it.
    Column("traceparent", String(64), nullable=True),
    # A protection transfer handed this deal's opportunity to that registration's deal
    # (``domain.handover``); this one is never pushed again.
    Column("handed_over_to", String(36), nullable=True, index=True),
)

# The partners on deals besides their sourced holder: co-sell partners that accepted (by the
# invitation id, on the sourced registration) and accepted influence claims (by the influence
# registration id, on the account and product line).
deal_partners = Table(
    "deal_partners",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(10), nullable=False),  # co_sell, influence
    Column("registration_id", String(36), nullable=True, index=True),  # co_sell: the sourced one
    Column("account_key", String(300), nullable=False),
    Column("product_line", String(64), nullable=False),
    Column("partner_id", String(36), nullable=False),
    Column("partner_name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_deal_partners_account_line", "account_key", "product_line"),
)

direct_opportunities = Table(
    "direct_opportunities",
    metadata,
    Column("crm_system", String(20), primary_key=True),
    Column("opportunity_id", String(64), primary_key=True),
    Column("account_key", String(300), nullable=False),
    Column("product_line", String(64), nullable=False),
    Column("state", String(10), nullable=False),  # open, closed
    Column("modified_at", UtcDateTime(), nullable=False),
)

crm_dead_letters = Table(
    "crm_dead_letters",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("crm_system", String(20), nullable=False),
    Column("registration_id", String(36), nullable=False),
    Column("reason", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("replayed_at", UtcDateTime(), nullable=True),
    # True: the CRM refused the data. False (older rows): an outage, revived automatically.
    Column("permanent", Boolean, nullable=False, server_default=false()),
)

# Lifecycle events (withdrawn, expired, extended) seen for a registration, whether or not its
# approval has arrived yet: an approval that comes later folds them in (see domain.lifecycle).
registration_lifecycle = Table(
    "registration_lifecycle",
    metadata,
    Column("registration_id", String(36), primary_key=True),
    Column("status", String(20), nullable=True),
    Column("protection_expires_at", UtcDateTime(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Which instance runs the pusher and which the reconciler (crm_sync.lease).
leases = Table(
    "crm_leases",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("owner", String(120), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)

connector_state = Table(
    "crm_connector_state",
    metadata,
    Column("crm_system", String(20), primary_key=True),
    Column("watermark", UtcDateTime(), nullable=True),
    Column("last_success_at", UtcDateTime(), nullable=True),
    Column("last_failure_at", UtcDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("last_reconciled_at", UtcDateTime(), nullable=True),
    Column("echoes_dropped", Integer, nullable=False, server_default="0"),
    # An operator asked for a sweep (on any instance); the reconciler's holder runs it.
    Column("reconcile_requested_at", UtcDateTime(), nullable=True),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
ops_keys = ops_keys_table(metadata)

# Companies (HubSpot) and accounts (Salesforce) published to the resolver, with what was sent.
crm_companies = Table(
    "crm_companies",
    metadata,
    Column("crm_system", String(20), primary_key=True),
    Column("company_id", String(100), primary_key=True),
    Column("account_key", String(300), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("modified_at", UtcDateTime(), nullable=False),
    Column("removed", Boolean, nullable=False, default=False),
)
