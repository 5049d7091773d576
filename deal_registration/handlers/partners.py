"""Partners, ops users and API keys: the admin's use cases."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from deal_registration.adapters import repository as repo
from deal_registration.adapters.tables import outbox
from deal_registration.api.models import (
    ApiKeyCreated,
    ApiKeyView,
    OpsUserCreate,
    OpsUserCreated,
    PartnerCreate,
    PartnerCreated,
    PartnerUpdate,
    PartnerView,
)
from deal_registration.handlers.context import EMITTER, Context, is_uuid, not_found
from schemas.envelope import EventEnvelope, EventPayload
from schemas.principals import ApiKeyRevoked, OpsKeyIssued
from services.clock import new_id
from services.events import Cause
from services.http.security import (
    hash_api_key,
    new_api_key,
)
from services.outbox import stage_events


async def create_partner(ctx: Context, body: PartnerCreate) -> PartnerCreated:
    now = ctx.clock.now()
    partner = {
        "id": new_id(),
        "name": body.name,
        "tier": body.tier,
        "status": "active",
        "country": body.country,
        "product_lines": sorted(set(body.product_lines)),
        "created_at": now,
        "updated_at": now,
    }
    async with ctx.transactions.transaction() as session:
        await repo.insert_partner(session, partner)
        api_key, key_id = await _issue_key(session, role="partner", partner=partner, now=now)
    return PartnerCreated(**_partner_view(partner).model_dump(), api_key=api_key, api_key_id=key_id)


async def _issue_key(
    session: AsyncSession,
    *,
    role: Literal["partner", "ops"],
    partner: dict[str, Any] | RowMapping | None,
    now: datetime,
    name: str | None = None,
    key_id: str | None = None,
) -> tuple[str, str]:
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
    if role == "ops":
        # The resolver and crm_sync authenticate ops users from their own copy of the hashes.
        issued = OpsKeyIssued(
            key_id=key_id,
            principal_id=key_id,
            name=key_name,
            key_hash=hash_api_key(api_key),
            issued_at=now,
        )
        await stage_events(session, outbox, [_principal_envelope(issued, key_id, now)], now=now)
    return api_key, key_id


def _principal_envelope(payload: EventPayload, key_id: str, now: datetime) -> EventEnvelope[Any]:
    return EMITTER.envelope(
        payload, subject=key_id, partition_key=key_id, cause=Cause(None, new_id()), time=now
    )


async def _partner_or_404(session: AsyncSession, partner_id: str) -> RowMapping:
    partner = await repo.get_partner(session, partner_id) if is_uuid(partner_id) else None
    if partner is None:
        raise not_found("partner")
    return partner


async def get_partner(ctx: Context, partner_id: str) -> PartnerView:
    async with ctx.transactions.transaction() as session:
        partner = await _partner_or_404(session, partner_id)
    return _partner_view(dict(partner))


async def update_partner(ctx: Context, partner_id: str, body: PartnerUpdate) -> PartnerView:
    changes: dict[str, Any] = body.model_dump(exclude_none=True)
    if "product_lines" in changes:
        changes["product_lines"] = sorted(set(changes["product_lines"]))
    async with ctx.transactions.transaction() as session:
        await _partner_or_404(session, partner_id)
        await repo.update_partner(session, partner_id, {**changes, "updated_at": ctx.clock.now()})
        partner = await repo.get_partner(session, partner_id)
    assert partner is not None  # noqa: S101 - read back in the same transaction
    return _partner_view(dict(partner))


async def create_ops_user(ctx: Context, body: OpsUserCreate) -> OpsUserCreated:
    async with ctx.transactions.transaction() as session:
        api_key, key_id = await _issue_key(
            session, role="ops", partner=None, now=ctx.clock.now(), name=body.name
        )
    return OpsUserCreated(id=key_id, name=body.name, api_key=api_key, api_key_id=key_id)


async def issue_partner_key(ctx: Context, partner_id: str) -> ApiKeyCreated:
    """A new key for the partner (rotation: issue, switch the frontend, revoke the old one)."""
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        partner = await _partner_or_404(session, partner_id)
        api_key, key_id = await _issue_key(session, role="partner", partner=partner, now=now)
    return ApiKeyCreated(
        id=key_id, role="partner", partner_id=partner_id, created_at=now, api_key=api_key
    )


async def list_partner_keys(ctx: Context, partner_id: str) -> list[ApiKeyView]:
    async with ctx.transactions.transaction() as session:
        await _partner_or_404(session, partner_id)
        rows = await repo.api_keys_of_partner(session, partner_id)
    return [_key_view(row) for row in rows]


async def revoke_key(ctx: Context, key_id: str) -> None:
    """Revoke a partner or ops key; the next request with it is 401. Revoking twice is fine."""
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        key = await repo.get_api_key(session, key_id) if is_uuid(key_id) else None
        if key is None:
            raise not_found("API key")
        await repo.revoke_api_key(session, key_id, now=now)
        revoked = ApiKeyRevoked(
            key_id=key_id, principal_id=key_id, key_hash=key["key_hash"], revoked_at=now
        )
        await stage_events(session, outbox, [_principal_envelope(revoked, key_id, now)], now=now)


def _key_view(row: RowMapping) -> ApiKeyView:
    return ApiKeyView(
        id=row["id"],
        role=row["role"],
        partner_id=row["partner_id"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def _partner_view(partner: dict[str, Any]) -> PartnerView:
    return PartnerView(
        id=partner["id"],
        name=partner["name"],
        tier=partner["tier"],
        status=partner["status"],
        product_lines=list(partner["product_lines"]),
        country=partner["country"],
        created_at=partner["created_at"],
    )
