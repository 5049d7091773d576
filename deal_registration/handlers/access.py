"""Who is calling, and what a caller may do (admin, one partner, or sales ops)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from deal_registration.adapters import repository as repo
from deal_registration.adapters.repository import Session
from deal_registration.domain.errors import ForbiddenError, RateLimitedError, UnauthenticatedError
from deal_registration.handlers.context import ActivePartner, Context, Principal, Row
from services.http.security import admin_token_accepted, hash_api_key

SUSPENDED = "The partner is suspended; it may read but not write."


async def authenticate(ctx: Context, token: str) -> Principal:
    """Who the bearer token is; refused if nobody (revoked keys stop working at once)."""
    if _is_admin(ctx, token):
        return ADMIN
    async with ctx.transactions.reading() as session:
        return await _key_holder(ctx, session, token)


ADMIN = Principal(id="admin", role="admin")


def _is_admin(ctx: Context, token: str) -> bool:
    return admin_token_accepted(
        token, ctx.admin_token, ctx.previous_admin_token, now=ctx.clock.now()
    )


async def _key_holder(ctx: Context, session: Session, token: str) -> Principal:
    """The partner or ops user the API key belongs to, read in ``session``, within its rate
    limit; refused if nobody."""
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


@dataclass(frozen=True)
class PartnerWrite:
    """A writing partner's caller and the write transaction its request runs in
    (:meth:`transaction`)."""

    caller: ActivePartner
    _ctx: Context
    _session: Session | None  # the transaction the caller was read in, if it was

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        """The request's write transaction: the one the caller was read in (committed when
        :func:`partner_write`'s block ends), else a new one, committed when this block ends."""
        if self._session is not None:
            yield self._session
            return
        async with self._ctx.transactions.transaction() as session:
            yield session


@asynccontextmanager
async def partner_write(ctx: Context, token: str) -> AsyncIterator[PartnerWrite]:
    """The caller as :func:`authenticate` and :func:`require_writing_partner` find it, with
    the same refusals in the same order (401, 429, 403; the admin token before any
    transaction), and the write transaction the request runs in.

    On PostgreSQL the key is read inside that transaction (committed when this block ends,
    rolled back on an error): one transaction per request instead of a read and then a write,
    for intake's hot path. On SQLite, whose writers take turns, the key is read before, outside
    any turn: read inside, it would lengthen every writer's turn, and under load each request
    would wait for the reads of all those queued before it."""
    if _is_admin(ctx, token):
        require_partner(ADMIN)
    if ctx.transactions.writers_take_turns:
        principal = await authenticate(ctx, token)
        yield PartnerWrite(
            caller=await require_writing_partner(ctx, principal), _ctx=ctx, _session=None
        )
        return
    async with ctx.transactions.transaction() as session:
        principal = await _key_holder(ctx, session, token)
        caller = await require_writing_partner(ctx, principal)
        yield PartnerWrite(caller=caller, _ctx=ctx, _session=session)
