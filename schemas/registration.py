"""Events about one registration's lifecycle.

Flow: deal_registration emits ``RegistrationSubmitted``; conflict_resolver answers with
``RegistrationApproved`` or ``RegistrationRejected``; deal_registration and crm_sync consume the
decisions. Every event's Kafka key is the customer account's matching key.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.envelope import EventPayload, register

DealType = Literal["new", "renewal", "upsell"]
PartnerTier = Literal["registered", "silver", "gold", "platinum"]
PartnerStatus = Literal["active", "suspended"]
RegistrationRole = Literal["sourced", "influence"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CustomerData(_Part):
    """The end customer as the partner registered it."""

    name: str
    domain: str | None = None
    country: str = Field(description="ISO 3166-1 alpha-2.")


class AmountData(_Part):
    value: Decimal = Field(description="Decimal amount, serialised as a string.")
    currency: str = Field(description="ISO 4217 code.")


class PartnerSnapshot(_Part):
    """The partner as it stood when the registration was accepted.

    Carried in the event so the resolver decides from the event alone: its decision does not
    depend on when it reads a partner table, and a replay gives the same answer.
    """

    id: str
    name: str
    tier: PartnerTier
    status: PartnerStatus
    product_lines: tuple[str, ...]


@register
class RegistrationSubmitted(EventPayload):
    """A partner's registration was accepted by deal_registration and awaits a decision."""

    event_type = "dealreg.registration.submitted"

    registration_id: str
    submission_seq: int = Field(
        ge=1, description="Server-side acceptance order: what first-to-register means."
    )
    submitted_at: AwareDatetime
    partner: PartnerSnapshot
    customer: CustomerData
    account_key: str = Field(description="The customer account's matching key.")
    product_line: str
    deal_type: DealType
    amount: AmountData
    expected_close_date: date
    role: RegistrationRole = Field(
        default="sourced",
        description="`sourced`: the exclusive claim the rules of engagement decide; "
        "`influence`: the partner declares it helped (never exclusive, never blocks anyone).",
    )


class RegistrationSummary(_Part):
    """What downstream services (crm_sync) need to mirror an approved registration."""

    partner_id: str
    partner_name: str
    customer: CustomerData
    product_line: str
    deal_type: DealType
    amount: AmountData
    expected_close_date: date
    submitted_at: AwareDatetime


@register
class RegistrationApproved(EventPayload):
    """The rules approved the registration: it holds exclusivity until the expiry."""

    event_type = "dealreg.registration.approved"

    registration_id: str
    account_key: str
    product_line: str
    decided_at: AwareDatetime
    protection_expires_at: AwareDatetime
    policy_version: int
    rule: str = Field(description="The rule of engagement that decided.")
    reason: str = Field(description="A sentence the partner may read.")
    registration: RegistrationSummary
    reason_code: str | None = Field(
        default=None, description="Set when approval is not the plain rule, e.g. WAITLIST_PROMOTED."
    )
    decided_by: str = Field(
        default="rules", description="`rules`, or `ops:<user id>` for a decision from the queue."
    )
    extensions_allowed: int | None = Field(
        default=None, description="How many extensions the policy allows this protection."
    )
    protection_key: str | None = Field(
        default=None,
        description="Internal: the canonical account the claim competes on (a fuzzy match "
        "adopts the holder's key); absent from events published before it was added.",
    )
    evidence: dict[str, Any] | None = Field(
        default=None,
        description="Internal: what the rules saw, as the resolver records it (matches, "
        "holders, house account, direct opportunity). Never shown to partners.",
    )


@register
class RegistrationRejected(EventPayload):
    """The rules rejected the registration, with a reason code and a partner-safe sentence."""

    event_type = "dealreg.registration.rejected"

    registration_id: str
    account_key: str
    product_line: str
    decided_at: AwareDatetime
    policy_version: int
    rule: str
    reason_code: str
    reason: str = Field(description="A sentence the partner may read; never names another partner.")
    blocking_registration_id: str | None = Field(
        default=None, description="Internal: the registration holding protection (never shown)."
    )
    blocked_until: AwareDatetime | None = None
    waitlisted: bool = Field(
        default=False, description="True when it waits behind the holder (ALREADY_REGISTERED)."
    )
    decided_by: str = "rules"
    protection_key: str | None = Field(
        default=None,
        description="Internal: the canonical account the claim competes on (a fuzzy match "
        "adopts the holder's key); absent from events published before it was added.",
    )
    evidence: dict[str, Any] | None = Field(
        default=None,
        description="Internal: what the rules saw, as the resolver records it (matches, "
        "holders, house account, direct opportunity). Never shown to partners.",
    )


@register
class RegistrationSentToReview(EventPayload):
    """The rules could not decide alone: the registration waits in the conflict queue."""

    event_type = "dealreg.registration.sent_to_review"

    registration_id: str
    account_key: str
    product_line: str
    decided_at: AwareDatetime
    policy_version: int
    rule: str
    reason_code: str
    reason: str = Field(description="A sentence the partner may read.")
    conflict_id: str
    due_at: AwareDatetime = Field(description="When the conflict's SLA runs out.")
    protection_key: str | None = Field(
        default=None,
        description="Internal: the canonical account the claim competes on (a fuzzy match "
        "adopts the holder's key); absent from events published before it was added.",
    )
    evidence: dict[str, Any] | None = Field(
        default=None,
        description="Internal: what the rules saw, as the resolver records it (matches, "
        "holders, house account, direct opportunity). Never shown to partners.",
    )
    competing_registration_ids: tuple[str, ...] = Field(
        default=(), description="Internal: the claims the case weighs it against."
    )


@register
class RegistrationWithdrawn(EventPayload):
    """The partner withdrew its registration; any protection it held ends now."""

    event_type = "dealreg.registration.withdrawn"

    registration_id: str
    account_key: str
    product_line: str
    withdrawn_at: AwareDatetime
    previous_status: str


@register
class ExtensionRequested(EventPayload):
    """The partner asked to extend its protection; the resolver decides by policy."""

    event_type = "dealreg.registration.extension_requested"

    registration_id: str
    account_key: str
    product_line: str
    requested_at: AwareDatetime


@register
class ProtectionExtended(EventPayload):
    """The extension was granted: the registration stays approved with a new expiry."""

    event_type = "dealreg.registration.protection_extended"

    registration_id: str
    account_key: str
    product_line: str
    extended_at: AwareDatetime
    protection_expires_at: AwareDatetime
    reason: str
    decided_by: str = "rules"
    extensions_left: int | None = Field(
        default=None, description="How many more extensions the policy allows it."
    )


@register
class ExtensionDenied(EventPayload):
    """The extension was refused (already extended, window over, deal closed...)."""

    event_type = "dealreg.registration.extension_denied"

    registration_id: str
    account_key: str
    product_line: str
    decided_at: AwareDatetime
    reason_code: str
    reason: str


@register
class ProtectionExpired(EventPayload):
    """The protection window ended without a win: the registration is ``expired``."""

    event_type = "dealreg.registration.protection_expired"

    registration_id: str
    account_key: str
    product_line: str
    expired_at: AwareDatetime


@register
class ProtectionExpiring(EventPayload):
    """A notice to the holder: its protection expires soon (at a time the policy sets, each
    notice once). Nothing changes; the registration stays ``approved``."""

    event_type = "dealreg.registration.protection_expiring"

    registration_id: str
    account_key: str
    product_line: str
    protection_expires_at: AwareDatetime
    notice: timedelta = Field(description="How long before the expiry this notice is (ISO 8601).")
    noticed_at: AwareDatetime
    reason_code: str = Field(default="PROTECTION_EXPIRING", description="What this is, as a code.")
    passed: tuple[timedelta, ...] = Field(
        default=(),
        description="Internal: earlier notices of this expiry recorded as passed with this one "
        "(the job was paused); never sent.",
    )
    reason: str = Field(description="A sentence the partner may read.")


@register
class ProtectionTransferred(EventPayload):
    """Sales ops moved the registration's live protection to another registration for the same
    customer and product line: this one is ``transferred`` and holds nothing now. The other
    registration is approved in the same step (``RegistrationApproved``, reason code
    ``PROTECTION_TRANSFERRED``)."""

    event_type = "dealreg.registration.protection_transferred"

    registration_id: str
    account_key: str
    product_line: str
    transferred_at: AwareDatetime
    to_registration_id: str = Field(
        description="The registration that holds the protection now (for ops and the CRM; "
        "never shown to the partner)."
    )
    transfer_reason: Literal["customer_request", "first_to_register_conflict", "partner_merger"]
    reason_code: str = Field(default="PROTECTION_TRANSFERRED", description="Why, as a code.")
    reason: str = Field(description="A sentence the partner may read; never names another partner.")
    decided_by: str = Field(description="`ops:<user id>`: who moved it.")
    note: str | None = Field(
        default=None,
        description="Internal: sales ops' note on the transfer (kept with the case of a "
        "registration in review); never shown to a partner. Absent from earlier events.",
    )
    policy_version: int | None = Field(
        default=None,
        description="Internal: the policy version that gave the new holder its window. "
        "Absent from earlier events.",
    )


@register
class WaitlistReevaluated(EventPayload):
    """Internal to the resolver: the head of a waitlist was re-evaluated when the protection
    ahead of it ended, and still waits (another registration took the protection first). Its
    record changes (the canonical key it waits on) without a decision partners are told of;
    nothing partners read."""

    event_type = "dealreg.registration.waitlist_reevaluated"

    registration_id: str
    account_key: str
    product_line: str
    reevaluated_at: AwareDatetime
    protection_key: str = Field(description="The canonical account it now waits on.")
    blocking_registration_id: str | None = Field(
        default=None, description="The registration that holds the protection now."
    )


@register
class WaitlistLeft(EventPayload):
    """A waitlisted registration (``ALREADY_REGISTERED``) left the waitlist: its own expected
    close date passed before the protection ahead of it ended. It stays ``rejected`` and will
    not be promoted."""

    event_type = "dealreg.registration.waitlist_left"

    registration_id: str
    account_key: str
    product_line: str
    left_at: AwareDatetime
    expected_close_date: date
    reason_code: str = Field(default="WAITLIST_LEFT", description="Why it left, as a code.")
    reason: str = Field(description="A sentence the partner may read; never names another partner.")


@register
class ConflictEscalated(EventPayload):
    """A conflict-queue case passed its SLA due time undecided."""

    event_type = "dealreg.conflict.escalated"

    conflict_id: str
    registration_id: str
    account_key: str
    product_line: str
    due_at: AwareDatetime
    escalated_at: AwareDatetime


@register
class ConflictCaseRecorded(EventPayload):
    """One line of a conflict case's history (opened, assigned, escalated, decided, returned
    for edit, resolved, appealed) with the case as it stands after it. Internal to the resolver
    (its record of the queue, so it can be rebuilt from the topics); nothing partners read.

    The line that opens a case no other event tells (``opened``: an extension request the
    policy sent to review) carries what the case opened with (``rule`` to ``opened_at``); a
    case opened with a decision or an encroachment is told by that event. The queue shows
    every case's ``opened`` line from its ``opened_at`` (none is stored)."""

    event_type = "dealreg.conflict.case_recorded"

    conflict_id: str
    registration_id: str
    account_key: str
    product_line: str
    at: AwareDatetime
    action: str = Field(description="`opened`, `assigned`, `escalated`, `decided`, `returned`, ...")
    actor: str = Field(description="`ops:<user id>`, `partner:<id>`, the SLA policy or `rules`.")
    reason: str | None = None
    detail: dict[str, Any] | None = None
    state: Literal["open", "decided"] = Field(description="The case after this line.")
    owner: str | None = None
    due_at: AwareDatetime
    escalated_at: AwareDatetime | None = None
    decided_at: AwareDatetime | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    approved_registration_id: str | None = None
    resolution: str | None = None
    rule: str | None = Field(default=None, description="Only on `opened`: the case's rule.")
    reason_code: str | None = Field(default=None, description="Only on `opened`.")
    evidence: dict[str, Any] | None = Field(
        default=None, description="Only on `opened`: the case's evidence, as recorded."
    )
    competing_registration_ids: list[str] = Field(
        default_factory=list, description="Only on `opened`."
    )
    opened_at: AwareDatetime | None = Field(default=None, description="Only on `opened`.")
