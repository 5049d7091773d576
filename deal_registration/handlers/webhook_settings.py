"""A partner's webhook: set, read, delete, and its recent deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from deal_registration import webhooks
from deal_registration.adapters import repository as repo
from deal_registration.domain import validation as rules
from deal_registration.domain.errors import FieldProblemsError, NotFoundError
from deal_registration.handlers.access import require_active_partner, require_partner
from deal_registration.handlers.context import ActivePartner, Context, Principal, Row
from deal_registration.webhooks.addresses import resolves_only_to_private


@dataclass(frozen=True)
class NewWebhook:
    """A webhook as set, with its signing secret (shown once)."""

    url: str
    created_at: datetime
    secret: str


async def put_webhook(ctx: Context, caller: ActivePartner, url: str) -> NewWebhook:
    """Set the URL and issue a new secret. Setting it again rotates the secret: the previous
    one keeps signing beside the new one for the overlap, so the receiver can switch."""
    partner_id = caller.id
    await _refuse_internal_url(ctx, url)
    now = ctx.clock.now()
    secret = webhooks.new_secret()
    sealed = ctx.webhooks.secrets.seal(secret)
    async with ctx.transactions.transaction() as session:
        previous = await repo.get_webhook(session, partner_id)
        await repo.put_webhook(
            session,
            {
                "partner_id": partner_id,
                "url": url,
                "secret": sealed,
                "previous_secret": previous["secret"] if previous else None,
                "previous_secret_until": now + ctx.webhooks.rotation_overlap if previous else None,
                "created_at": now,
            },
        )
    return NewWebhook(url=url, created_at=now, secret=secret)


async def rotate_webhook_secret(
    ctx: Context, partner_id: str, *, overlap: timedelta | None = None
) -> NewWebhook:
    """The admin's rotation (``dealreg keys rotate webhook-secret``): a new secret for the
    partner's webhook, at the same URL. Deliveries are signed with the new secret and, until
    ``overlap`` (default: the service's ``DEALREG_WEBHOOK_ROTATION_OVERLAP_SECONDS``) ends,
    with the previous one too, so a receiver verifying either keeps accepting them."""
    now = ctx.clock.now()
    secret = webhooks.new_secret()
    overlap = ctx.webhooks.rotation_overlap if overlap is None else overlap
    async with ctx.transactions.transaction() as session:
        if await repo.get_partner(session, partner_id) is None:
            raise NotFoundError("partner")
        current = await repo.get_webhook(session, partner_id)
        if current is None:
            raise NotFoundError("webhook")
        await repo.put_webhook(
            session,
            {
                "partner_id": partner_id,
                "url": current["url"],
                "secret": ctx.webhooks.secrets.seal(secret),
                "previous_secret": current["secret"],
                "previous_secret_until": now
                + (ctx.webhooks.rotation_overlap if overlap is None else overlap),
                "created_at": now,
            },
        )
    return NewWebhook(url=current["url"], created_at=now, secret=secret)


async def _refuse_internal_url(ctx: Context, url: str) -> None:
    """Refuse, naming ``url``, a URL that is malformed or points inside our network: by an
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
        raise FieldProblemsError([{"field": "url", "message": problem}])


async def get_webhook(ctx: Context, principal: Principal) -> Row:
    partner_id = require_partner(principal)
    async with ctx.transactions.transaction() as session:
        row = await repo.get_webhook(session, partner_id)
    if row is None:
        raise NotFoundError("webhook")
    return row


async def delete_webhook(ctx: Context, principal: Principal) -> None:
    partner_id = require_partner(principal)
    async with ctx.transactions.transaction() as session:
        await require_active_partner(session, partner_id)
        if not await repo.delete_webhook(session, partner_id):
            raise NotFoundError("webhook")


async def webhook_deliveries(ctx: Context, principal: Principal, *, limit: int) -> list[Row]:
    """The partner's deliveries, newest first."""
    partner_id = require_partner(principal)
    async with ctx.transactions.transaction() as session:
        return list(await repo.deliveries_of_partner(session, partner_id, limit=limit))
