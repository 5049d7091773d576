"""The partner's own changes (withdraw, ask for an extension) and how any change is written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from deal_registration import webhooks
from deal_registration.adapters import repository as repo
from deal_registration.adapters.repository import Session
from deal_registration.adapters.tables import outbox
from deal_registration.domain import lifecycle
from deal_registration.domain.errors import ConflictError, NotFoundError
from deal_registration.domain.lifecycle import Change, Current, Extension, Status
from deal_registration.handlers.access import require_active_partner, require_partner
from deal_registration.handlers.context import (
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
from schemas.envelope import EventPayload
from schemas.registration import (
    ExtensionRequested,
    RegistrationWithdrawn,
)
from services.outbox import stage_events


def current_of(row: Row) -> Current:
    extension = row.get("extension_state")
    return Current(
        status=Status(row["status"]),
        extension=Extension(extension) if extension else None,
        protection_expires_at=row.get("protection_expires_at"),
        crm_changed_at=row.get("crm_changed_at"),
        reason_code=row.get("reason_code"),
        appealed=row.get("appealed_at") is not None,
        extensions_left=row.get("extensions_left"),
        editable_fields=tuple(row.get("editable_fields") or ()),
    )


async def withdraw_registration(
    ctx: Context,
    principal: Principal,
    registration_id: str,
    request: IdempotentRequest,
    present: Present,
) -> Answer:
    """Withdraw: the status becomes ``withdrawn`` now and ``RegistrationWithdrawn`` tells the
    resolver to free the protection (and the waitlist behind it)."""

    def event(row: Row, now: datetime) -> EventPayload:
        return RegistrationWithdrawn(
            registration_id=row["id"],
            account_key=row["account_key"],
            product_line=row["product_line"],
            withdrawn_at=now,
            previous_status=row["status"],
        )

    return await request_change(
        ctx, principal, registration_id, request, present, lifecycle.withdraw, event
    )


async def request_extension(
    ctx: Context,
    principal: Principal,
    registration_id: str,
    request: IdempotentRequest,
    present: Present,
) -> Answer:
    """Ask once to extend the protection: ``ExtensionRequested``; the resolver decides."""

    def event(row: Row, now: datetime) -> EventPayload:
        return ExtensionRequested(
            registration_id=row["id"],
            account_key=row["account_key"],
            product_line=row["product_line"],
            requested_at=now,
        )

    return await request_change(
        ctx, principal, registration_id, request, present, lifecycle.request_extension, event
    )


async def request_change(
    ctx: Context,
    principal: Principal,
    registration_id: str,
    request: IdempotentRequest,
    present: Present,
    decide: Callable[..., Change],
    event: Callable[[Row, datetime], EventPayload],
) -> Answer:
    partner_id = require_partner(principal)

    async def act(session: Session) -> Answer:
        await require_active_partner(session, partner_id)
        row = (
            await repo.lock_registration(session, registration_id)
            if is_uuid(registration_id)
            else None
        )
        if row is None or row["partner_id"] != partner_id:
            raise NotFoundError
        now = ctx.clock.now()
        try:
            change = decide(current_of(row), now=now)
        except lifecycle.TransitionRefusedError as refused:
            raise ConflictError(str(refused)) from refused
        payload = event(row, now)
        await apply_change(
            session, row, change, actor=lifecycle.partner_actor(partner_id), event_id=None, now=now
        )
        await stage_events(
            session,
            outbox,
            [registration_envelope(payload, row, causation=None, time=now)],
            now=now,
        )
        updated = await repo.get_registration(session, registration_id)
        assert updated is not None  # noqa: S101 - locked above
        return present(updated)

    return await run_idempotent(ctx, principal, request, act)


async def apply_change(
    session: Session,
    row: Row,
    change: Change,
    *,
    actor: str,
    event_id: str | None,
    now: datetime,
) -> None:
    """Write a change, its history entry (with its ``actor``, see ``lifecycle.actor_of``) and
    (if the partner has a webhook) its delivery."""
    if change.updates:
        await repo.update_registration(session, row["id"], change.updates)
    entry = change.entry
    if entry is None:
        return
    await repo.append_history(
        session,
        {
            "registration_id": row["id"],
            "status": entry.status.value,
            "reason_code": entry.reason_code,
            "reason": entry.reason,
            "actor": actor,
            "event_id": event_id,
            "at": entry.at,
            "recorded_at": now,
        },
    )
    await webhooks.stage_delivery(session, {**row, **change.updates}, entry, actor=actor, now=now)
