"""The partner's registrations: submit, read, list, withdraw, extend, history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from deal_registration import handlers
from deal_registration.api import views
from deal_registration.api.dependencies import (
    READ,
    WRITE,
    Caller,
    Ctx,
    IdempotencyKey,
    PartnerCaller,
    PartnerWriteTransaction,
    RegistrationId,
    problems,
)
from deal_registration.api.models import (
    History,
    RegistrationCreate,
    RegistrationPage,
    RegistrationView,
)
from deal_registration.api.models.registrations import Appeal, RegistrationEdit
from deal_registration.domain.lifecycle import Status
from deal_registration.domain.validation import SLUG_PATTERN

router = APIRouter(prefix="/v1")


def _accepted(answer: handlers.Answer) -> JSONResponse:
    return JSONResponse(
        answer.body,
        status_code=answer.status_code,
        headers={"Location": f"/v1/registrations/{answer.body['id']}"},
    )


def _idempotent(
    key: str | None,
    path: str,
    body: RegistrationCreate | Appeal | RegistrationEdit | None = None,
    method: str = "POST",
) -> handlers.IdempotentRequest:
    """The request as its Idempotency-Key remembers it: method, path and body. Without a key
    nothing remembers it (no fingerprint: the body is not serialised and hashed for nothing)."""
    if key is None:
        return handlers.IdempotentRequest(key=None, fingerprint="")
    fingerprint = handlers.request_fingerprint(
        method, path, body.model_dump(mode="json") if body is not None else None
    )
    return handlers.IdempotentRequest(key=key, fingerprint=fingerprint)


def _new_registration(body: RegistrationCreate) -> handlers.NewRegistration:
    return handlers.NewRegistration(
        customer_name=body.customer.name,
        customer_domain=body.customer.domain,
        customer_country=body.customer.country,
        product_line=body.product_line,
        deal_type=body.deal_type,
        amount_value=body.amount.value,
        amount_currency=body.amount.currency,
        expected_close_date=body.expected_close_date,
        contact_name=body.contact.name if body.contact else None,
        contact_email=str(body.contact.email) if body.contact else None,
        description=body.description,
        partner_reference=body.partner_reference,
        role=body.role,
    )


_LOCATION = {"Location": {"description": "The registration's URL.", "schema": {"type": "string"}}}


@router.post(
    "/registrations",
    status_code=202,
    response_model=RegistrationView,
    tags=["registrations"],
    summary="Register an opportunity (partner)",
    responses={202: {"headers": _LOCATION}, **problems(*WRITE, 409)},
)
async def submit_registration(
    body: RegistrationCreate,
    ctx: Ctx,
    write: PartnerWriteTransaction,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    submitted = await handlers.submit_registration(
        ctx,
        write,
        _new_registration(body),
        _idempotent(idempotency_key, "/v1/registrations", body),
        views.accepted,
    )
    return _accepted(submitted)


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
    return views.registration_view(await handlers.get_registration(ctx, caller, registration_id))


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
        items=[views.registration_view(row) for row in rows], next_cursor=next_cursor
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
    request = _idempotent(idempotency_key, f"/v1/registrations/{registration_id}/withdraw")
    return _accepted(
        await handlers.withdraw_registration(ctx, caller, registration_id, request, views.accepted)
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
    request = _idempotent(idempotency_key, f"/v1/registrations/{registration_id}/extension")
    return _accepted(
        await handlers.request_extension(ctx, caller, registration_id, request, views.accepted)
    )


@router.post(
    "/registrations/{registration_id}/appeal",
    status_code=202,
    response_model=RegistrationView,
    tags=["registrations"],
    summary="Appeal a rejection by sales ops' review, once; its case reopens (partner)",
    responses={202: {"headers": _LOCATION}, **problems(*WRITE, 409)},
)
async def appeal_registration(
    registration_id: RegistrationId,
    body: Appeal,
    ctx: Ctx,
    caller: PartnerCaller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    request = _idempotent(idempotency_key, f"/v1/registrations/{registration_id}/appeal", body)
    return _accepted(
        await handlers.appeal_registration(
            ctx, caller, registration_id, body.note, request, views.accepted
        )
    )


def _edit_of(body: RegistrationEdit) -> handlers.Edit:
    values: dict[str, object] = {}
    if body.customer is not None:
        values |= {
            "customer_name": body.customer.name,
            "customer_domain": body.customer.domain,
            "customer_country": body.customer.country,
        }
    if body.amount is not None:
        values |= {"amount_value": body.amount.value, "amount_currency": body.amount.currency}
    if body.contact is not None:
        values |= {"contact_name": body.contact.name, "contact_email": str(body.contact.email)}
    for name in ("product_line", "deal_type", "expected_close_date", "description"):
        if getattr(body, name) is not None:
            values[name] = getattr(body, name)
    if body.partner_reference is not None:
        values["partner_reference"] = body.partner_reference
    return handlers.Edit(values)


@router.patch(
    "/registrations/{registration_id}",
    status_code=202,
    response_model=RegistrationView,
    tags=["registrations"],
    summary="Edit a registration returned for edit, or amend an approved one (partner)",
    responses={202: {"headers": _LOCATION}, **problems(*WRITE, 409)},
)
async def edit_registration(
    registration_id: RegistrationId,
    body: RegistrationEdit,
    ctx: Ctx,
    caller: PartnerCaller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Only the fields the reviewer returned it for (``editable_fields``), or, approved,
    ``amount``, ``expected_close_date`` and ``contact``: any other changed field answers 422
    naming it. A returned registration goes through the rules again."""
    request = _idempotent(
        idempotency_key, f"/v1/registrations/{registration_id}", body, method="PATCH"
    )
    return _accepted(
        await handlers.edit_registration(
            ctx, caller, registration_id, _edit_of(body), request, views.accepted
        )
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
    return views.history_view(rows, caller)
