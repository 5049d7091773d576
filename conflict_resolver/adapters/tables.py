"""conflict_resolver's own database schema.

``protections`` is what makes the exclusivity invariant hold: its primary key is
(account_key, product_line), so a second live protection for the same thing cannot be written,
whichever resolver instance, partition or ops decision tries.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

from services.tables import UtcDateTime, inbox_table, outbox_table

metadata = MetaData()

claims = Table(
    "claims",
    metadata,
    Column("registration_id", String(36), primary_key=True),
    Column("submission_seq", BigInteger, nullable=False, unique=True),
    Column("partner_id", String(36), nullable=False),
    Column("account_key", String(300), nullable=False),
    Column("product_line", String(64), nullable=False),
    Column("submitted", JSON, nullable=False),
    Column("status", String(20), nullable=False),
    Column("rule", String(40), nullable=True),
    Column("reason_code", String(40), nullable=True),
    Column("reason", Text, nullable=True),
    Column("policy_version", BigInteger, nullable=True),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("protection_expires_at", UtcDateTime(), nullable=True),
    Column("correlation_id", String(36), nullable=False),
    # The canonical account the claim competes on (a fuzzy match adopts the holder's key).
    Column("protection_key", String(300), nullable=True),
    Column("waitlisted", Boolean, nullable=False, server_default=false()),
    Column("extension_count", Integer, nullable=False, server_default="0"),
    Column("evidence", JSON, nullable=True),
    Column("ended_at", UtcDateTime(), nullable=True),
    # What the rules decided (status moves on: approved -> expired, won...).
    Column("decision", String(20), nullable=True),
    Column("edit_round_trips", Integer, nullable=False, server_default="0"),
    Index("ix_claims_account_line", "account_key", "product_line", "submission_seq"),
    Index("ix_claims_waitlist", "protection_key", "product_line", "waitlisted", "submission_seq"),
)

# Blocking index of claims: candidates are found by key, never by scanning claims.
claim_keys = Table(
    "claim_keys",
    metadata,
    Column("blocking_key", String(300), primary_key=True),
    Column("product_line", String(64), primary_key=True),
    Column("registration_id", String(36), primary_key=True),
    Index("ix_claim_keys_registration", "registration_id"),
)

# Influence claims: decided apart from the rules of engagement, never in ``claims`` (so never in
# matching, protections, waitlists or first-to-register). Read by the CRM deal's partner list
# and by attribution: the accepted claims on an account and product line.
influence_claims = Table(
    "influence_claims",
    metadata,
    Column("registration_id", String(36), primary_key=True),
    Column("partner_id", String(36), nullable=False),
    Column("account_key", String(300), nullable=False),
    Column("product_line", String(64), nullable=False),
    Column("status", String(20), nullable=False),  # accepted, rejected, withdrawn
    Column("reason_code", String(40), nullable=False),
    Column("policy_version", BigInteger, nullable=False),
    Column("submitted", JSON, nullable=False),
    Column("decided_at", UtcDateTime(), nullable=False),
    Column("ended_at", UtcDateTime(), nullable=True),
    Column("correlation_id", String(36), nullable=False),
    Index("ix_influence_claims_account_line", "account_key", "product_line"),
)

co_sell_partners = Table(
    "co_sell_partners",
    metadata,
    Column("invitation_id", String(36), primary_key=True),
    Column("registration_id", String(36), nullable=False),  # the sourced registration
    Column("partner_id", String(36), nullable=False),
    Column("role", String(20), nullable=False),  # distributor, reseller, msp, referral
    Column("status", String(20), nullable=False),  # accepted, declined
    Column("answered_at", UtcDateTime(), nullable=False),
    Index("ix_co_sell_partners_registration", "registration_id"),
)

policies = Table(
    "policies",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("document", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(100), nullable=False),
)

house_account_lists = Table(
    "house_account_lists",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("document", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("created_by", String(100), nullable=False),
)

direct_opportunities = Table(
    "direct_opportunities",
    metadata,
    Column("crm_system", String(20), primary_key=True),
    Column("opportunity_id", String(100), primary_key=True),
    Column("account_key", String(300), nullable=False),
    Column("product_line", String(64), nullable=False),
    Column("customer", JSON, nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("closed_at", UtcDateTime(), nullable=True),
    Index("ix_direct_opportunities_account", "account_key", "product_line"),
)

# The blocking keys of open direct opportunities: a registration finds them as it finds claims.
direct_opportunity_keys = Table(
    "direct_opportunity_keys",
    metadata,
    Column("blocking_key", String(300), primary_key=True),
    Column("crm_system", String(20), primary_key=True),
    Column("opportunity_id", String(100), primary_key=True),
)

# The partner of record per canonical account and product line (the last win).
# Each deal credited at closed-won (DealAttributed as emitted): what the policy what-if
# credits again under a draft model.
deal_attributions = Table(
    "deal_attributions",
    metadata,
    Column("registration_id", String(36), primary_key=True),
    Column("attributed", JSON, nullable=False),
    Column("closed_at", UtcDateTime(), nullable=False),
)

incumbents = Table(
    "incumbents",
    metadata,
    Column("account_key", String(300), primary_key=True),
    Column("product_line", String(64), primary_key=True),
    Column("partner_id", String(36), nullable=False),
    Column("registration_id", String(36), nullable=False),
    Column("won_at", UtcDateTime(), nullable=False),
)

protections = Table(
    "protections",
    metadata,
    Column("account_key", String(300), primary_key=True),
    Column("product_line", String(64), primary_key=True),
    Column("registration_id", String(36), nullable=False, unique=True),
    Column("partner_id", String(36), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)

# Each "protection expires in N days" notice once per expiry (sent, or passed unsent): the
# primary key makes it once across restarts and instances.
expiry_notices = Table(
    "expiry_notices",
    metadata,
    Column("registration_id", String(36), primary_key=True),
    Column("expires_at", UtcDateTime(), primary_key=True),
    Column("notice_seconds", Integer, primary_key=True),
    Column("sent", Boolean, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
)

conflicts = Table(
    "conflicts",
    metadata,
    Column("id", String(36), primary_key=True),
    # The registration under review (for ``DIRECT_ENCROACHMENT``, the protected one a direct
    # deal collides with: a registration may then have several cases); the claims it competes
    # with are in the evidence.
    Column("registration_id", String(36), nullable=False),
    Column("account_key", String(300), nullable=False),
    Column("product_line", String(64), nullable=False),
    Column("rule", String(40), nullable=False),
    Column("reason_code", String(40), nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("competing_registration_ids", JSON, nullable=False),
    Column("state", String(20), nullable=False),  # open, decided
    Column("owner", String(100), nullable=True),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("escalated_at", UtcDateTime(), nullable=True),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("decided_by", String(100), nullable=True),
    Column("decision_reason", Text, nullable=True),
    Column("approved_registration_id", String(36), nullable=True),
    # How ops resolved a DIRECT_ENCROACHMENT case (acknowledged, partner_keeps, direct_proceeds).
    Column("resolution", String(30), nullable=True),
    Index("ix_conflicts_state_due", "state", "due_at"),
    Index("ix_conflicts_registration", "registration_id"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)

# Company records from the CRM (``schemas.companies``): names, domains, former names, parent.
crm_companies = Table(
    "crm_companies",
    metadata,
    Column("crm_system", String(20), primary_key=True),
    Column("company_id", String(100), primary_key=True),
    Column("account_key", String(300), nullable=False),
    Column("name", String(300), nullable=False),
    Column("domains", JSON, nullable=False),
    Column("former_names", JSON, nullable=False),
    Column("country", String(2), nullable=True),
    Column("parent_company_id", String(100), nullable=True),
    Column("changed_at", UtcDateTime(), nullable=False),
    Index("ix_crm_companies_parent", "crm_system", "parent_company_id"),
)

# Each company under its lookup keys (``d:<domain>``, ``n:<normalised name>``), aliases included.
crm_company_keys = Table(
    "crm_company_keys",
    metadata,
    Column("lookup_key", String(300), primary_key=True),
    Column("crm_system", String(20), primary_key=True),
    Column("company_id", String(100), primary_key=True),
)

# Account overlap (issue 16). The resolver's copy of the partner keys deal_registration issues
# (hashes only, from dealreg.principals): the overlap routes are the one place partners call.
partner_keys = Table(
    "partner_keys",
    metadata,
    Column("key_id", String(36), primary_key=True),
    Column("partner_id", String(36), nullable=False, index=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("issued_at", UtcDateTime(), nullable=True),  # null: a revocation's tombstone
    Column("revoked_at", UtcDateTime(), nullable=True),
)

# Each partner's standing as deal_registration last published it (dealreg.principals): a
# suspended partner may read its overlap but not upload a list or opt in. No row: active.
partner_statuses = Table(
    "partner_statuses",
    metadata,
    Column("partner_id", String(36), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("changed_at", UtcDateTime(), nullable=False),
)

# The current overlap-key version of each partner: the key is derived, never stored.
overlap_keys = Table(
    "overlap_keys",
    metadata,
    Column("partner_id", String(36), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("issued_by", String(100), nullable=False),
)

# A partner's current list (replaced whole) and each side's opt-in to showing the overlap.
overlap_uploads = Table(
    "overlap_uploads",
    metadata,
    Column("partner_id", String(36), primary_key=True),
    Column("key_version", Integer, nullable=True),
    Column("uploaded_at", UtcDateTime(), nullable=True),  # null: opt-ins only, no list yet
    Column("accounts", Integer, nullable=True),
    Column("partner_opted_in_at", UtcDateTime(), nullable=True),
    Column("vendor_opted_in_at", UtcDateTime(), nullable=True),
    Column("vendor_opted_in_by", String(100), nullable=True),
)

overlap_hashes = Table(
    "overlap_hashes",
    metadata,
    Column("partner_id", String(36), primary_key=True),
    Column("hash", String(64), primary_key=True),
)
