"""Who is calling, and what a caller may do (admin, one partner, or sales ops)."""

from __future__ import annotations

from deal_registration.adapters import repository as repo
from deal_registration.adapters.repository import Session
from deal_registration.domain.errors import ForbiddenError, RateLimitedError, UnauthenticatedError
from deal_registration.handlers.context import ActivePartner, Context, Principal, Row
from services.http.security import admin_token_accepted, hash_api_key

SUSPENDED = "The partner is suspended; it may read but not write."


async def authenticate(ctx: Context, token: str) -> Principal:
    """Who the bearer token is; refused if nobody (revoked keys stop working at once)."""
    if admin_token_accepted(token, ctx.admin_token, ctx.previous_admin_token, now=ctx.clock.now()):
        return Principal(id="admin", role="admin")
    async with ctx.transactions.reading() as session:
        found = await repo.find_api_key(session, hash_api_key(token))
    if found is None:
        raise UnauthenticatedError
    key, partner = found
    principal = (
        Principal(id=key["id"], role="partner", partner_id=key["partner_id"], partner=partner)
        if key["role"] == "partner"
        else Principal(id=key["id"], role="ops")
    )
    if ctx.rate_limiter is not None:
        retry_after = ctx.rate_limiter.check(principal.id)
        if retry_after is not None:
            raise RateLimitedError(retry_after)
    return principal


def require_admin(principal: Principal) -> None:
    if principal.role != "admin":
        raise ForbiddenError("Only the admin may do that.")


def require_ops(principal: Principal) -> None:
    """Sales ops or the admin: what sees every partner."""
    if principal.role not in ("ops", "admin"):
        raise ForbiddenError("Only sales ops may read every partner.")


def require_partner(principal: Principal) -> str:
    if principal.role != "partner" or principal.partner_id is None:
        raise ForbiddenError("Only a partner's API key may do that; ops users read only.")
    return principal.partner_id


async def require_active_partner(session: Session, partner_id: str) -> Row:
    return active(await repo.get_partner(session, partner_id))


def active(partner: Row | None) -> Row:
    if partner is None or partner["status"] != "active":
        raise ForbiddenError(SUSPENDED)
    return partner


async def require_writing_partner(ctx: Context, principal: Principal) -> ActivePartner:
    """The caller's partner if it may write (active); checked before the body is read, so a
    suspended partner is refused even with a bad body. The use case takes the partner from
    here: it is read once per request."""
    partner_id = require_partner(principal)
    partner = principal.partner
    if partner is None:  # not read with the key (a principal made elsewhere)
        async with ctx.transactions.reading() as session:
            partner = await repo.get_partner(session, partner_id)
    return ActivePartner(principal=principal, partner=active(partner))
