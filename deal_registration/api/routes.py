"""deal_registration's routes: validate the transport, call one handler, shape the answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from deal_registration import handlers
from deal_registration.api.models import (
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
)
from deal_registration.domain.lifecycle import Status
from services.http.security import bearer_token

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {"application/problem+json": {}}}
    for status, description in {
        401: "Missing or invalid bearer token",
        403: "The token may not do this",
        404: "Not found (also for another partner's registration)",
        422: "Invalid fields, named in `errors`",
    }.items()
}


def context(request: Request) -> handlers.Context:
    ctx: handlers.Context = request.app.state.context
    return ctx


Ctx = Annotated[handlers.Context, Depends(context)]


async def principal(request: Request, ctx: Ctx) -> handlers.Principal:
    return await handlers.authenticate(ctx, bearer_token(request))


Caller = Annotated[handlers.Principal, Depends(principal)]
router = APIRouter(prefix="/v1", responses=PROBLEMS)


@router.post("/partners", status_code=201, response_model=PartnerCreated, tags=["admin"])
async def create_partner(body: PartnerCreate, ctx: Ctx, caller: Caller) -> PartnerCreated:
    handlers.require_admin(caller)
    return await handlers.create_partner(ctx, body)


@router.get("/partners/{partner_id}", response_model=PartnerView, tags=["admin"])
async def get_partner(partner_id: str, ctx: Ctx, caller: Caller) -> PartnerView:
    handlers.require_admin(caller)
    return await handlers.get_partner(ctx, partner_id)


@router.patch("/partners/{partner_id}", response_model=PartnerView, tags=["admin"])
async def update_partner(
    partner_id: str, body: PartnerUpdate, ctx: Ctx, caller: Caller
) -> PartnerView:
    handlers.require_admin(caller)
    return await handlers.update_partner(ctx, partner_id, body)


@router.post("/ops-users", status_code=201, response_model=OpsUserCreated, tags=["admin"])
async def create_ops_user(body: OpsUserCreate, ctx: Ctx, caller: Caller) -> OpsUserCreated:
    handlers.require_admin(caller)
    return await handlers.create_ops_user(ctx, body)


@router.post(
    "/registrations",
    status_code=202,
    response_model=RegistrationView,
    tags=["registrations"],
    summary="Register an opportunity (partner)",
)
async def submit_registration(
    body: RegistrationCreate,
    ctx: Ctx,
    caller: Caller,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JSONResponse:
    status_code, view = await handlers.submit_registration(ctx, caller, body, idempotency_key)
    return JSONResponse(
        view, status_code=status_code, headers={"Location": f"/v1/registrations/{view['id']}"}
    )


@router.get(
    "/registrations/{registration_id}", response_model=RegistrationView, tags=["registrations"]
)
async def get_registration(registration_id: str, ctx: Ctx, caller: Caller) -> RegistrationView:
    row = await handlers.get_registration(ctx, caller, registration_id)
    return handlers.registration_view(row)


@router.get("/registrations", response_model=RegistrationPage, tags=["registrations"])
async def list_registrations(
    ctx: Ctx,
    caller: Caller,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> RegistrationPage:
    rows, next_cursor = await handlers.list_registrations(
        ctx, caller, status=status.value if status else None, limit=limit, cursor=cursor
    )
    return RegistrationPage(
        items=[handlers.registration_view(row) for row in rows], next_cursor=next_cursor
    )


@router.get(
    "/registrations/{registration_id}/history", response_model=History, tags=["registrations"]
)
async def registration_history(registration_id: str, ctx: Ctx, caller: Caller) -> History:
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
