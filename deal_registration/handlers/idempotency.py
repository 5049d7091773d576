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
            await _claim(ctx, session, principal, key, request.fingerprint)
            answer = await action(session)
            await _keep(session, principal, key, answer)
        return answer
    except DuplicateKeyError:
        replay = await _replay(ctx, principal, key, request.fingerprint)
        if replay is None:
            raise
        return replay


async def run_idempotent_in(
    ctx: Context,
    session: Session,
    principal: Principal,
    request: IdempotentRequest,
    action: Callable[[Session], Awaitable[Answer]],
) -> Answer:
    """:func:`run_idempotent` inside a transaction the caller holds (``session``): the stored
    answer is looked up, the key claimed, the action run and the answer kept in it.

    The claim runs in a savepoint: a concurrent request with the same key blocks on it (on
    PostgreSQL; SQLite has one writer at a time, so the first one's row is already there),
    and once the first commits, the claim fails, the savepoint alone is rolled back and the
    first one's answer is read and replayed, as :func:`run_idempotent` does.
    """
    key = request.key
    if key is None:
        return await action(session)
    replay = await _stored_answer(session, principal, key, request.fingerprint)
    if replay is not None:
        return replay
    try:
        async with session.begin_nested():
            await _claim(ctx, session, principal, key, request.fingerprint)
    except DuplicateKeyError:
        replay = await _stored_answer(session, principal, key, request.fingerprint)
        if replay is None:
            raise
        return replay
    answer = await action(session)
    await _keep(session, principal, key, answer)
    return answer


async def _claim(
    ctx: Context, session: Session, principal: Principal, key: str, fingerprint: str
) -> None:
    """Insert the caller's key row (fails with DuplicateKeyError if another request has it)."""
    await repo.claim_idempotency_key(
        session, principal_id=principal.id, key=key, request_hash=fingerprint, now=ctx.clock.now()
    )


async def _keep(session: Session, principal: Principal, key: str, answer: Answer) -> None:
    """Store the answer with the caller's key, for its retries."""
    await repo.complete_idempotency_key(
        session,
        principal_id=principal.id,
        key=key,
        status_code=answer.status_code,
        response=answer.body,
    )


async def _replay(ctx: Context, principal: Principal, key: str, fingerprint: str) -> Answer | None:
    async with ctx.transactions.transaction() as session:
        return await _stored_answer(session, principal, key, fingerprint)


async def _stored_answer(
    session: Session, principal: Principal, key: str, fingerprint: str
) -> Answer | None:
    """The answer kept with the caller's key, or None; refused if the key came with another
    request."""
    stored = await repo.find_idempotent_response(session, principal.id, key)
    if stored is None:
        return None
    if stored["request_hash"] != fingerprint:
        raise IdempotencyKeyReusedError
    return Answer(status_code=int(stored["status_code"]), body=dict(stored["response"]))
