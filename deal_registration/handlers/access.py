"""Who is calling, and what a caller may do (admin, one partner, or sales ops)."""

from __future__ import annotations

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from deal_registration.adapters import repository as repo
from deal_registration.handlers.context import Context, Principal
from services.http.problems import ProblemError
from services.http.security import (
    forbidden,
    hash_api_key,
    is_admin_token,
    unauthorized,
)


async def authenticate(ctx: Context, token: str) -> Principal:
    """Who the bearer token is; 401 if nobody (revoked keys stop working at once)."""
    if is_admin_token(token, ctx.admin_token):
        return Principal(id="admin", role="admin")
    async with ctx.transactions.reading() as session:
        key = await repo.find_api_key(session, hash_api_key(token))
    if key is None:
        raise unauthorized()
    principal = (
        Principal(id=key["id"], role="partner", partner_id=key["partner_id"])
        if key["role"] == "partner"
        else Principal(id=key["id"], role="ops")
    )
    if ctx.rate_limiter is not None:
        retry_after = ctx.rate_limiter.check(principal.id)
        if retry_after is not None:
            raise ProblemError(
                429,
                "Too many requests for this API key; retry after the given number of seconds.",
                title="Too Many Requests",
                headers={"Retry-After": str(retry_after)},
            )
    return principal


def require_admin(principal: Principal) -> None:
    if principal.role != "admin":
        raise forbidden("Only the admin may do that.")


def require_partner(principal: Principal) -> str:
    if principal.role != "partner" or principal.partner_id is None:
        raise forbidden("Only a partner's API key may do that; ops users read only.")
    return principal.partner_id


async def require_active_partner(session: AsyncSession, partner_id: str) -> RowMapping:
    partner = await repo.get_partner(session, partner_id)
    if partner is None or partner["status"] != "active":
        raise forbidden("The partner is suspended; it may read but not write.")
    return partner


async def require_writing_partner(ctx: Context, principal: Principal) -> str:
    """The caller's partner id if it is a partner that may write (active); checked before the
    body is read, so a suspended partner is 403 even with a bad body."""
    partner_id = require_partner(principal)
    async with ctx.transactions.reading() as session:
        await require_active_partner(session, partner_id)
    return partner_id
