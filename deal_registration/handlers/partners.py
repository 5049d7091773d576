"""Partners, ops users and API keys: the admin's use cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from deal_registration.adapters import repository as repo
from deal_registration.adapters.repository import Session
from deal_registration.adapters.tables import outbox
from deal_registration.domain.errors import NotFoundError
from deal_registration.handlers.context import EMITTER, Context, Row, is_uuid
from schemas.envelope import EventEnvelope, EventPayload
from schemas.principals import (
    ApiKeyRevoked,
    OpsKeyIssued,
    PartnerKeyIssued,
    PartnerStatusChanged,
)
from services.clock import new_id
from services.events import Cause
from services.http.security import (
    hash_api_key,
    new_api_key,
)
from services.outbox import stage_events


@dataclass(frozen=True)
class IssuedKey:
    """A new API key: shown once, only its hash is kept."""

    api_key: str
    key_id: str
    created_at: datetime


@dataclass(frozen=True)
class NewPartner:
    """A partner as created, with its first API key."""

    partner: Row
    key: IssuedKey


async def create_partner(
    ctx: Context, *, name: str, tier: str, country: str | None, product_lines: list[str]
) -> NewPartner:
    now = ctx.clock.now()
    partner = {
        "id": new_id(),
        "name": name,
        "tier": tier,
        "status": "active",
        "country": country,
        "product_lines": sorted(set(product_lines)),
        "created_at": now,
        "updated_at": now,
    }
    async with ctx.transactions.transaction() as session:
        await repo.insert_partner(session, partner)
        key = await _issue_key(session, role="partner", partner=partner, now=now)
    return NewPartner(partner=partner, key=key)


async def _issue_key(
    session: Session,
    *,
    role: Literal["partner", "ops"],
    partner: Row | None,
    now: datetime,
    name: str | None = None,
    key_id: str | None = None,
) -> IssuedKey:
    api_key = new_api_key()
    key_id = key_id or new_id()
    key_name = name or (partner["name"] if partner is not None else role)
    await repo.insert_api_key(
        session,
        {
            "id": key_id,
            "key_hash": hash_api_key(api_key),
            "role": role,
            "partner_id": partner["id"] if partner is not None else None,
            "name": key_name,
            "created_at": now,
        },
    )
    issued: EventPayload
    if role == "ops":
        # The resolver and crm_sync authenticate ops users from their own copy of the hashes.
        issued = OpsKeyIssued(
            key_id=key_id,
            principal_id=key_id,
            name=key_name,
            key_hash=hash_api_key(api_key),
            issued_at=now,
        )
    else:
        # The resolver serves partners account overlap (issue 16) from its own copy.
        assert partner is not None  # noqa: S101 - a partner key always has its partner
        issued = PartnerKeyIssued(
            key_id=key_id, partner_id=partner["id"], key_hash=hash_api_key(api_key), issued_at=now
        )
    await stage_events(session, outbox, [_principal_envelope(issued, key_id, now)], now=now)
    return IssuedKey(api_key=api_key, key_id=key_id, created_at=now)


def _principal_envelope(
    payload: EventPayload, principal_id: str, now: datetime
) -> EventEnvelope[Any]:
    """Keyed by the principal (a key's id, or a partner's), so its events keep their order."""
    return EMITTER.envelope(
        payload,
        subject=principal_id,
        partition_key=principal_id,
        cause=Cause(None, new_id()),
        time=now,
    )


async def _existing_partner(session: Session, partner_id: str) -> Row:
    partner = await repo.get_partner(session, partner_id) if is_uuid(partner_id) else None
    if partner is None:
        raise NotFoundError("partner")
    return partner


async def get_partner(ctx: Context, partner_id: str) -> Row:
    async with ctx.transactions.transaction() as session:
        return await _existing_partner(session, partner_id)


async def update_partner(ctx: Context, partner_id: str, changes: dict[str, Any]) -> Row:
    """Apply the given changes (fields left out stay as they are)."""
    changes = dict(changes)
    if "product_lines" in changes:
        changes["product_lines"] = sorted(set(changes["product_lines"]))
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        before = await _existing_partner(session, partner_id)
        await repo.update_partner(session, partner_id, {**changes, "updated_at": now})
        if changes.get("status", before["status"]) != before["status"]:
            # The resolver serves partners too (account overlap): it learns the suspension.
            changed = PartnerStatusChanged(
                partner_id=partner_id, status=changes["status"], changed_at=now
            )
            await stage_events(
                session, outbox, [_principal_envelope(changed, partner_id, now)], now=now
            )
        return await _existing_partner(session, partner_id)


async def create_ops_user(ctx: Context, name: str) -> IssuedKey:
    """A sales-ops user, whose id is its key's."""
    async with ctx.transactions.transaction() as session:
        return await _issue_key(session, role="ops", partner=None, now=ctx.clock.now(), name=name)


async def issue_partner_key(ctx: Context, partner_id: str) -> IssuedKey:
    """A new key for the partner (rotation: issue, switch the frontend, revoke the old one)."""
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        partner = await _existing_partner(session, partner_id)
        return await _issue_key(session, role="partner", partner=partner, now=now)


async def list_partner_keys(ctx: Context, partner_id: str) -> list[Row]:
    async with ctx.transactions.transaction() as session:
        await _existing_partner(session, partner_id)
        return list(await repo.api_keys_of_partner(session, partner_id))


async def revoke_key(ctx: Context, key_id: str) -> None:
    """Revoke a partner or ops key; it stops working at once. Revoking twice is fine."""
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        key = await repo.get_api_key(session, key_id) if is_uuid(key_id) else None
        if key is None:
            raise NotFoundError("API key")
        await repo.revoke_api_key(session, key_id, now=now)
        revoked = ApiKeyRevoked(
            key_id=key_id, principal_id=key_id, key_hash=key["key_hash"], revoked_at=now
        )
        await stage_events(session, outbox, [_principal_envelope(revoked, key_id, now)], now=now)
