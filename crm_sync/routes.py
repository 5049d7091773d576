"""crm_sync's HTTP surface: CRM webhooks in, sync status and dead letters for operators."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import TypeAdapter, ValidationError

from crm_sync import dead_letters as letters
from crm_sync import inbound, reconcile, webhook_replays
from crm_sync import notices as webhook_notices
from crm_sync.domain.signatures import verify_dealreg_signature, verify_hubspot_v3
from crm_sync.handlers import Context
from crm_sync.lease import holders
from crm_sync.models import (
    DeadLetterDetail,
    DeadLetterId,
    DeadLetterList,
    ReconcileRequest,
    ReconcileStarted,
    Replayed,
    ReplayRequest,
    SyncStatus,
)
from crm_sync.ports import CrmConnector, CrmUnavailableError
from crm_sync.state import CrmSyncState
from crm_sync.status import sync_status
from services.http.openapi import READ, WRITE, problems
from services.http.problems import ProblemError
from services.http.state import service_state

router = APIRouter()

# A webhook is signed, not sent with a bearer token; what the CRM must send, for the document.
_WEBHOOK_ANSWERS: dict[int | str, dict[str, Any]] = {
    204: {"description": "Taken (applied, or already applied before)"},
    **problems(
        400,
        401,
        404,
        413,
        422,
        _400="The body is not JSON",
        _401="The signature or its timestamp is missing, not valid, stale or replayed",
        _404="This deployment does not mirror into this CRM",
        _413="The body is larger than 512 KiB",
        _422="Not the JSON array of events (HubSpot) or `{events: [...]}` (Salesforce), or an "
        "event lacks a field its reader needs; `errors` names each (`[2].objectId`)",
        _503="The CRM could not be read back (or the database is unavailable); deliver again",
    ),
}


def _webhook_body(description: str, *headers: tuple[str, str]) -> dict[str, Any]:
    return {
        "security": [],
        "parameters": [
            {
                "name": name,
                "in": "header",
                "required": True,
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in headers
        ],
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {}}},
        },
    }


def _ctx(request: Request) -> Context:
    return service_state(request, CrmSyncState).context


def _connector(ctx: Context, system: str) -> CrmConnector:
    """The deployment's connector for ``system``. Asked only once a delivery's signature is
    verified: an unsigned caller learns nothing of which CRM this deployment uses (401)."""
    if ctx.connector is None or ctx.connector.system != system:
        raise ProblemError(404, f"This deployment does not mirror into {system}.")
    return ctx.connector


async def _require_operator(request: Request) -> None:
    """Operators' calls: the admin token or a sales-ops key (see services.principals).

    A dependency, so it runs before the query, path and body are validated: a caller without
    a valid token learns nothing of them (401, not 422)."""
    await service_state(request, CrmSyncState).ops_auth(request)


OPERATORS = [Depends(_require_operator)]


def _bad_signature() -> ProblemError:
    return ProblemError(401, "The webhook signature or timestamp is not valid.")


def _signed_uri(request: Request, public_base: str) -> str:
    if not public_base:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return public_base.rstrip("/") + request.url.path + query


_SALESFORCE_DELIVERY = TypeAdapter(webhook_notices.SalesforceDelivery)


def _events(body: bytes, shape: TypeAdapter[Any], key: str | None = None) -> list[dict[str, Any]]:
    """The delivery's events, once every one has the shape its reader needs (else 422 naming
    the field: ``[2].objectId``, ``events[0].id``)."""
    try:
        parsed = json.loads(body)
    except ValueError as error:
        raise ProblemError(400, "The body is not JSON.") from error
    try:
        shape.validate_python(parsed)
    except ValidationError as error:
        raise ProblemError(
            422,
            "The delivery's events are not what this webhook takes.",
            errors=[{"field": _field_path(e["loc"]), "message": e["msg"]} for e in error.errors()],
        ) from error
    events: list[dict[str, Any]] = parsed[key] if key else parsed
    return events


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


@router.post(
    "/v1/webhooks/hubspot",
    status_code=204,
    tags=["webhooks"],
    responses=_WEBHOOK_ANSWERS,
    openapi_extra=_webhook_body(
        "HubSpot's array of webhook events, as HubSpot signs it",
        ("X-HubSpot-Signature-v3", "base64 HMAC-SHA256 of method, URI, body and timestamp"),
        ("X-HubSpot-Request-Timestamp", "Milliseconds since the epoch; at most 5 minutes off"),
    ),
)
async def hubspot_webhook(request: Request) -> Response:
    ctx = _ctx(request)
    body = await request.body()
    settings = ctx.settings
    signature = request.headers.get("x-hubspot-signature-v3", "")
    if not verify_hubspot_v3(
        secret=settings.hubspot_client_secret.get_secret_value(),
        method=request.method,
        uri=_signed_uri(request, settings.webhook_public_base_url),
        body=body,
        timestamp=request.headers.get("x-hubspot-request-timestamp", ""),
        signature=signature,
        now_ms=int(ctx.clock.now().timestamp() * 1000),
        max_skew_ms=settings.webhook_max_skew_seconds * 1000,
    ):
        raise _bad_signature()
    connector = _connector(ctx, "hubspot")
    notices = webhook_notices.hubspot_notices(
        _events(body, webhook_notices.HUBSPOT_DELIVERY), settings.hubspot_app_id
    )
    await _receive(ctx, connector, signature, notices)
    return Response(status_code=204)


@router.post(
    "/v1/webhooks/salesforce",
    status_code=204,
    tags=["webhooks"],
    responses=_WEBHOOK_ANSWERS,
    openapi_extra=_webhook_body(
        "`{events: [...]}` from the org's change-data-capture callout",
        ("X-Dealreg-Signature", "`v1=` + base64 HMAC-SHA256 of `timestamp.body`"),
        ("X-Dealreg-Timestamp", "Milliseconds since the epoch; at most 5 minutes off"),
    ),
)
async def salesforce_webhook(request: Request) -> Response:
    ctx = _ctx(request)
    body = await request.body()
    settings = ctx.settings
    signature = request.headers.get("x-dealreg-signature", "")
    if not verify_dealreg_signature(
        secret=settings.salesforce_webhook_secret.get_secret_value(),
        timestamp=request.headers.get("x-dealreg-timestamp", ""),
        body=body,
        signature=signature,
        now_ms=int(ctx.clock.now().timestamp() * 1000),
    ):
        raise _bad_signature()
    connector = _connector(ctx, "salesforce")
    notices = webhook_notices.salesforce_notices(
        _events(body, _SALESFORCE_DELIVERY, "events"), settings.salesforce_integration_user_id
    )
    await _receive(ctx, connector, signature, notices)
    return Response(status_code=204)


async def _receive(
    ctx: Context, connector: CrmConnector, signature: str, notices: list[webhook_notices.Notice]
) -> None:
    """Apply a verified delivery once: the same signature again is a replay (401)."""
    if not await webhook_replays.claim_signature(ctx, connector.system, signature):
        raise ProblemError(401, "This webhook delivery was already received (a replay).")
    try:
        await inbound.receive_notices(ctx, connector, notices)
    except BaseException as error:
        await webhook_replays.release_signature(ctx, connector.system, signature)
        if isinstance(error, CrmUnavailableError):
            # The CRM delivers again; the reconciliation sweep is the safety net.
            raise ProblemError(503, "The CRM could not be read back; deliver again.") from error
        raise


@router.get(
    "/v1/sync/status",
    tags=["sync"],
    dependencies=OPERATORS,
    response_model=SyncStatus,
    responses=problems(401),
)
async def status(request: Request) -> Any:
    ctx = _ctx(request)
    connectors = []
    if ctx.connector is not None:
        connectors.append(
            await sync_status(ctx.transactions, ctx.connector.system, ctx.clock.now())
        )
    return {
        "connectors": connectors,
        "instance_id": ctx.settings.instance_id,
        "leases": await holders(ctx.transactions),
    }


@router.post(
    "/v1/sync/reconcile",
    status_code=202,
    tags=["sync"],
    dependencies=OPERATORS,
    response_model=ReconcileStarted,
    responses=problems(400, 401, 409, 413, 415, 422, _409="No CRM connector is configured"),
)
async def start_reconcile(request: Request, body: ReconcileRequest | None = None) -> Any:
    ctx = _ctx(request)
    if ctx.connector is None:
        raise ProblemError(409, "No CRM connector is configured.")
    full = body is not None and body.full
    await reconcile.request_sweep(ctx, ctx.connector.system, full=full)
    service_state(
        request, CrmSyncState
    ).reconcile_now.set()  # at once when this instance holds the lease
    return ReconcileStarted(status="started", full=full)


@router.get(
    "/v1/sync/dead-letters",
    tags=["sync"],
    dependencies=OPERATORS,
    response_model=DeadLetterList,
    responses=problems(*READ),
)
async def dead_letters(request: Request, include_replayed: bool = False) -> Any:
    items = await letters.list_dead_letters(_ctx(request), include_replayed=include_replayed)
    return {"items": items}


@router.get(
    # Matched as a number: ``/v1/sync/dead-letters/replay`` is then never also a dead letter.
    "/v1/sync/dead-letters/{dead_letter_id:int}",
    tags=["sync"],
    dependencies=OPERATORS,
    response_model=DeadLetterDetail,
    responses=problems(*READ, 404, _404="No such dead letter"),
)
async def dead_letter(request: Request, dead_letter_id: Annotated[DeadLetterId, Path()]) -> Any:
    letter = await letters.show_dead_letter(_ctx(request), dead_letter_id)
    if letter is None:
        raise ProblemError(404, "No such dead letter.")
    return letter


@router.post(
    "/v1/sync/dead-letters/replay",
    status_code=202,
    tags=["sync"],
    dependencies=OPERATORS,
    response_model=Replayed,
    responses=problems(*WRITE),
)
async def replay(request: Request, body: ReplayRequest | None = None) -> Any:
    replayed = await letters.replay_dead_letters(_ctx(request), body.ids if body else None)
    return {"replayed": replayed}
