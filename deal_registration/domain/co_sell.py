"""Co-sell invitations on a sourced registration, as partners see them (DOMAIN.md, "Roles").

Pure: who may invite whom, and how an invitation is answered. The holder of an approved
sourced registration invites another active partner with a role (distributor, reseller, MSP,
referral); the invitee accepts or declines, once. The holder sees every invitation it made
and how each was answered; an invitee sees only its own invitation (never the holder, the
amount or the other invitees); nobody else sees anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class InvitationStatus(StrEnum):
    INVITED = "invited"
    ACCEPTED = "accepted"
    DECLINED = "declined"


LIVE = frozenset({InvitationStatus.INVITED, InvitationStatus.ACCEPTED})


class InvitationRefusedError(Exception):
    """The registration or invitation's state does not allow this (HTTP 409)."""


class InviteeRefusedError(Exception):
    """The invited partner cannot be invited (HTTP 422 naming ``partner_id``)."""


@dataclass(frozen=True, kw_only=True)
class Invitable:
    """What deciding an invitation reads: the registration, the invitee and the live
    invitations it already has."""

    registration_role: str
    registration_status: str
    holder_partner_id: str
    invitee_partner_id: str
    invitee_active: bool
    invitee_has_live_invitation: bool


def check_invitation(facts: Invitable) -> None:
    """Only an approved (protected) sourced registration invites; an active partner other
    than the holder, once while its invitation is live (a declined one may be invited again)."""
    if facts.registration_role != "sourced" or facts.registration_status != "approved":
        raise InvitationRefusedError(
            "Only an approved sourced registration may invite co-sell partners; this one is "
            f"{facts.registration_role} and {facts.registration_status}."
        )
    if facts.invitee_partner_id == facts.holder_partner_id:
        raise InviteeRefusedError("You cannot invite your own partner account.")
    if not facts.invitee_active:
        raise InviteeRefusedError("No active partner has this id.")
    if facts.invitee_has_live_invitation:
        raise InvitationRefusedError(
            "This partner already has an invitation on this registration, pending or accepted."
        )


def answer(status: InvitationStatus, *, accept: bool, registration_status: str) -> InvitationStatus:
    """An invitation is answered once, while it is pending; it is accepted only while the
    registration is still approved (a deal that ended has nobody left to co-sell with)."""
    if status is not InvitationStatus.INVITED:
        raise InvitationRefusedError(f"This invitation was already {status.value}.")
    if not accept:
        return InvitationStatus.DECLINED
    if registration_status != "approved":
        raise InvitationRefusedError("The opportunity is no longer open to co-sell.")
    return InvitationStatus.ACCEPTED
