"""The conflict-queue API (``/v1/conflicts``, ``/v1/stats``): validate, call a handler, answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from conflict_resolver.api.auth import Caller, Operator, OpsKeys
from conflict_resolver.queue import auth, handlers
from conflict_resolver.queue.domain import SORTS, CaseFilters, QueueError, SortKey
from conflict_resolver.queue.live import LiveFeed
from conflict_resolver.queue.models import (
    Assignment,
    ConflictCase,
    ConflictPage,
    Decision,
    Resolution,
    ReturnForEdit,
    Stats,
    StreamToken,
)
from conflict_resolver.state import ResolverState
from services.http.openapi import READ, WRITE, problems
from services.http.problems import ProblemError
from services.http.state import service_state

KEEPALIVE_SECONDS = 15.0
# One server-sent event: ``ready`` (with ``retry``), then ``opened``/``updated``/``closed``.
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["ready", "opened", "updated", "closed"]},
        "data": {"type": "string", "description": 'JSON: `{}` or `{"id": <case id>}`'},
        "retry": {"type": "integer"},
        "id": {"type": "string"},
    },
}
RECHECK_KEY_SECONDS = 60.0


async def queue_context(request: Request) -> handlers.QueueContext:
    return service_state(request, ResolverState).queue


Ctx = Annotated[handlers.QueueContext, Depends(queue_context)]


# Case ids are UUIDs, matched as such in the paths: ``/v1/conflicts/stream-token`` and
# ``/v1/conflicts/stream`` are then never also a case (whose GET would answer them).
router = APIRouter(prefix="/v1", tags=["conflict queue"])
NO_CASE = "No such conflict case"
# The handlers leave out what does not apply (see queue.models); so do the answers.
AS_BUILT: dict[str, Any] = {"response_model_exclude_unset": True}


def _problem(error: QueueError, field: str | None = None) -> ProblemError:
    status = {"invalid": 422, "conflict": 409, "not_found": 404}[error.kind]
    errors = [{"field": field, "message": error.detail}] if field and status == 422 else None
    return ProblemError(status, error.detail, errors=errors)


@router.get("/conflicts", response_model=ConflictPage, responses=problems(*READ), **AS_BUILT)
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
) -> Any:
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


@router.post(
    "/conflicts/stream-token",
    response_model=StreamToken,
    responses=problems(401, 413, 415),  # it takes no body, but one sent is still checked
)
async def stream_token(ctx: Ctx, caller: Caller) -> Any:
    """A short-lived token for the live stream (EventSource cannot send headers)."""
    token, expires_at = auth.issue_stream_token(caller, ctx.admin_token, now=ctx.clock.now())
    return {"token": token, "expires_at": expires_at}


@router.get(
    "/conflicts/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events, until the client leaves or the key is revoked",
            "content": {"text/event-stream": {"schema": SSE_EVENT}},
        },
        **problems(401, 422, _401="The stream token is not valid or has expired"),
    },
    openapi_extra={"security": []},  # EventSource sends no header: the token is the query
)
async def stream(
    request: Request, ctx: Ctx, keys: OpsKeys, token: Annotated[str, Query(max_length=2000)]
) -> StreamingResponse:
    """Server-sent events: ``ready`` on connect, then ``opened``/``updated``/``closed``."""
    operator = await auth.verify_stream_token(keys, ctx.admin_token, token, now=ctx.clock.now())
    feed = service_state(request, ResolverState).feed
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


@router.get(
    "/conflicts/{case_id:uuid}",
    response_model=ConflictCase,
    responses=problems(*READ, 404, _404=NO_CASE),
    **AS_BUILT,
)
async def get_conflict(case_id: UUID, ctx: Ctx, caller: Caller) -> Any:
    try:
        return await handlers.get_case(ctx, str(case_id))
    except QueueError as error:
        raise _problem(error) from error


@router.post(
    "/conflicts/{case_id:uuid}/assign",
    response_model=ConflictCase,
    responses=problems(*WRITE, 404, 409, _404=NO_CASE, _409="The case is already decided"),
    **AS_BUILT,
)
async def assign_conflict(case_id: UUID, body: Assignment, ctx: Ctx, caller: Caller) -> Any:
    owner = caller.id if body.owner == "me" else body.owner
    try:
        return await handlers.assign(ctx, caller, str(case_id), owner)
    except QueueError as error:
        raise _problem(error, "owner") from error


@router.post(
    "/conflicts/{case_id:uuid}/decision",
    response_model=ConflictCase,
    responses=problems(
        *WRITE,
        404,
        409,
        _404=NO_CASE,
        _409="Already decided, or approving would break exclusivity",
    ),
    **AS_BUILT,
)
async def decide_conflict(case_id: UUID, body: Decision, ctx: Ctx, caller: Caller) -> Any:
    try:
        return await handlers.decide(
            ctx,
            caller,
            str(case_id),
            approve=body.approve,
            reason=body.reason,
            reason_code=body.reason_code,
        )
    except QueueError as error:
        raise _problem(error, "reason_code" if body.reason_code else "approve") from error


@router.post(
    "/conflicts/{case_id:uuid}/return",
    response_model=ConflictCase,
    responses=problems(
        *WRITE,
        404,
        409,
        _404=NO_CASE,
        _409="Already decided, or returned as many times as the policy allows",
    ),
    **AS_BUILT,
)
async def return_conflict(case_id: UUID, body: ReturnForEdit, ctx: Ctx, caller: Caller) -> Any:
    """Return the registration to its partner for edit (`action_required`) with comments and
    the fields it may change; its edit goes through the rules again."""
    try:
        return await handlers.return_for_edit(
            ctx, caller, str(case_id), comments=body.comments, fields=body.fields
        )
    except QueueError as error:
        raise _problem(error, "fields") from error


@router.post(
    "/conflicts/{case_id:uuid}/resolution",
    response_model=ConflictCase,
    responses=problems(
        *WRITE,
        404,
        409,
        _404=NO_CASE,
        _409="Already decided, or not a DIRECT_ENCROACHMENT case",
    ),
    **AS_BUILT,
)
async def resolve_conflict(case_id: UUID, body: Resolution, ctx: Ctx, caller: Caller) -> Any:
    """Resolve a ``DIRECT_ENCROACHMENT`` case: the holder is told, naming no one."""
    try:
        return await handlers.resolve_encroachment(
            ctx, caller, str(case_id), resolution=body.resolution, reason=body.reason
        )
    except QueueError as error:
        raise _problem(error, "resolution") from error


@router.get("/stats", response_model=Stats, responses=problems(*READ))
async def stats(
    ctx: Ctx,
    caller: Caller,
    days: Annotated[int | None, Query(ge=1, le=3650, description="Look back this many days")] = 30,
) -> Any:
    """Registrations per day and partner, approval rate, time to decision, queue and SLA."""
    return await handlers.stats(ctx, days=days)
