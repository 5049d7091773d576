"""deal_registration's HTTP routes: read the transport, call one handler, shape the answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from deal_registration import handlers
from deal_registration.api.models import (
    ApiKeyCreated,
    ApiKeyList,
    History,
    HistoryEntry,
    OpsUserCreate,
    OpsUserCreated,
    PartnerCreate,
    PartnerCreated,
    PartnerUpdate,
    PartnerView,
    RegistrationCreate,
    RegistrationPage,
    RegistrationView,
    WebhookCreated,
    WebhookDeliveryPage,
    WebhookUpdate,
    WebhookView,
)
from deal_registration.domain.lifecycle import Status
from deal_registration.domain.validation import SLUG_PATTERN
from services.http.security import bearer_token

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


def context(request: Request) -> handlers.Context:
    ctx: handlers.Context = request.app.state.context
    return ctx


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


async def writing_partner(caller: Caller, ctx: Ctx) -> handlers.Principal:
    """A partner that may write: suspended partners are 403 before the body is read."""
    await handlers.require_writing_partner(ctx, caller)
    return caller


PartnerCaller = Annotated[handlers.Principal, Depends(partner)]
WritingPartner = Annotated[handlers.Principal, Depends(writing_partner)]
router = APIRouter(prefix="/v1")


# --- admin ------------------------------------------------------------------------------


@router.post(
    "/partners",
    status_code=201,
    response_model=PartnerCreated,
    tags=["admin"],
    summary="Create a partner and its first API key (admin)",
    responses=problems(*WRITE),
)
async def create_partner(body: PartnerCreate, ctx: Ctx, _caller: Admin) -> PartnerCreated:
    return await handlers.create_partner(ctx, body)


@router.get(
    "/partners/{partner_id}",
    response_model=PartnerView,
    tags=["admin"],
    summary="Read a partner (admin)",
    responses=problems(*READ),
)
async def get_partner(partner_id: PartnerId, ctx: Ctx, _caller: Admin) -> PartnerView:
    return await handlers.get_partner(ctx, partner_id)


@router.patch(
    "/partners/{partner_id}",
    response_model=PartnerView,
    tags=["admin"],
    summary="Change a partner, e.g. suspend it (admin)",
    responses=problems(*WRITE),
)
async def update_partner(
    partner_id: PartnerId, body: PartnerUpdate, ctx: Ctx, _caller: Admin
) -> PartnerView:
    return await handlers.update_partner(ctx, partner_id, body)


@router.get(
    "/partners/{partner_id}/api-keys",
    response_model=ApiKeyList,
    tags=["admin"],
    summary="List a partner's API keys, without the keys themselves (admin)",
    responses=problems(*READ),
)
async def list_partner_keys(partner_id: PartnerId, ctx: Ctx, _caller: Admin) -> ApiKeyList:
    return ApiKeyList(items=await handlers.list_partner_keys(ctx, partner_id))


@router.post(
    "/partners/{partner_id}/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    tags=["admin"],
    summary="Issue another API key for a partner, e.g. to rotate keys (admin)",
    responses=problems(*WRITE),
)
async def issue_partner_key(partner_id: PartnerId, ctx: Ctx, _caller: Admin) -> ApiKeyCreated:
    return await handlers.issue_partner_key(ctx, partner_id)


@router.delete(
    "/api-keys/{key_id}",
    status_code=204,
    tags=["admin"],
    summary="Revoke an API key; it stops working at once (admin)",
    responses=problems(*READ),
)
async def revoke_key(
    key_id: Annotated[
        str,
        Path(description="The key's id.", examples=["5e0c1d2b-8a7f-4c3e-9b6a-7d8e9f0a1b2c"]),
    ],
    ctx: Ctx,
    _caller: Admin,
) -> Response:
    await handlers.revoke_key(ctx, key_id)
    return Response(status_code=204)


@router.post(
    "/ops-users",
    status_code=201,
    response_model=OpsUserCreated,
    tags=["admin"],
    summary="Create a sales-ops user and its API key (admin)",
    responses=problems(*WRITE),
)
async def create_ops_user(body: OpsUserCreate, ctx: Ctx, _caller: Admin) -> OpsUserCreated:
    return await handlers.create_ops_user(ctx, body)


# --- registrations ----------------------------------------------------------------------


def _accepted(status_code: int, view: dict[str, Any]) -> JSONResponse:
    return JSONResponse(
        view, status_code=status_code, headers={"Location": f"/v1/registrations/{view['id']}"}
    )


_LOCATION = {"Location": {"description": "The registration's URL.", "schema": {"type": "string"}}}


@router.post(
    "/registrations",
    status_code=202,
    response_model=RegistrationView,
    tags=["registrations"],
    summary="Register an opportunity (partner)",
    responses={202: {"headers": _LOCATION}, **problems(*WRITE)},
)
async def submit_registration(
    body: RegistrationCreate,
    ctx: Ctx,
    caller: WritingPartner,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _accepted(*await handlers.submit_registration(ctx, caller, body, idempotency_key))


@router.get(
    "/registrations/{registration_id}",
    response_model=RegistrationView,
    tags=["registrations"],
    summary="Read a registration (its partner, or ops)",
    responses=problems(*READ),
)
async def get_registration(
    registration_id: RegistrationId, ctx: Ctx, caller: Caller
) -> RegistrationView:
    row = await handlers.get_registration(ctx, caller, registration_id)
    return handlers.registration_view(row)


@router.get(
    "/registrations",
    response_model=RegistrationPage,
    tags=["registrations"],
    summary="List registrations: a partner's own, or (ops) everyone's",
    responses=problems(401, 403, 422, 429),
)
async def list_registrations(
    ctx: Ctx,
    caller: Caller,
    status: Annotated[
        Status | None, Query(description="Only this status.", examples=["approved"])
    ] = None,
    product_line: Annotated[
        str | None,
        Query(
            pattern=SLUG_PATTERN,
            max_length=64,
            description="Only this product line.",
            examples=["network-security"],
        ),
    ] = None,
    partner_id: Annotated[
        str | None,
        Query(
            max_length=36,
            description="Only this partner's (ops; a partner sees only its own anyway).",
            examples=["0b6c9a52-3f7e-4d21-8a90-1c2d3e4f5a6b"],
        ),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=200, description="Page size (1-200).", examples=[50])
    ] = 50,
    cursor: Annotated[
        str | None,
        Query(
            max_length=40,
            description="`next_cursor` of the previous page.",
            examples=["42"],
        ),
    ] = None,
) -> RegistrationPage:
    rows, next_cursor = await handlers.list_registrations(
        ctx,
        caller,
        status=status.value if status else None,
        product_line=product_line,
        partner_id=partner_id,
        limit=limit,
        cursor=cursor,
    )
    return RegistrationPage(
        items=[handlers.registration_view(row) for row in rows], next_cursor=next_cursor
    )


@router.post(
    "/registrations/{registration_id}/withdraw",
    status_code=202,
    response_model=RegistrationView,
    tags=["registrations"],
    summary="Withdraw a registration; an approved one gives up its protection (partner)",
    responses={202: {"headers": _LOCATION}, **problems(*WRITE, 409)},
)
async def withdraw_registration(
    registration_id: RegistrationId,
    ctx: Ctx,
    caller: PartnerCaller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _accepted(
        *await handlers.withdraw_registration(ctx, caller, registration_id, idempotency_key)
    )


@router.post(
    "/registrations/{registration_id}/extension",
    status_code=202,
    response_model=RegistrationView,
    tags=["registrations"],
    summary="Ask to extend an approved registration's protection; the policy decides (partner)",
    responses={202: {"headers": _LOCATION}, **problems(*WRITE, 409)},
)
async def request_extension(
    registration_id: RegistrationId,
    ctx: Ctx,
    caller: PartnerCaller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return _accepted(
        *await handlers.request_extension(ctx, caller, registration_id, idempotency_key)
    )


@router.get(
    "/registrations/{registration_id}/history",
    response_model=History,
    tags=["registrations"],
    summary="Every step of a registration the caller may see, oldest first",
    responses=problems(*READ),
)
async def registration_history(
    registration_id: RegistrationId, ctx: Ctx, caller: Caller
) -> History:
    rows = await handlers.registration_history(ctx, caller, registration_id)
    return History(
        items=[
            HistoryEntry(
                status=row["status"],
                reason_code=row["reason_code"],
                reason=row["reason"],
                at=row["at"],
            )
            for row in rows
        ]
    )


# --- the partner's webhook --------------------------------------------------------------


@router.put(
    "/webhook",
    response_model=WebhookCreated,
    tags=["webhook"],
    summary="Set the URL that status changes are POSTed to; returns a new signing secret",
    responses=problems(*WRITE),
)
async def put_webhook(body: WebhookUpdate, ctx: Ctx, caller: WritingPartner) -> WebhookCreated:
    return await handlers.put_webhook(ctx, caller, body)


@router.get(
    "/webhook",
    response_model=WebhookView,
    tags=["webhook"],
    summary="The partner's webhook URL (the secret is never shown again)",
    responses=problems(*READ),
)
async def get_webhook(ctx: Ctx, caller: PartnerCaller) -> WebhookView:
    return await handlers.get_webhook(ctx, caller)


@router.delete(
    "/webhook",
    status_code=204,
    tags=["webhook"],
    summary="Stop webhook deliveries",
    responses=problems(*READ),
)
async def delete_webhook(ctx: Ctx, caller: PartnerCaller) -> Response:
    await handlers.delete_webhook(ctx, caller)
    return Response(status_code=204)


@router.get(
    "/webhook/deliveries",
    response_model=WebhookDeliveryPage,
    tags=["webhook"],
    summary="The delivery log: each status change sent (or being retried), newest first",
    responses=problems(401, 403, 422, 429),
)
async def webhook_deliveries(
    ctx: Ctx,
    caller: PartnerCaller,
    limit: Annotated[
        int, Query(ge=1, le=200, description="How many, newest first.", examples=[50])
    ] = 50,
) -> WebhookDeliveryPage:
    return WebhookDeliveryPage(items=await handlers.webhook_deliveries(ctx, caller, limit=limit))
