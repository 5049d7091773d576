"""A partner's webhook: set, read, delete, and its recent deliveries."""

from __future__ import annotations

from urllib.parse import urlsplit

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
from deal_registration.webhooks.addresses import resolves_only_to_private


async def put_webhook(ctx: Context, principal: Principal, body: WebhookUpdate) -> WebhookCreated:
    """Set the URL and issue a new secret. Setting it again rotates the secret: the previous
    one keeps signing beside the new one for the overlap, so the receiver can switch."""
    partner_id = require_partner(principal)
    await _refuse_internal_url(ctx, body.url)
    now = ctx.clock.now()
    secret = webhooks.new_secret()
    sealed = ctx.webhooks.secrets.seal(secret)
    async with ctx.transactions.transaction() as session:
        await require_active_partner(session, partner_id)
        previous = await repo.get_webhook(session, partner_id)
        await repo.put_webhook(
            session,
            {
                "partner_id": partner_id,
                "url": body.url,
                "secret": sealed,
                "previous_secret": previous["secret"] if previous else None,
                "previous_secret_until": now + ctx.webhooks.rotation_overlap if previous else None,
                "created_at": now,
            },
        )
    return WebhookCreated(url=body.url, created_at=now, secret=secret)


async def _refuse_internal_url(ctx: Context, url: str) -> None:
    """422 naming ``url`` for a URL that is malformed or points inside our network: by an
    address literal, or by a name that resolves only to internal addresses."""
    allow_private = ctx.webhooks.allow_private_addresses
    problem = rules.webhook_url_problem(url, allow_private=allow_private)
    host = urlsplit(url).hostname or ""
    if (
        problem is None
        and not allow_private
        and not rules.is_address_literal(host)
        and await resolves_only_to_private(host, resolver=ctx.webhooks.resolver)
    ):
        problem = "must not point to a private, loopback or link-local address"
    if problem:
        raise invalid([{"field": "url", "message": problem}])


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
