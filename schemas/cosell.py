"""Events about the partners on one opportunity besides its sourced holder.

Flow: an ``influence`` registration (``RegistrationSubmitted`` with ``role: influence``) is
answered by the resolver with ``InfluenceAccepted`` or ``InfluenceRejected``: never exclusive,
never waiting in review, never creating or touching a protection. The holder of an approved
sourced registration invites co-sell partners through deal_registration, which emits
``CoSellInvited`` and then ``CoSellAccepted`` or ``CoSellDeclined`` as each invitee answers.
crm_sync puts every partner and role on the CRM opportunity. Keyed by the customer account's
matching key, like every registration event.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.envelope import EventPayload, register

CoSellRole = Literal["distributor", "reseller", "msp", "referral"]
CO_SELL_ROLES: tuple[str, ...] = ("distributor", "reseller", "msp", "referral")


@register
class InfluenceAccepted(EventPayload):
    """The resolver accepted a partner's influence claim: it is recorded for the account and
    product line (for the CRM deal and attribution). It holds no protection and blocks no one."""

    event_type = "dealreg.influence.accepted"

    registration_id: str
    account_key: str
    product_line: str
    partner_id: str
    partner_name: str
    decided_at: AwareDatetime
    policy_version: int
    rule: str = Field(default="influence", description="The rule of engagement that decided.")
    reason_code: str = "INFLUENCE_ACCEPTED"
    reason: str = Field(description="A sentence the partner may read; never names another partner.")


@register
class InfluenceRejected(EventPayload):
    """The resolver rejected a partner's influence claim (partner not active, product line not
    authorised, or a house account when the policy rejects those)."""

    event_type = "dealreg.influence.rejected"

    registration_id: str
    account_key: str
    product_line: str
    partner_id: str
    decided_at: AwareDatetime
    policy_version: int
    rule: str
    reason_code: str
    reason: str = Field(description="A sentence the partner may read; never names another partner.")


@register
class CoSellInvited(EventPayload):
    """The holder of an approved sourced registration invited another partner to co-sell it
    with a role. ``registration_id`` is the sourced registration."""

    event_type = "dealreg.cosell.invited"

    invitation_id: str
    registration_id: str = Field(description="The sourced registration the invitation is on.")
    account_key: str
    product_line: str
    holder_partner_id: str
    partner_id: str = Field(description="The invited partner.")
    partner_name: str
    role: CoSellRole
    invited_at: AwareDatetime


@register
class CoSellAccepted(EventPayload):
    """The invited partner accepted: it co-sells the opportunity in its role."""

    event_type = "dealreg.cosell.accepted"

    invitation_id: str
    registration_id: str = Field(description="The sourced registration the invitation is on.")
    account_key: str
    product_line: str
    holder_partner_id: str
    partner_id: str = Field(description="The invited partner.")
    partner_name: str
    role: CoSellRole
    accepted_at: AwareDatetime


@register
class CoSellDeclined(EventPayload):
    """The invited partner declined: it takes no part in the opportunity."""

    event_type = "dealreg.cosell.declined"

    invitation_id: str
    registration_id: str = Field(description="The sourced registration the invitation is on.")
    account_key: str
    product_line: str
    holder_partner_id: str
    partner_id: str = Field(description="The invited partner.")
    role: CoSellRole
    declined_at: AwareDatetime
