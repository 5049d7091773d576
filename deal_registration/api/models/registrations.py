"""Registrations: what partners send and what they read back."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    EmailStr,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from deal_registration.api.models.fields import (
    CountryCode,
    CurrencyCode,
    DealType,
    LongText,
    Reference,
    RegistrationRole,
    RegistrationStatus,
    ShortText,
    Slug,
    WebDomain,
    _Input,
    _Output,
)
from deal_registration.domain import validation as rules


class Customer(_Input):
    """The end customer the opportunity is with."""

    name: ShortText = Field(
        description="The customer's company name as the partner knows it (1-200 characters).",
        examples=["Acme Corporation"],
    )
    domain: WebDomain | None = Field(
        default=None,
        description=(
            "The customer's web domain. A URL (`https://www.acme.com/about`), a `www.` host or "
            "an e-mail address (`it@acme.com`) is accepted and stored as the registrable "
            "domain (`acme.com`). Optional: some partners only know the name."
        ),
        examples=["acme.com"],
    )
    country: CountryCode = Field(
        description="ISO 3166-1 alpha-2 country code of the customer (case-insensitive).",
        examples=["US"],
    )


class Amount(_Input):
    """Money: a positive decimal string and its ISO 4217 currency."""

    # `currency` comes first so that `value`'s check can see it.
    currency: CurrencyCode = Field(
        description="ISO 4217 alphabetic currency code (case-insensitive).", examples=["USD"]
    )
    value: Decimal = Field(
        gt=0,
        max_digits=rules.AMOUNT_MAX_DIGITS,
        allow_inf_nan=False,
        description=(
            "Positive decimal amount, sent as a string. At most 2 decimals, and no more than "
            "the currency's minor units (0 for JPY)."
        ),
        examples=["125000.00"],
    )

    @field_validator("value")
    @classmethod
    def _decimals_fit_the_currency(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        problem = rules.amount_problem(value, info.data.get("currency"))
        if problem:
            raise ValueError(problem)
        return value


class Contact(_Input):
    """The partner's contact at the customer."""

    name: ShortText = Field(
        description="Contact's full name (1-200 characters).", examples=["Dana Lee"]
    )
    email: Annotated[EmailStr, StringConstraints(max_length=254)] = Field(
        description="Contact's e-mail address (syntax checked; no mail is sent).",
        examples=["dana.lee@acme.com"],
    )


class RegistrationCreate(_Input):
    """A partner's registration of one opportunity. Unknown fields are rejected."""

    customer: Customer = Field(description="The end customer.")
    product_line: Slug = Field(
        description="The product line (a slug) the partner claims; it must be one the partner "
        "is authorised for.",
        examples=["network-security"],
    )
    deal_type: DealType = Field(description="`new`, `renewal` or `upsell`.", examples=["new"])
    amount: Amount = Field(description="Expected deal value.")
    expected_close_date: date = Field(
        description="Expected close date (YYYY-MM-DD): not in the past, at most 2 years ahead.",
        examples=["2027-03-31"],
    )
    contact: Contact | None = Field(default=None, description="Optional customer contact.")
    description: LongText | None = Field(
        default=None,
        description="Free text for the vendor (at most 2000 characters).",
        examples=["Firewall refresh for 40 branch offices"],
    )
    partner_reference: Reference | None = Field(
        default=None,
        description="The partner's own id for the opportunity (at most 100 characters).",
        examples=["OPP-2231"],
    )
    role: RegistrationRole = Field(
        default="sourced",
        description="`sourced` (the default): the exclusive claim the rules of engagement "
        "decide. `influence`: you declare you helped on this customer; never exclusive, never "
        "blocks anyone, `accepted` or `rejected` at once, and no other partner learns of it.",
        examples=["sourced"],
    )


# --- registrations: output --------------------------------------------------------------


class Appeal(_Input):
    """The partner's appeal of a rejection by sales ops' review (once)."""

    note: LongText = Field(
        description="Why the rejection should be reconsidered (read by sales ops only).",
        examples=["The customer signed a letter of intent with us on 2 December."],
    )


class RegistrationEdit(_Input):
    """A partner's change: of a registration returned for edit, only the fields named by the
    reviewer (``editable_fields``); of an approved one, only ``amount``,
    ``expected_close_date`` and ``contact``. Fields left out stay as they are."""

    customer: Customer | None = Field(
        default=None,
        description="The end customer (all three fields).",
        examples=[{"name": "Acme Corporation", "domain": "acme.com", "country": "US"}],
    )
    product_line: Slug | None = Field(
        default=None,
        description="Never changes once returned or approved: a change answers 422.",
        examples=["network-security"],
    )
    deal_type: DealType | None = Field(
        default=None, description="`new`, `renewal` or `upsell`.", examples=["new"]
    )
    amount: Amount | None = Field(
        default=None,
        description="Expected deal value.",
        examples=[{"value": "150000.00", "currency": "USD"}],
    )
    expected_close_date: date | None = Field(
        default=None, description="Expected close date.", examples=["2027-04-30"]
    )
    contact: Contact | None = Field(
        default=None,
        description="Customer contact.",
        examples=[{"name": "Dana Lee", "email": "dana.lee@acme.com"}],
    )
    description: LongText | None = Field(
        default=None, description="What the deal is.", examples=["Firewall refresh"]
    )
    partner_reference: Reference | None = Field(
        default=None, description="Your own reference.", examples=["PO-2026-118"]
    )


class CustomerView(_Output):
    name: str = Field(description="Customer company name.", examples=["Acme Corporation"])
    domain: str | None = Field(
        default=None, description="Registrable web domain, if given.", examples=["acme.com"]
    )
    country: str = Field(description="ISO 3166-1 alpha-2 country code.", examples=["US"])


class AmountView(_Output):
    value: str = Field(description="Decimal amount as a string.", examples=["125000.00"])
    currency: str = Field(description="ISO 4217 currency code.", examples=["USD"])


class ContactView(_Output):
    name: str = Field(description="Contact's name.", examples=["Dana Lee"])
    email: str = Field(description="Contact's e-mail address.", examples=["dana.lee@acme.com"])


class CrmLink(_Output):
    """Where the approved registration lives in the vendor's CRM."""

    system: str = Field(description="`hubspot` or `salesforce`.", examples=["hubspot"])
    opportunity_id: str = Field(
        description="The CRM's id of the mirrored opportunity.", examples=["18234567890"]
    )
    stage: str | None = Field(
        default=None, description="The opportunity's current CRM stage.", examples=["qualified"]
    )


class RegistrationView(_Output):
    """A registration as its partner (or sales ops) sees it."""

    id: str = Field(
        description="The registration's id.", examples=["7d9f3c2e-5b1a-4e8f-9c6d-2a1b3c4d5e6f"]
    )
    partner_id: str = Field(
        description="The registering partner (always the caller's own partner for a partner key).",
        examples=["0b6c9a52-3f7e-4d21-8a90-1c2d3e4f5a6b"],
    )
    customer: CustomerView = Field(description="The end customer, normalised.")
    product_line: str = Field(
        description="The product line claimed.", examples=["network-security"]
    )
    deal_type: DealType = Field(description="`new`, `renewal` or `upsell`.", examples=["new"])
    amount: AmountView = Field(description="Expected deal value.")
    expected_close_date: date = Field(description="Expected close date.", examples=["2027-03-31"])
    contact: ContactView | None = Field(default=None, description="Customer contact, if given.")
    description: str | None = Field(
        default=None,
        description="Free text as submitted.",
        examples=["Firewall refresh for 40 branch offices"],
    )
    partner_reference: str | None = Field(
        default=None, description="The partner's own reference.", examples=["OPP-2231"]
    )
    role: RegistrationRole = Field(
        default="sourced",
        description="`sourced` (the exclusive claim) or `influence` (a declared contribution).",
        examples=["sourced"],
    )
    status: RegistrationStatus = Field(
        description="Where the registration stands (see the lifecycle in the partner guide); "
        "an influence registration is `accepted` or `rejected`, never protected.",
        examples=["approved"],
    )
    reason_code: str | None = Field(
        default=None,
        description="Why it stands there, as a code: `ALREADY_REGISTERED`, `DUPLICATE`, "
        "`HOUSE_ACCOUNT`, `DIRECT_OPPORTUNITY_CONFLICT`, `INCUMBENT_CONFLICT`, "
        "`POSSIBLE_DUPLICATE`, `PARTNER_INELIGIBLE`, `PRODUCT_NOT_AUTHORIZED`, "
        "`BELOW_MINIMUM`, `WAITLIST_PROMOTED`, `WITHDRAWN`, `PROTECTION_EXPIRED`, `WON`, `LOST`...",
        examples=["ALREADY_REGISTERED"],
    )
    reason: str | None = Field(
        default=None,
        description="The same, as a sentence a partner can read. Never names another partner.",
        examples=["Already registered by another partner until 2027-04-30."],
    )
    submitted_at: datetime = Field(
        description="When the registration was accepted (RFC 3339, UTC).",
        examples=["2026-11-27T10:15:00Z"],
    )
    decided_at: datetime | None = Field(
        default=None,
        description="When the rules or sales ops decided.",
        examples=["2026-11-27T10:15:01Z"],
    )
    protection_expires_at: datetime | None = Field(
        default=None,
        description="When the exclusivity ends (approved registrations).",
        examples=["2027-02-25T10:15:01Z"],
    )
    extension: Literal["requested", "granted", "denied"] | None = Field(
        default=None,
        description="State of the latest extension request, if any (the policy decides how many).",
        examples=["requested"],
    )
    editable_fields: list[str] | None = Field(
        default=None,
        description="When `action_required`: the fields the reviewer asked you to change.",
        examples=[["customer.domain"]],
    )
    crm: CrmLink | None = Field(
        default=None, description="The CRM opportunity, once the deal is mirrored."
    )


class RegistrationPage(_Output):
    items: list[RegistrationView] = Field(description="Registrations in submission order.")
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `cursor` for the next page; null on the last page.",
        examples=["42"],
    )


class HistoryEntry(_Output):
    status: RegistrationStatus = Field(
        description="The status after this step.", examples=["approved"]
    )
    reason_code: str | None = Field(
        default=None, description="Why, as a code.", examples=["WAITLIST_PROMOTED"]
    )
    reason: str | None = Field(
        default=None,
        description="Why, as a sentence for the partner.",
        examples=["Approved: protected for 90 days."],
    )
    at: datetime = Field(description="When it happened.", examples=["2026-11-27T10:15:01Z"])
    actor: str = Field(
        description=(
            "Who caused it. Sales ops and the admin read it in full: `rules`, `ops:<user id>`, "
            "`policy:sla`, `admin`, `crm` or `partner:<partner id>`. A partner reads only the "
            "kind (`partner`, `rules`, `ops`, `admin`, `crm`), never an identity."
        ),
        examples=["rules"],
    )


class History(_Output):
    items: list[HistoryEntry] = Field(description="Every step the caller may see, oldest first.")
