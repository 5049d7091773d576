"""Request and response bodies of the deal_registration API.

Input models forbid unknown fields and bound every string, so a typo in a field name is an
error naming that field rather than silently dropped data.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from schemas.accounts import registrable_domain

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=64)]


def _country(value: str) -> str:
    code = value.upper()
    if pycountry.countries.get(alpha_2=code) is None or len(code) != 2:
        raise ValueError("is not an ISO 3166-1 alpha-2 country code")
    return code


def _currency(value: str) -> str:
    code = value.upper()
    if len(code) != 3 or pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError("is not an ISO 4217 currency code")
    return code


def _domain(value: str) -> str:
    registrable = registrable_domain(value)
    if registrable is None:
        raise ValueError("is not a registrable web domain")
    return registrable


CountryCode = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_country)]
CurrencyCode = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_currency)]
WebDomain = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=253), AfterValidator(_domain)
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=2000)


class Customer(_Input):
    name: ShortText = Field(examples=["Acme Corporation"])
    domain: WebDomain | None = Field(
        default=None,
        description="Web domain, URL or e-mail address; stored as the registrable domain.",
        examples=["acme.com"],
    )
    country: CountryCode = Field(examples=["US"])


class Amount(_Input):
    value: Decimal = Field(gt=0, max_digits=16, decimal_places=2, examples=["125000.00"])
    currency: CurrencyCode = Field(examples=["USD"])


class Contact(_Input):
    name: ShortText = Field(examples=["Dana Lee"])
    email: EmailStr = Field(examples=["dana.lee@acme.com"])


class RegistrationCreate(_Input):
    """A partner's registration of one opportunity."""

    customer: Customer
    product_line: Slug = Field(examples=["network-security"])
    deal_type: Literal["new", "renewal", "upsell"] = Field(examples=["new"])
    amount: Amount
    expected_close_date: date = Field(examples=["2027-03-31"])
    contact: Contact | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    partner_reference: Annotated[str, StringConstraints(max_length=100)] | None = None


class CrmLink(BaseModel):
    system: str
    opportunity_id: str
    stage: str | None = None


class RegistrationView(BaseModel):
    """A registration as its partner (or sales ops) sees it."""

    id: str
    partner_id: str
    customer: Customer
    product_line: str
    deal_type: str
    amount: Amount
    expected_close_date: date
    contact: Contact | None = None
    description: str | None = None
    partner_reference: str | None = None
    status: str
    reason_code: str | None = None
    reason: str | None = None
    submitted_at: datetime
    decided_at: datetime | None = None
    protection_expires_at: datetime | None = None
    crm: CrmLink | None = None


class RegistrationPage(BaseModel):
    items: list[RegistrationView]
    next_cursor: str | None = None


class HistoryEntry(BaseModel):
    status: str
    reason_code: str | None = None
    reason: str | None = None
    at: datetime


class History(BaseModel):
    items: list[HistoryEntry]


PartnerTier = Literal["registered", "silver", "gold", "platinum"]


class PartnerCreate(_Input):
    name: ShortText = Field(examples=["Northwind Networks"])
    tier: PartnerTier = Field(examples=["gold"])
    product_lines: list[Slug] = Field(min_length=1, max_length=100, examples=[["network-security"]])
    country: CountryCode | None = None


class PartnerUpdate(_Input):
    name: ShortText | None = None
    tier: PartnerTier | None = None
    product_lines: list[Slug] | None = Field(default=None, min_length=1, max_length=100)
    status: Literal["active", "suspended"] | None = None


class PartnerView(BaseModel):
    id: str
    name: str
    tier: str
    status: str
    product_lines: list[str]
    country: str | None = None
    created_at: datetime


class PartnerCreated(PartnerView):
    api_key: str = Field(description="Shown once; only its hash is stored.")


class OpsUserCreate(_Input):
    name: ShortText


class OpsUserCreated(BaseModel):
    id: str
    name: str
    role: Literal["ops"] = "ops"
    api_key: str = Field(description="Shown once; only its hash is stored.")
