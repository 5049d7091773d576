"""``Idempotency-Key``: one effect per key and caller; a retry gets the stored answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from deal_registration.adapters import repository as repo
from deal_registration.handlers.context import Context, Principal, Response
from services.http.problems import ProblemError


def request_fingerprint(method: str, path: str, body: dict[str, Any] | None) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def run_idempotent(
    ctx: Context,
    principal: Principal,
    key: str | None,
    fingerprint: str,
    action: Callable[[AsyncSession], Awaitable[Response]],
) -> Response:
    """Run ``action`` once per (caller, Idempotency-Key); a retry gets the stored response.

    The key row is inserted first in the action's transaction: a concurrent request with the
    same key blocks on it, and once the first commits, fails and replays its response. Errors
    roll the key back with everything else, so a corrected retry may reuse the key.
    """
    if key is None:
        async with ctx.transactions.transaction() as session:
            return await action(session)
    replay = await _replay(ctx, principal, key, fingerprint)
    if replay is not None:
        return replay
    try:
        async with ctx.transactions.transaction() as session:
            await repo.claim_idempotency_key(
                session,
                principal_id=principal.id,
                key=key,
                request_hash=fingerprint,
                now=ctx.clock.now(),
            )
            status_code, response = await action(session)
            await repo.complete_idempotency_key(
                session,
                principal_id=principal.id,
                key=key,
                status_code=status_code,
                response=response,
            )
        return status_code, response
    except IntegrityError:
        replay = await _replay(ctx, principal, key, fingerprint)
        if replay is None:
            raise
        return replay


async def _replay(
    ctx: Context, principal: Principal, key: str, fingerprint: str
) -> Response | None:
    async with ctx.transactions.reading() as session:
        stored = await repo.find_idempotent_response(session, principal.id, key)
    if stored is None:
        return None
    if stored["request_hash"] != fingerprint:
        raise ProblemError(
            422,
            "This Idempotency-Key was already used with a different request.",
            title="Idempotency key reused",
            errors=[{"field": "header.idempotency-key", "message": "was used for another request"}],
        )
    return int(stored["status_code"]), dict(stored["response"])
