"""The conflict-queue API (``/v1/conflicts``, ``/v1/stats``): validate, call a handler, answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from conflict_resolver.api.auth import Caller, Operator, OpsKeys
from conflict_resolver.queue import auth, handlers
from conflict_resolver.queue.domain import SORTS, CaseFilters, QueueError, SortKey
from conflict_resolver.queue.live import LiveFeed
from services.http.problems import ProblemError

KEEPALIVE_SECONDS = 15.0
RECHECK_KEY_SECONDS = 60.0


def queue_context(request: Request) -> handlers.QueueContext:
    ctx: handlers.QueueContext = request.app.state.queue
    return ctx


Ctx = Annotated[handlers.QueueContext, Depends(queue_context)]


router = APIRouter(prefix="/v1", tags=["conflict queue"])


def _problem(error: QueueError, field: str | None = None) -> ProblemError:
    status = {"invalid": 422, "conflict": 409, "not_found": 404}[error.kind]
    errors = [{"field": field, "message": error.detail}] if field and status == 422 else None
    return ProblemError(status, error.detail, errors=errors)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: Annotated[str, StringConstraints(min_length=1, max_length=36)] | None = Field(
        description="The registration to approve, or null to approve none."
    )
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = Field(
        default="me", description="An ops user id, `me` (the default), or null to unassign."
    )


@router.get("/conflicts")
async def list_conflicts(
    ctx: Ctx,
    caller: Caller,
    state: Literal["open", "decided"] | None = None,
    reason_code: Annotated[str | None, Query(max_length=40)] = None,
    product_line: Annotated[str | None, Query(max_length=64)] = None,
    owner: Annotated[str | None, Query(max_length=100, description="id, `me` or `none`")] = None,
    overdue: bool | None = None,
    sort: Annotated[SortKey, Query(description=f"one of {', '.join(SORTS)}")] = "due",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    filters = CaseFilters(
        state=state,
        reason_code=reason_code,
        product_line=product_line,
        owner=caller.id if owner == "me" else owner,
        overdue=overdue,
    )
    try:
        items, next_cursor = await handlers.list_cases(
            ctx, filters, sort=sort, cursor=cursor, limit=limit
        )
    except QueueError as error:
        raise _problem(error, "query.cursor") from error
    return {"items": items, "next_cursor": next_cursor}


@router.post("/conflicts/stream-token")
async def stream_token(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """A short-lived token for the live stream (EventSource cannot send headers)."""
    token, expires_at = auth.issue_stream_token(caller, ctx.admin_token, now=ctx.clock.now())
    return {"token": token, "expires_at": expires_at}


@router.get("/conflicts/stream", response_class=StreamingResponse)
async def stream(
    request: Request, ctx: Ctx, keys: OpsKeys, token: Annotated[str, Query(max_length=2000)]
) -> StreamingResponse:
    """Server-sent events: ``ready`` on connect, then ``opened``/``updated``/``closed``."""
    operator = await auth.verify_stream_token(keys, ctx.admin_token, token, now=ctx.clock.now())
    feed: LiveFeed = request.app.state.queue_feed
    return StreamingResponse(
        _events(keys, feed, operator),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(keys: OpsKeys, feed: LiveFeed, operator: Operator) -> AsyncIterator[str]:
    changes = feed.subscribe()
    loop = asyncio.get_running_loop()
    rechecked = loop.time()
    try:
        # The browser reconnects 1 s after a drop; ``ready`` tells it to reload what it shows.
        yield "retry: 1000\nevent: ready\ndata: {}\n\n"
        while True:
            try:
                change = await asyncio.wait_for(changes.get(), timeout=KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ": keep-alive\n\n"
            else:
                data = json.dumps({"id": change.case_id})
                yield f"event: {change.kind}\ndata: {data}\n\n"
            if operator.key_id is not None and loop.time() - rechecked > RECHECK_KEY_SECONDS:
                # A key revoked while connected stops the stream (the page then signs out).
                await auth.verify_key_live(keys, operator)
                rechecked = loop.time()
    finally:
        feed.unsubscribe(changes)


@router.get("/conflicts/{case_id}")
async def get_conflict(case_id: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    try:
        return await handlers.get_case(ctx, case_id)
    except QueueError as error:
        raise _problem(error) from error


@router.post("/conflicts/{case_id}/assign")
async def assign_conflict(
    case_id: str, body: Assignment, ctx: Ctx, caller: Caller
) -> dict[str, Any]:
    owner = caller.id if body.owner == "me" else body.owner
    try:
        return await handlers.assign(ctx, caller, case_id, owner)
    except QueueError as error:
        raise _problem(error, "owner") from error


@router.post("/conflicts/{case_id}/decision")
async def decide_conflict(case_id: str, body: Decision, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    try:
        return await handlers.decide(ctx, caller, case_id, approve=body.approve, reason=body.reason)
    except QueueError as error:
        raise _problem(error, "approve") from error


@router.get("/stats")
async def stats(
    ctx: Ctx,
    caller: Caller,
    days: Annotated[int | None, Query(ge=1, le=3650, description="Look back this many days")] = 30,
) -> dict[str, Any]:
    """Registrations per day and partner, approval rate, time to decision, queue and SLA."""
    return await handlers.stats(ctx, days=days)
