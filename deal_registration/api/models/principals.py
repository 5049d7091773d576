"""Partners, ops users and API keys (the admin's bodies)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import (
    Field,
)

from deal_registration.api.models.fields import (
    CountryCode,
    PartnerStatus,
    PartnerTier,
    ShortText,
    Slug,
    _Input,
    _Output,
)


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
