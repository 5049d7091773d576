"""Request and response bodies of the deal_registration API.

Input models forbid unknown fields and bound every string, so a typo in a field name is an
error naming that field rather than silently dropped data. The field rules themselves (what a
country, currency, amount or domain must look like) live in ``domain.validation`` as plain
functions; these models only wire them to fields. Every field carries a description and an
example: the OpenAPI document is generated from these classes.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from deal_registration.domain import validation as rules

# --- field types ------------------------------------------------------------------------


def _plain_text(value: str) -> str:
    problem = rules.text_problem(value, single_line=True)
    if problem:
        raise ValueError(problem)
    return value


def _long_text(value: str) -> str:
    problem = rules.text_problem(value, single_line=False)
    if problem:
        raise ValueError(problem)
    return value


def _as(check: Any) -> Any:
    """Turn a ``value -> (normalised, problem)`` rule into a pydantic after-validator."""

    def validate(value: Any) -> Any:
        normalised, problem = check(value)
        if problem:
            raise ValueError(problem)
        return normalised

    return AfterValidator(validate)


ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=rules.SHORT_TEXT_MAX),
    AfterValidator(_plain_text),
]
LongText = Annotated[
    str, StringConstraints(max_length=rules.LONG_TEXT_MAX), AfterValidator(_long_text)
]
Reference = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=rules.REFERENCE_MAX),
    AfterValidator(_plain_text),
]
Slug = Annotated[str, StringConstraints(pattern=rules.SLUG_PATTERN, max_length=rules.SLUG_MAX)]
CountryCode = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=8), _as(rules.normalise_country)
]
CurrencyCode = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=8), _as(rules.normalise_currency)
]
WebDomain = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=rules.DOMAIN_INPUT_MAX),
    _as(rules.normalise_domain),
]
DealType = Literal["new", "renewal", "upsell"]
PartnerTier = Literal["registered", "silver", "gold", "platinum"]
PartnerStatus = Literal["active", "suspended"]
RegistrationStatus = Literal[
    "submitted",
    "pending_review",
    "approved",
    "rejected",
    "won",
    "lost",
    "expired",
    "withdrawn",
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=rules.LONG_TEXT_MAX)


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- registrations: input ---------------------------------------------------------------


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


# --- registrations: output --------------------------------------------------------------


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
    status: RegistrationStatus = Field(
        description="Where the registration stands (see the lifecycle in the partner guide).",
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


class History(_Output):
    items: list[HistoryEntry] = Field(description="Every step the caller may see, oldest first.")


# --- partners, ops users and keys -------------------------------------------------------


class PartnerCreate(_Input):
    name: ShortText = Field(description="The partner's name.", examples=["Northwind Networks"])
    tier: PartnerTier = Field(
        description="Partner tier: `registered`, `silver`, `gold` or `platinum`.",
        examples=["gold"],
    )
    product_lines: list[Slug] = Field(
        min_length=1,
        max_length=100,
        description="Product lines the partner may register (slugs).",
        examples=[["network-security"]],
    )
    country: CountryCode | None = Field(
        default=None, description="ISO 3166-1 alpha-2 country of the partner.", examples=["DE"]
    )


class PartnerUpdate(_Input):
    name: ShortText | None = Field(
        default=None, description="New name.", examples=["Northwind Networks GmbH"]
    )
    tier: PartnerTier | None = Field(default=None, description="New tier.", examples=["platinum"])
    product_lines: list[Slug] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Replaces the authorised product lines.",
        examples=[["network-security", "cloud-backup"]],
    )
    status: PartnerStatus | None = Field(
        default=None,
        description="`suspended` blocks the partner's writes (403); `active` restores them.",
        examples=["suspended"],
    )


class PartnerView(_Output):
    id: str = Field(
        description="The partner's id.", examples=["0b6c9a52-3f7e-4d21-8a90-1c2d3e4f5a6b"]
    )
    name: str = Field(description="The partner's name.", examples=["Northwind Networks"])
    tier: PartnerTier = Field(description="Partner tier.", examples=["gold"])
    status: PartnerStatus = Field(description="`active` or `suspended`.", examples=["active"])
    product_lines: list[str] = Field(
        description="Authorised product lines.", examples=[["network-security"]]
    )
    country: str | None = Field(default=None, description="Partner's country.", examples=["DE"])
    created_at: datetime = Field(
        description="When it was created.", examples=["2026-11-27T09:00:00Z"]
    )


class PartnerCreated(PartnerView):
    api_key: str = Field(
        description="The partner's API key. Shown once; only its hash is stored.",
        examples=["drk_4nq2Y3c0iR6Qm2cXo1a9bT6pH8sVwK3eL5uJ7dF0gZ"],
    )
    api_key_id: str = Field(
        description="The key's id, to revoke it later.",
        examples=["5e0c1d2b-8a7f-4c3e-9b6a-7d8e9f0a1b2c"],
    )


class OpsUserCreate(_Input):
    name: ShortText = Field(description="The sales-ops user's name.", examples=["Sam Ortiz"])


class OpsUserCreated(_Output):
    id: str = Field(
        description="The ops user's id.", examples=["9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"]
    )
    name: str = Field(description="The ops user's name.", examples=["Sam Ortiz"])
    role: Literal["ops"] = Field(default="ops", description="Always `ops`.", examples=["ops"])
    api_key: str = Field(
        description="The ops user's API key. Shown once; only its hash is stored.",
        examples=["drk_Jd8sK2mQ9vX1bN4cR7tY0uW3eA6zP5hG2fL8kS1oI"],
    )
    api_key_id: str = Field(
        description="The key's id, to revoke it later.",
        examples=["9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"],
    )


class ApiKeyView(_Output):
    id: str = Field(description="The key's id.", examples=["5e0c1d2b-8a7f-4c3e-9b6a-7d8e9f0a1b2c"])
    role: Literal["partner", "ops"] = Field(
        description="Whom the key acts for.", examples=["partner"]
    )
    partner_id: str | None = Field(
        default=None,
        description="The partner a partner key acts for.",
        examples=["0b6c9a52-3f7e-4d21-8a90-1c2d3e4f5a6b"],
    )
    created_at: datetime = Field(
        description="When it was issued.", examples=["2026-11-27T09:00:00Z"]
    )
    revoked_at: datetime | None = Field(
        default=None, description="When it was revoked; null while valid.", examples=[None]
    )


class ApiKeyCreated(ApiKeyView):
    api_key: str = Field(
        description="The new key. Shown once; only its hash is stored.",
        examples=["drk_4nq2Y3c0iR6Qm2cXo1a9bT6pH8sVwK3eL5uJ7dF0gZ"],
    )


class ApiKeyList(_Output):
    items: list[ApiKeyView] = Field(description="Every key of the partner, newest first.")


# --- partner webhooks -------------------------------------------------------------------


class WebhookUpdate(_Input):
    url: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = Field(
        description="An `https://` (or, for local tests, `http://`) URL that accepts POSTs.",
        examples=["https://portal.northwind.example/hooks/dealreg"],
    )


class WebhookView(_Output):
    url: str = Field(
        description="Where status changes are POSTed.",
        examples=["https://portal.northwind.example/hooks/dealreg"],
    )
    created_at: datetime = Field(description="When it was set.", examples=["2026-11-27T09:00:00Z"])


class WebhookCreated(WebhookView):
    secret: str = Field(
        description="The Standard Webhooks signing secret. Shown once, when the URL is set.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class WebhookDeliveryView(_Output):
    id: str = Field(
        description="The message id (the `webhook-id` header): the same on every retry.",
        examples=["msg_2b7e4c1d9f0a4e3b8c6d5a4f3e2d1c0b"],
    )
    registration_id: str = Field(
        description="The registration the change concerns.",
        examples=["7d9f3c2e-5b1a-4e8f-9c6d-2a1b3c4d5e6f"],
    )
    event_type: str = Field(description="The payload's `type`.", examples=["registration.approved"])
    state: Literal["pending", "delivered", "failed"] = Field(
        description="`pending` (will be tried, or retried), `delivered` (a 2xx answer) or "
        "`failed` (gave up after the last retry).",
        examples=["delivered"],
    )
    attempts: int = Field(description="Attempts made so far.", examples=[1])
    last_status_code: int | None = Field(
        default=None, description="HTTP status of the last attempt.", examples=[200]
    )
    last_error: str | None = Field(
        default=None, description="Why the last attempt failed.", examples=[None]
    )
    created_at: datetime = Field(
        description="When the change happened.", examples=["2026-11-27T10:15:01Z"]
    )
    next_attempt_at: datetime | None = Field(
        default=None,
        description="When the next attempt is due (pending only).",
        examples=["2026-11-27T10:15:06Z"],
    )
    delivered_at: datetime | None = Field(
        default=None, description="When it was delivered.", examples=["2026-11-27T10:15:01Z"]
    )


class WebhookDeliveryPage(_Output):
    items: list[WebhookDeliveryView] = Field(description="Deliveries, newest first.")


# --- errors -----------------------------------------------------------------------------


class FieldError(_Output):
    field: str = Field(
        description="Dotted path of the bad field (`customer.country`), `header.<name>` or "
        "`query.<name>`.",
        examples=["customer.country"],
    )
    message: str = Field(
        description="What is wrong with it.",
        examples=["is not an ISO 3166-1 alpha-2 country code"],
    )


class Problem(BaseModel):
    """An RFC 9457 problem document (`application/problem+json`)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the problem type.", examples=["about:blank"])
    title: str = Field(description="Short summary.", examples=["Validation failed"])
    status: int = Field(description="The HTTP status code.", examples=[422])
    detail: str = Field(
        description="What went wrong, for a person.", examples=["The request has invalid fields."]
    )
    errors: list[FieldError] | None = Field(
        default=None,
        description="For validation errors: each bad field.",
        examples=[
            [{"field": "customer.country", "message": "is not an ISO 3166-1 alpha-2 country code"}]
        ],
    )
