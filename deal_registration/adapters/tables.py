"""deal_registration's own database schema (SQLAlchemy Core; Alembic migrations own it)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)

from services.tables import BigIntId, UtcDateTime, inbox_table, outbox_table

metadata = MetaData()

partners = Table(
    "partners",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("tier", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("country", String(2), nullable=True),
    Column("product_lines", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("role", String(20), nullable=False),  # "partner" or "ops"
    Column("partner_id", String(36), ForeignKey("partners.id"), nullable=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

registrations = Table(
    "registrations",
    metadata,
    # The server-side acceptance order: what "first to register" means.
    Column("submission_seq", BigIntId, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("partner_id", String(36), ForeignKey("partners.id"), nullable=False),
    Column("customer_name", String(200), nullable=False),
    Column("customer_domain", String(253), nullable=True),
    Column("customer_country", String(2), nullable=False),
    Column("account_key", String(300), nullable=False),
    Column("product_line", String(64), nullable=False),
    Column("deal_type", String(10), nullable=False),
    Column("amount_value", Numeric(18, 2), nullable=False),
    Column("amount_currency", String(3), nullable=False),
    Column("expected_close_date", Date, nullable=False),
    Column("contact_name", String(200), nullable=True),
    Column("contact_email", String(254), nullable=True),
    Column("description", Text, nullable=True),
    Column("partner_reference", String(100), nullable=True),
    Column("status", String(20), nullable=False),
    Column("reason_code", String(40), nullable=True),
    Column("reason", Text, nullable=True),
    Column("submitted_at", UtcDateTime(), nullable=False),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("protection_expires_at", UtcDateTime(), nullable=True),
    Column("crm_system", String(20), nullable=True),
    Column("crm_opportunity_id", String(64), nullable=True),
    Column("crm_stage", String(64), nullable=True),
    Column("correlation_id", String(36), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # One extension request per registration: requested, then granted or denied.
    Column("extension_state", String(20), nullable=True),
    Column("extension_requested_at", UtcDateTime(), nullable=True),
    # The CRM's last-modified time of the last change applied: older changes are ignored.
    Column("crm_changed_at", UtcDateTime(), nullable=True),
    Column("appealed_at", UtcDateTime(), nullable=True),
    Column("editable_fields", JSON, nullable=True),
    Column("extensions_left", Integer, nullable=True),
    # ``sourced`` (the exclusive claim) or ``influence`` (a declared contribution).
    Column("role", String(10), nullable=False, server_default="sourced"),
    Index("ix_registrations_partner", "partner_id", "submission_seq"),
    Index("ix_registrations_status", "status", "submission_seq"),
)

# Co-sell invitations: the holder of an approved sourced registration invites another partner
# with a role; the invitee accepts or declines. One live invitation per registration and
# partner (a declined one may be invited again).
co_sell_invitations = Table(
    "co_sell_invitations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("registration_id", String(36), ForeignKey("registrations.id"), nullable=False),
    Column("holder_partner_id", String(36), ForeignKey("partners.id"), nullable=False),
    Column("partner_id", String(36), ForeignKey("partners.id"), nullable=False),
    Column("role", String(20), nullable=False),
    Column("status", String(20), nullable=False),  # invited, accepted, declined
    Column("invited_at", UtcDateTime(), nullable=False),
    Column("responded_at", UtcDateTime(), nullable=True),
    Column("correlation_id", String(36), nullable=False),
    Index("ix_co_sell_registration", "registration_id", "invited_at"),
    Index("ix_co_sell_partner", "partner_id", "invited_at"),
)

registration_history = Table(
    "registration_history",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("registration_id", String(36), ForeignKey("registrations.id"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("reason_code", String(40), nullable=True),
    Column("reason", Text, nullable=True),
    Column("actor", String(100), nullable=False),
    Column("event_id", String(64), nullable=True),
    Column("at", UtcDateTime(), nullable=False),
    # When the step was written (``at`` is when it happened): the partner export's cursor.
    Column("recorded_at", UtcDateTime(), nullable=True),
    Index("ix_history_registration", "registration_id", "id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("principal_id", String(36), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_idempotency_keys_created", "created_at"),  # retention
)

# The capacity caps of each published policy version (CapacityCapsPublished): what partners
# read their capacity against. The latest version is the one in force.
capacity_caps = Table(
    "capacity_caps",
    metadata,
    Column("policy_version", Integer, primary_key=True, autoincrement=False),
    Column("caps", JSON, nullable=False),
    Column("published_at", UtcDateTime(), nullable=False),
)

partner_webhooks = Table(
    "partner_webhooks",
    metadata,
    Column("partner_id", String(36), ForeignKey("partners.id"), primary_key=True),
    Column("url", String(2000), nullable=False),
    # The signing secret must be readable to sign with (unlike API keys, which are hashed), so
    # it is encrypted at rest with the key from settings (deal_registration.webhooks.secrets).
    Column("secret", String(400), nullable=False),
    # After a rotation the previous secret signs too, until this time (the receiver's overlap).
    Column("previous_secret", String(400), nullable=True),
    Column("previous_secret_until", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    # The Standard Webhooks message id (`webhook-id`), the same on every retry.
    Column("id", String(64), primary_key=True),
    Column("partner_id", String(36), ForeignKey("partners.id"), nullable=False),
    Column("registration_id", String(36), nullable=False),
    Column("event_type", String(60), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(20), nullable=False),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("delivered_at", UtcDateTime(), nullable=True),
    # Set while one worker sends the delivery (outside any transaction); a crashed worker's
    # lease lapses and the delivery is due again.
    Column("leased_until", UtcDateTime(), nullable=True),
    Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    Index("ix_webhook_deliveries_leased", "partner_id", "leased_until"),
    Index("ix_webhook_deliveries_partner", "partner_id", "created_at"),
    Index("ix_webhook_deliveries_created", "created_at"),  # retention
)

# Partners' outcome figures (issue 16): a projection of the events, one row per registration,
# each column set by the event that says it (domain.analytics reads them; see
# adapters.analytics). ``updated_at`` is the export cursor.
analytics_registrations = Table(
    "analytics_registrations",
    metadata,
    Column("registration_id", String(36), primary_key=True),
    Column("partner_id", String(36), nullable=True),
    Column("account_key", String(300), nullable=True),
    Column("customer_name", String(200), nullable=True),
    Column("product_line", String(64), nullable=True),
    Column("amount_value", Numeric(18, 2), nullable=True),
    Column("amount_currency", String(3), nullable=True),
    Column("submitted_at", UtcDateTime(), nullable=True),
    Column("approved_at", UtcDateTime(), nullable=True),
    Column("rejected_at", UtcDateTime(), nullable=True),
    Column("review_at", UtcDateTime(), nullable=True),
    Column("waitlisted", Boolean, nullable=False, default=False),
    Column("protection_expires_at", UtcDateTime(), nullable=True),
    Column("won_at", UtcDateTime(), nullable=True),
    Column("lost_at", UtcDateTime(), nullable=True),
    Column("expired_at", UtcDateTime(), nullable=True),
    Column("withdrawn_at", UtcDateTime(), nullable=True),
    Column("left_waitlist_at", UtcDateTime(), nullable=True),
    Column("transferred_at", UtcDateTime(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_analytics_registrations_partner", "partner_id", "updated_at"),
    Index("ix_analytics_registrations_account", "account_key"),
)

# One line per partner and role of each DealAttributed.
analytics_credits = Table(
    "analytics_credits",
    metadata,
    Column("registration_id", String(36), primary_key=True),
    Column("partner_id", String(36), primary_key=True),
    Column("role", String(40), primary_key=True),
    Column("amount_value", Numeric(18, 2), nullable=False),
    Column("amount_currency", String(3), nullable=False),
    Column("share", Numeric(9, 6), nullable=False),
    Column("model", String(20), nullable=False),
    Column("attributed_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_analytics_credits_partner", "partner_id", "updated_at"),
)

# The base currency and rates of each published policy version (ExchangeRatesPublished).
exchange_rates = Table(
    "exchange_rates",
    metadata,
    Column("policy_version", Integer, primary_key=True, autoincrement=False),
    Column("base_currency", String(3), nullable=False),
    Column("rates", JSON, nullable=False),
    Column("published_at", UtcDateTime(), nullable=False),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
