"""``Idempotency-Key``: one effect per key and caller; a retry gets the stored answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from deal_registration.adapters import repository as repo
from deal_registration.adapters.repository import DuplicateKeyError, Session
from deal_registration.domain.errors import IdempotencyKeyReusedError
from deal_registration.handlers.context import Context, Principal, Row


@dataclass(frozen=True)
class IdempotentRequest:
    """A request's ``Idempotency-Key`` (None: none sent) and the fingerprint of the request
    (:func:`request_fingerprint`): the same key with another request is refused."""

    key: str | None
    fingerprint: str


@dataclass(frozen=True)
class Answer:
    """What a request answered, as the API rendered it, kept with its Idempotency-Key so a
    retry gets exactly the same answer. The use cases pass it through without reading it."""

    status_code: int
    body: dict[str, Any]


# How the API renders a use case's result (the registration) as its answer.
Present = Callable[[Row], Answer]


def request_fingerprint(method: str, path: str, body: dict[str, Any] | None) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def run_idempotent(
    ctx: Context,
    principal: Principal,
    request: IdempotentRequest,
    action: Callable[[Session], Awaitable[Answer]],
) -> Answer:
    """Run ``action`` once per (caller, Idempotency-Key); a retry gets the stored answer.

    The key row is inserted first in the action's transaction: a concurrent request with the
    same key blocks on it, and once the first commits, fails and replays its answer. Errors
    roll the key back with everything else, so a corrected retry may reuse the key.
    """
    key = request.key
    if key is None:
        async with ctx.transactions.transaction() as session:
            return await action(session)
    replay = await _replay(ctx, principal, key, request.fingerprint)
    if replay is not None:
        return replay
    try:
        async with ctx.transactions.transaction() as session:
            await repo.claim_idempotency_key(
                session,
                principal_id=principal.id,
                key=key,
                request_hash=request.fingerprint,
                now=ctx.clock.now(),
            )
            answer = await action(session)
            await repo.complete_idempotency_key(
                session,
                principal_id=principal.id,
                key=key,
                status_code=answer.status_code,
                response=answer.body,
            )
        return answer
    except DuplicateKeyError:
        replay = await _replay(ctx, principal, key, request.fingerprint)
        if replay is None:
            raise
        return replay


async def _replay(ctx: Context, principal: Principal, key: str, fingerprint: str) -> Answer | None:
    async with ctx.transactions.transaction() as session:
        stored = await repo.find_idempotent_response(session, principal.id, key)
    if stored is None:
        return None
    if stored["request_hash"] != fingerprint:
        raise IdempotencyKeyReusedError
    return Answer(status_code=int(stored["status_code"]), body=dict(stored["response"]))
