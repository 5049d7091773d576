"""The partner's webhook: set, read, delete, and its deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from deal_registration import handlers
from deal_registration.api import views
from deal_registration.api.dependencies import (
    READ,
    WRITE,
    Ctx,
    PartnerCaller,
    WritingPartner,
    problems,
)
from deal_registration.api.models import (
    WebhookCreated,
    WebhookDeliveryPage,
    WebhookUpdate,
    WebhookView,
)

router = APIRouter(prefix="/v1")


@router.put(
    "/webhook",
    response_model=WebhookCreated,
    tags=["webhook"],
    summary="Set the URL that status changes are POSTed to; returns a new signing secret",
    responses=problems(*WRITE),
)
async def put_webhook(body: WebhookUpdate, ctx: Ctx, caller: WritingPartner) -> WebhookCreated:
    return views.webhook_created(await handlers.put_webhook(ctx, caller, body.url))


@router.get(
    "/webhook",
    response_model=WebhookView,
    tags=["webhook"],
    summary="The partner's webhook URL (the secret is never shown again)",
    responses=problems(*READ),
)
async def get_webhook(ctx: Ctx, caller: PartnerCaller) -> WebhookView:
    return views.webhook_view(await handlers.get_webhook(ctx, caller))


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
    rows = await handlers.webhook_deliveries(ctx, caller, limit=limit)
    return WebhookDeliveryPage(items=[views.delivery_view(row) for row in rows])
