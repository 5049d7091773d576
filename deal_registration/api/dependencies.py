"""What the routes share: who is calling (as FastAPI dependencies), the path and header
parameters, and the problem answers each route documents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request

from deal_registration import handlers
from services.http.security import bearer_token
from services.http.state import service_state

_PROBLEM_DESCRIPTIONS = {
    400: "The body is not valid JSON",
    401: "Missing, unknown or revoked bearer token",
    403: "The token may not do this (wrong role, or the partner is suspended)",
    404: "Not found (also: another partner's registration)",
    409: "The registration's state does not allow this",
    413: "The body is larger than 64 KiB",
    415: "The body is not application/json",
    422: "Invalid fields, each named in `errors`; or an Idempotency-Key reused for another body",
    429: "Too many requests for this API key; see `Retry-After`",
    503: "The service's database is unavailable for a moment; retry after `Retry-After`",
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem responses a route may answer with (every route may
    answer 503 while the database is unavailable)."""
    return {
        code: {
            "description": _PROBLEM_DESCRIPTIONS[code],
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
            **(
                {
                    "headers": {
                        "Retry-After": {
                            "description": "Seconds to wait.",
                            "schema": {"type": "integer"},
                        }
                    }
                }
                if code in (429, 503)
                else {}
            ),
        }
        for code in (*codes, 503)
    }


READ = (401, 403, 404, 422, 429)
WRITE = (400, 401, 403, 404, 413, 415, 422, 429)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string (a UUID is best). A retry with the same key and body "
        "returns the original response; the same key with another body is 422. Kept 24 hours "
        "at least.",
        examples=["0f8fad5b-d9cb-469f-a165-70867728950e"],
    ),
]
RegistrationId = Annotated[
    str,
    Path(
        description="The registration's id.",
        examples=["7d9f3c2e-5b1a-4e8f-9c6d-2a1b3c4d5e6f"],
    ),
]
PartnerId = Annotated[
    str,
    Path(description="The partner's id.", examples=["0b6c9a52-3f7e-4d21-8a90-1c2d3e4f5a6b"]),
]


async def context(request: Request) -> handlers.Context:
    return service_state(request, handlers.Context)


Ctx = Annotated[handlers.Context, Depends(context)]


async def principal(request: Request, ctx: Ctx) -> handlers.Principal:
    return await handlers.authenticate(ctx, bearer_token(request))


Caller = Annotated[handlers.Principal, Depends(principal)]


async def admin(caller: Caller) -> handlers.Principal:
    """Checked before the body is read: a wrong role is 403 even with a bad body."""
    handlers.require_admin(caller)
    return caller


async def partner(caller: Caller) -> handlers.Principal:
    handlers.require_partner(caller)
    return caller


Admin = Annotated[handlers.Principal, Depends(admin)]


async def ops(caller: Caller) -> handlers.Principal:
    """Sales ops or the admin, checked before the query is read."""
    handlers.require_ops(caller)
    return caller


OpsCaller = Annotated[handlers.Principal, Depends(ops)]


async def writing_partner(caller: Caller, ctx: Ctx) -> handlers.ActivePartner:
    """A partner that may write: suspended partners are 403 before the body is read. The
    partner read here is the one the use case works with (one read per request)."""
    return await handlers.require_writing_partner(ctx, caller)


PartnerCaller = Annotated[handlers.Principal, Depends(partner)]
WritingPartner = Annotated[handlers.ActivePartner, Depends(writing_partner)]


async def partner_write(request: Request, ctx: Ctx) -> AsyncIterator[handlers.PartnerWrite]:
    """A writing partner (as :data:`WritingPartner` finds it, with the same refusals before
    the body is read) and the write transaction its request runs in: the key is read in it,
    so intake takes one transaction per request instead of two. The transaction commits when
    the route returns, before the answer is sent (``scope="function"``): a 202 means stored."""
    async with handlers.partner_write(ctx, bearer_token(request)) as write:
        yield write


PartnerWriteTransaction = Annotated[handlers.PartnerWrite, Depends(partner_write, scope="function")]
