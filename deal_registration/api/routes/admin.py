"""The admin's routes: partners, their API keys, ops users."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Response

from deal_registration import handlers
from deal_registration.api import views
from deal_registration.api.dependencies import READ, WRITE, Admin, Ctx, PartnerId, problems
from deal_registration.api.models import (
    ApiKeyCreated,
    ApiKeyList,
    OpsUserCreate,
    OpsUserCreated,
    PartnerCreate,
    PartnerCreated,
    PartnerUpdate,
    PartnerView,
    WebhookCreated,
    WebhookSecretRotation,
)

router = APIRouter(prefix="/v1")


@router.post(
    "/partners",
    status_code=201,
    response_model=PartnerCreated,
    tags=["admin"],
    summary="Create a partner and its first API key (admin)",
    responses=problems(*WRITE),
)
async def create_partner(body: PartnerCreate, ctx: Ctx, _caller: Admin) -> PartnerCreated:
    created = await handlers.create_partner(
        ctx,
        name=body.name,
        tier=body.tier,
        country=body.country,
        product_lines=list(body.product_lines),
    )
    return views.partner_created(created)


@router.get(
    "/partners/{partner_id}",
    response_model=PartnerView,
    tags=["admin"],
    summary="Read a partner (admin)",
    responses=problems(*READ),
)
async def get_partner(partner_id: PartnerId, ctx: Ctx, _caller: Admin) -> PartnerView:
    return views.partner_view(await handlers.get_partner(ctx, partner_id))


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
    changes = body.model_dump(exclude_none=True)
    return views.partner_view(await handlers.update_partner(ctx, partner_id, changes))


@router.get(
    "/partners/{partner_id}/api-keys",
    response_model=ApiKeyList,
    tags=["admin"],
    summary="List a partner's API keys, without the keys themselves (admin)",
    responses=problems(*READ),
)
async def list_partner_keys(partner_id: PartnerId, ctx: Ctx, _caller: Admin) -> ApiKeyList:
    rows = await handlers.list_partner_keys(ctx, partner_id)
    return ApiKeyList(items=[views.key_view(row) for row in rows])


@router.post(
    "/partners/{partner_id}/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    tags=["admin"],
    summary="Issue another API key for a partner, e.g. to rotate keys (admin)",
    responses=problems(*WRITE),
)
async def issue_partner_key(partner_id: PartnerId, ctx: Ctx, _caller: Admin) -> ApiKeyCreated:
    key = await handlers.issue_partner_key(ctx, partner_id)
    return views.partner_key_created(key, partner_id)


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
    return views.ops_user_created(await handlers.create_ops_user(ctx, body.name), body.name)


@router.post(
    "/partners/{partner_id}/webhook/secret",
    response_model=WebhookCreated,
    tags=["admin"],
    summary="Rotate a partner's webhook signing secret, with an overlap (admin)",
    description="A new secret at the same URL, shown once. Deliveries are signed with the new "
    "secret and, until the overlap ends, with the previous one too (two `v1,` signatures in "
    "`webhook-signature`): a receiver still verifying with the old secret keeps accepting "
    "them while it switches.",
    responses=problems(*WRITE),
)
async def rotate_webhook_secret(
    partner_id: PartnerId, body: WebhookSecretRotation, ctx: Ctx, _caller: Admin
) -> WebhookCreated:
    overlap = None if body.overlap_seconds is None else timedelta(seconds=body.overlap_seconds)
    rotated = await handlers.rotate_webhook_secret(ctx, partner_id, overlap=overlap)
    return views.webhook_created(rotated)
