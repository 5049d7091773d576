"""The partner's registrations: submit, read, list, withdraw, extend, history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from deal_registration import handlers
from deal_registration.api.dependencies import (
    READ,
    WRITE,
    Caller,
    Ctx,
    IdempotencyKey,
    PartnerCaller,
    RegistrationId,
    WritingPartner,
    problems,
)
from deal_registration.api.models import (
    History,
    HistoryEntry,
    RegistrationCreate,
    RegistrationPage,
    RegistrationView,
)
from deal_registration.domain.lifecycle import Status
from deal_registration.domain.validation import SLUG_PATTERN

router = APIRouter(prefix="/v1")


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
