"""Co-sell invitations: the holder invites and reads its invitations; an invitee reads,
accepts or declines its own. Anyone else is answered 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
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
from deal_registration.api.models.co_sell import (
    CoSellInvitationList,
    CoSellInvitationView,
    CoSellInvite,
    ReceivedInvitationList,
    ReceivedInvitationView,
)
from deal_registration.handlers import co_sell
from deal_registration.handlers.idempotency import Answer

router = APIRouter(prefix="/v1", tags=["co-sell"])

InvitationId = Annotated[str, Path(description="The invitation's id.")]


def holder_view(row: handlers.Row) -> CoSellInvitationView:
    return CoSellInvitationView.model_validate(
        {name: row.get(name) for name in CoSellInvitationView.model_fields}
    )


def invitee_view(row: handlers.Row) -> ReceivedInvitationView:
    return ReceivedInvitationView.model_validate(
        {
            "id": row["id"],
            "role": row["role"],
            "status": row["status"],
            "customer": {
                "name": row["customer_name"],
                "domain": row["customer_domain"],
                "country": row["customer_country"],
            },
            "product_line": row["product_line"],
            "invited_at": row["invited_at"],
            "responded_at": row["responded_at"],
        }
    )


def _answer(status_code: int, view: CoSellInvitationView | ReceivedInvitationView) -> Answer:
    return Answer(status_code=status_code, body=view.model_dump(mode="json"))


def _request(key: str | None, path: str, body: CoSellInvite | None) -> handlers.IdempotentRequest:
    fingerprint = handlers.request_fingerprint(
        "POST", path, body.model_dump(mode="json") if body is not None else None
    )
    return handlers.IdempotentRequest(key=key, fingerprint=fingerprint)


@router.post(
    "/registrations/{registration_id}/co-sell-invitations",
    status_code=201,
    response_model=CoSellInvitationView,
    summary="Invite a partner to co-sell an approved sourced registration (its holder)",
    responses=problems(*WRITE, 409),
)
async def invite(
    registration_id: RegistrationId,
    body: CoSellInvite,
    ctx: Ctx,
    caller: WritingPartner,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    path = f"/v1/registrations/{registration_id}/co-sell-invitations"
    answer = await co_sell.invite_partner(
        ctx,
        caller,
        registration_id,
        co_sell.Invite(partner_id=body.partner_id, role=body.role),
        _request(idempotency_key, path, body),
        lambda row: _answer(201, holder_view(row)),
    )
    return JSONResponse(answer.body, status_code=answer.status_code)


@router.get(
    "/registrations/{registration_id}/co-sell-invitations",
    response_model=CoSellInvitationList,
    summary="The co-sell invitations on a registration and their answers (its holder, or ops)",
    responses=problems(*READ),
)
async def invitations_on(
    registration_id: RegistrationId, ctx: Ctx, caller: Caller
) -> CoSellInvitationList:
    rows = await co_sell.invitations_on(ctx, caller, registration_id)
    return CoSellInvitationList(items=[holder_view(row) for row in rows])


@router.get(
    "/co-sell-invitations",
    response_model=ReceivedInvitationList,
    summary="The co-sell invitations your partner received (invitee)",
    responses=problems(401, 403, 429),
)
async def received(ctx: Ctx, caller: PartnerCaller) -> ReceivedInvitationList:
    rows = await co_sell.my_invitations(ctx, caller)
    return ReceivedInvitationList(items=[invitee_view(row) for row in rows])


@router.get(
    "/co-sell-invitations/{invitation_id}",
    response_model=ReceivedInvitationView,
    summary="One invitation your partner received (invitee; 404 for anyone else)",
    responses=problems(*READ),
)
async def received_one(
    invitation_id: InvitationId, ctx: Ctx, caller: PartnerCaller
) -> ReceivedInvitationView:
    return invitee_view(await co_sell.get_invitation(ctx, caller, invitation_id))


async def _respond(
    ctx: handlers.Context,
    caller: handlers.Principal,
    invitation_id: str,
    idempotency_key: str | None,
    *,
    accept: bool,
) -> JSONResponse:
    verb = "accept" if accept else "decline"
    answer = await co_sell.answer_invitation(
        ctx,
        caller,
        invitation_id,
        accept=accept,
        request=_request(idempotency_key, f"/v1/co-sell-invitations/{invitation_id}/{verb}", None),
        present=lambda row: _answer(200, invitee_view(row)),
    )
    return JSONResponse(answer.body, status_code=answer.status_code)


@router.post(
    "/co-sell-invitations/{invitation_id}/accept",
    response_model=ReceivedInvitationView,
    summary="Accept a co-sell invitation (invitee)",
    responses=problems(*WRITE, 409),
)
async def accept(
    invitation_id: InvitationId,
    ctx: Ctx,
    caller: PartnerCaller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _respond(ctx, caller, invitation_id, idempotency_key, accept=True)


@router.post(
    "/co-sell-invitations/{invitation_id}/decline",
    response_model=ReceivedInvitationView,
    summary="Decline a co-sell invitation (invitee)",
    responses=problems(*WRITE, 409),
)
async def decline(
    invitation_id: InvitationId,
    ctx: Ctx,
    caller: PartnerCaller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _respond(ctx, caller, invitation_id, idempotency_key, accept=False)
