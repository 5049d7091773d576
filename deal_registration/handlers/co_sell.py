"""Co-sell invitations: the holder of an approved sourced registration invites partners with
a role; each invitee accepts or declines. Each step is stored with its event
(``CoSellInvited``, ``CoSellAccepted``, ``CoSellDeclined``) in one transaction.

Who sees what: the holder (and ops) read the invitations on the registration; an invitee reads
only its own invitation; anyone else is answered 404, as for an invitation that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from deal_registration.adapters import co_sell as store
from deal_registration.adapters import repository as repo
from deal_registration.adapters.repository import Session
from deal_registration.adapters.tables import outbox
from deal_registration.domain import co_sell
from deal_registration.domain.errors import ConflictError, FieldProblemsError, NotFoundError
from deal_registration.handlers.access import require_active_partner, require_partner
from deal_registration.handlers.context import (
    ActivePartner,
    Context,
    Principal,
    Row,
    is_uuid,
    registration_envelope,
)
from deal_registration.handlers.idempotency import (
    Answer,
    IdempotentRequest,
    Present,
    run_idempotent,
)
from schemas.cosell import CoSellAccepted, CoSellDeclined, CoSellInvited, CoSellRole
from schemas.envelope import EventPayload
from services.clock import new_id
from services.outbox import stage_events

INVITATION = "invitation"


@dataclass(frozen=True)
class Invite:
    partner_id: str
    role: CoSellRole


async def invite_partner(
    ctx: Context,
    caller: ActivePartner,
    registration_id: str,
    invite: Invite,
    request: IdempotentRequest,
    present: Present,
) -> Answer:
    """The holder invites a partner with a role: ``invited`` and ``CoSellInvited``."""

    async def act(session: Session) -> Answer:
        registration = await _own_registration(session, caller.id, registration_id)
        invitee = (
            await repo.get_partner(session, invite.partner_id)
            if is_uuid(invite.partner_id)
            else None
        )
        facts = co_sell.Invitable(
            registration_role=registration.get("role") or "sourced",
            registration_status=registration["status"],
            holder_partner_id=caller.id,
            invitee_partner_id=invite.partner_id,
            invitee_active=invitee is not None and invitee["status"] == "active",
            invitee_has_live_invitation=await store.has_live_invitation(
                session, registration_id, invite.partner_id
            ),
        )
        _checked(facts)
        assert invitee is not None  # noqa: S101 - checked: an active partner
        now = ctx.clock.now()
        row = {
            "id": new_id(),
            "registration_id": registration_id,
            "holder_partner_id": caller.id,
            "partner_id": invite.partner_id,
            "role": invite.role,
            "status": co_sell.InvitationStatus.INVITED.value,
            "invited_at": now,
            "responded_at": None,
            "correlation_id": registration["correlation_id"],
        }
        await store.insert_invitation(session, row)
        event = CoSellInvited(
            invitation_id=row["id"],
            registration_id=registration_id,
            account_key=registration["account_key"],
            product_line=registration["product_line"],
            holder_partner_id=caller.id,
            partner_id=invite.partner_id,
            partner_name=invitee["name"],
            role=invite.role,
            invited_at=now,
        )
        await _stage(session, event, registration, now=now)
        return present({**row, "partner_name": invitee["name"]})

    return await run_idempotent(ctx, caller.principal, request, act)


def _checked(facts: co_sell.Invitable) -> None:
    try:
        co_sell.check_invitation(facts)
    except co_sell.InvitationRefusedError as refused:
        raise ConflictError(str(refused)) from refused
    except co_sell.InviteeRefusedError as refused:
        raise FieldProblemsError([{"field": "partner_id", "message": str(refused)}]) from refused


async def invitations_on(ctx: Context, principal: Principal, registration_id: str) -> list[Row]:
    """The invitations on a registration: its holder's (and ops') to read, 404 for others."""
    async with ctx.transactions.transaction() as session:
        registration = (
            await repo.get_registration(session, registration_id)
            if is_uuid(registration_id)
            else None
        )
        if registration is None or (
            principal.role == "partner" and registration["partner_id"] != principal.partner_id
        ):
            raise NotFoundError
        return list(await store.invitations_on(session, registration_id))


async def my_invitations(ctx: Context, principal: Principal) -> list[Row]:
    """The invitations the caller's partner received (only its own part of each)."""
    partner_id = require_partner(principal)
    async with ctx.transactions.transaction() as session:
        return list(await store.invitations_of_partner(session, partner_id))


async def get_invitation(ctx: Context, principal: Principal, invitation_id: str) -> Row:
    """An invitation, to its invitee only; anyone else is answered as if it did not exist."""
    partner_id = require_partner(principal)
    async with ctx.transactions.transaction() as session:
        return await _own_invitation(session, partner_id, invitation_id)


async def answer_invitation(
    ctx: Context,
    principal: Principal,
    invitation_id: str,
    *,
    accept: bool,
    request: IdempotentRequest,
    present: Present,
) -> Answer:
    """The invitee accepts (``CoSellAccepted``) or declines (``CoSellDeclined``), once."""
    partner_id = require_partner(principal)

    async def act(session: Session) -> Answer:
        await require_active_partner(session, partner_id)
        invitation = await _own_invitation(session, partner_id, invitation_id, for_update=True)
        try:
            status = co_sell.answer(
                co_sell.InvitationStatus(invitation["status"]),
                accept=accept,
                registration_status=invitation["registration_status"],
            )
        except co_sell.InvitationRefusedError as refused:
            raise ConflictError(str(refused)) from refused
        now = ctx.clock.now()
        await store.record_answer(session, invitation_id, status=status.value, now=now)
        registration = await repo.get_registration(session, invitation["registration_id"])
        assert registration is not None  # noqa: S101 - a foreign key
        await _stage(session, _answered(invitation, status, now), registration, now=now)
        answered = await store.get_invitation(session, invitation_id)
        assert answered is not None  # noqa: S101 - read above
        return present(answered)

    return await run_idempotent(ctx, principal, request, act)


def _answered(invitation: Row, status: co_sell.InvitationStatus, now: datetime) -> EventPayload:
    common = {
        "invitation_id": invitation["id"],
        "registration_id": invitation["registration_id"],
        "account_key": invitation["account_key"],
        "product_line": invitation["product_line"],
        "holder_partner_id": invitation["holder_partner_id"],
        "partner_id": invitation["partner_id"],
        "role": invitation["role"],
    }
    if status is co_sell.InvitationStatus.ACCEPTED:
        return CoSellAccepted.model_validate(
            {**common, "partner_name": invitation["partner_name"], "accepted_at": now}
        )
    return CoSellDeclined.model_validate({**common, "declined_at": now})


async def _own_registration(session: Session, partner_id: str, registration_id: str) -> Row:
    await require_active_partner(session, partner_id)
    row = (
        await repo.lock_registration(session, registration_id) if is_uuid(registration_id) else None
    )
    if row is None or row["partner_id"] != partner_id:
        raise NotFoundError
    return row


async def _own_invitation(
    session: Session, partner_id: str, invitation_id: str, *, for_update: bool = False
) -> Row:
    row = (
        await store.get_invitation(session, invitation_id, for_update=for_update)
        if is_uuid(invitation_id)
        else None
    )
    if row is None or row["partner_id"] != partner_id:
        raise NotFoundError(INVITATION)
    return row


async def _stage(
    session: Session, event: EventPayload, registration: Row, *, now: datetime
) -> None:
    envelope = registration_envelope(event, registration, causation=None, time=now)
    await stage_events(session, outbox, [envelope], now=now)
