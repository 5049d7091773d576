"""Co-sell invitations: what the holder sends, what the holder and the invitee read back.

The holder's view names the invited partner (it chose it); the invitee's view names the
customer and product line it is invited on, never the holder, the amount or other invitees.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from deal_registration.api.models.fields import CoSellRole, _Input, _Output

InvitationStatus = Literal["invited", "accepted", "declined"]


class CoSellInvite(_Input):
    """The holder invites another partner to co-sell its approved sourced registration."""

    partner_id: str = Field(
        max_length=36,
        description="The invited partner's id.",
        examples=["0b6c9a52-3f7e-4d21-8a90-1c2d3e4f5a6b"],
    )
    role: CoSellRole = Field(
        description="`distributor`, `reseller`, `msp` or `referral`.", examples=["distributor"]
    )


class CoSellInvitationView(_Output):
    """An invitation as the holder (or ops) reads it: who was invited, as what, the answer."""

    id: str = Field(
        description="The invitation's id.", examples=["5e0b2c1a-7d3f-4b8e-9a6c-1f2e3d4c5b6a"]
    )
    registration_id: str = Field(
        description="The sourced registration it is on.",
        examples=["7d9f3c2e-5b1a-4e8f-9c6d-2a1b3c4d5e6f"],
    )
    partner_id: str = Field(
        description="The invited partner.", examples=["0b6c9a52-3f7e-4d21-8a90-1c2d3e4f5a6b"]
    )
    partner_name: str = Field(description="The invited partner's name.", examples=["Northwind"])
    role: CoSellRole = Field(description="The role it was invited in.", examples=["distributor"])
    status: InvitationStatus = Field(
        description="`invited`, `accepted` or `declined`.", examples=["accepted"]
    )
    invited_at: datetime = Field(
        description="When it was invited (RFC 3339, UTC).", examples=["2026-11-27T10:15:00Z"]
    )
    responded_at: datetime | None = Field(
        default=None, description="When the invitee answered.", examples=["2026-11-27T10:15:00Z"]
    )


class CoSellInvitationList(_Output):
    items: list[CoSellInvitationView] = Field(description="Oldest first.")


class InviteeCustomer(_Output):
    name: str = Field(description="The customer's name.", examples=["Acme Corporation"])
    domain: str | None = Field(
        default=None, description="The customer's web domain.", examples=["acme.com"]
    )
    country: str = Field(description="ISO 3166-1 alpha-2.", examples=["US"])


class ReceivedInvitationView(_Output):
    """An invitation as its invitee reads it: its own part only (no holder, amount or other
    partners)."""

    id: str = Field(
        description="The invitation's id.", examples=["5e0b2c1a-7d3f-4b8e-9a6c-1f2e3d4c5b6a"]
    )
    role: CoSellRole = Field(description="Your role on the opportunity.", examples=["reseller"])
    status: InvitationStatus = Field(
        description="`invited`, `accepted` or `declined`.", examples=["accepted"]
    )
    customer: InviteeCustomer = Field(description="The end customer of the opportunity.")
    product_line: str = Field(
        description="The product line of the opportunity.", examples=["network-security"]
    )
    invited_at: datetime = Field(
        description="When it was invited (RFC 3339, UTC).", examples=["2026-11-27T10:15:00Z"]
    )
    responded_at: datetime | None = Field(
        default=None, description="When the invitee answered.", examples=["2026-11-27T10:15:00Z"]
    )


class ReceivedInvitationList(_Output):
    items: list[ReceivedInvitationView] = Field(description="Oldest first.")
