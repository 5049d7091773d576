"""A partner's webhook: set, read, delete, and its recent deliveries."""

from __future__ import annotations

from deal_registration import webhooks
from deal_registration.adapters import repository as repo
from deal_registration.api.models import (
    WebhookCreated,
    WebhookDeliveryView,
    WebhookUpdate,
    WebhookView,
)
from deal_registration.domain import validation as rules
from deal_registration.handlers.access import require_active_partner, require_partner
from deal_registration.handlers.context import Context, Principal, invalid, not_found


async def put_webhook(ctx: Context, principal: Principal, body: WebhookUpdate) -> WebhookCreated:
    partner_id = require_partner(principal)
    problem = rules.webhook_url_problem(body.url)
    if problem:
        raise invalid([{"field": "url", "message": problem}])
    now = ctx.clock.now()
    secret = webhooks.new_secret()
    async with ctx.transactions.transaction() as session:
        await require_active_partner(session, partner_id)
        await repo.put_webhook(
            session,
            {"partner_id": partner_id, "url": body.url, "secret": secret, "created_at": now},
        )
    return WebhookCreated(url=body.url, created_at=now, secret=secret)


async def get_webhook(ctx: Context, principal: Principal) -> WebhookView:
    partner_id = require_partner(principal)
    async with ctx.transactions.transaction() as session:
        row = await repo.get_webhook(session, partner_id)
    if row is None:
        raise not_found("webhook")
    return WebhookView(url=row["url"], created_at=row["created_at"])


async def delete_webhook(ctx: Context, principal: Principal) -> None:
    partner_id = require_partner(principal)
    async with ctx.transactions.transaction() as session:
        await require_active_partner(session, partner_id)
        if not await repo.delete_webhook(session, partner_id):
            raise not_found("webhook")


async def webhook_deliveries(
    ctx: Context, principal: Principal, *, limit: int
) -> list[WebhookDeliveryView]:
    partner_id = require_partner(principal)
    async with ctx.transactions.transaction() as session:
        rows = await repo.deliveries_of_partner(session, partner_id, limit=limit)
    return [webhooks.delivery_view(row) for row in rows]
