"""deal_registration's use cases: one function each, called by routes and consumers.

Each runs in one transaction: its state change, its history row, its outbox events, its
webhook deliveries and (for consumers) its inbox row commit together or not at all. Who may
do what is decided here too: a partner acts only on its own registrations (another partner's
answer 404, exactly like a missing one), ops users read everything and write nothing, the
admin manages partners and keys.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from deal_registration import webhooks
from deal_registration.adapters import repository as repo
from deal_registration.adapters.rate_limit import RateLimiter
from deal_registration.adapters.tables import inbox, outbox
from deal_registration.api.models import (
    ApiKeyCreated,
    ApiKeyView,
    OpsUserCreate,
    OpsUserCreated,
    PartnerCreate,
    PartnerCreated,
    PartnerUpdate,
    PartnerView,
    RegistrationCreate,
    RegistrationView,
    WebhookCreated,
    WebhookDeliveryView,
    WebhookUpdate,
    WebhookView,
)
from deal_registration.domain import lifecycle
from deal_registration.domain import validation as rules
from deal_registration.domain.lifecycle import Change, Current, Extension, Status
from schemas.accounts import account_key
from schemas.envelope import EventEnvelope, EventPayload, new_envelope
from schemas.principals import ApiKeyRevoked, OpsKeyIssued
from schemas.registration import (
    AmountData,
    CustomerData,
    ExtensionRequested,
    PartnerSnapshot,
    RegistrationSubmitted,
    RegistrationWithdrawn,
)
from services.clock import Clock, new_id
from services.http.problems import ProblemError
from services.http.security import (
    forbidden,
    hash_api_key,
    is_admin_token,
    new_api_key,
    unauthorized,
)
from services.inbox import claim_event
from services.kafka.consumer import PoisonEventError
from services.outbox import stage_events
from services.uow import TransactionRunner

SOURCE = "/dealreg/deal_registration"
DECISIONS_CONSUMER = "deal_registration.decisions"
CRM_CONSUMER = "deal_registration.crm"
IDEMPOTENCY_KEY_LIFETIME = timedelta(hours=48)  # promised: at least 24 hours
_MAX_CURSOR = 2**62

Response = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the admin, one partner, or a sales-ops user."""

    id: str
    role: Literal["admin", "partner", "ops"]
    partner_id: str | None = None


@dataclass(frozen=True)
class Context:
    transactions: TransactionRunner
    clock: Clock
    admin_token: str
    rate_limiter: RateLimiter | None = None
    webhook_schedule: tuple[float, ...] = field(default=webhooks.DEFAULT_RETRY_SCHEDULE)


def not_found(what: str = "registration") -> ProblemError:
    return ProblemError(404, f"No such {what}.", title="Not Found")


def conflict(detail: str) -> ProblemError:
    return ProblemError(409, detail, title="Conflict")


def invalid(errors: list[dict[str, str]]) -> ProblemError:
    return ProblemError(
        422, "The request has invalid fields.", title="Validation failed", errors=errors
    )


# --- principals -------------------------------------------------------------------------


async def authenticate(ctx: Context, token: str) -> Principal:
    """Who the bearer token is; 401 if nobody (revoked keys stop working at once)."""
    if is_admin_token(token, ctx.admin_token):
        return Principal(id="admin", role="admin")
    async with ctx.transactions.transaction() as session:
        key = await repo.find_api_key(session, hash_api_key(token))
    if key is None:
        raise unauthorized()
    principal = (
        Principal(id=key["id"], role="partner", partner_id=key["partner_id"])
        if key["role"] == "partner"
        else Principal(id=key["id"], role="ops")
    )
    if ctx.rate_limiter is not None:
        retry_after = ctx.rate_limiter.check(principal.id)
        if retry_after is not None:
            raise ProblemError(
                429,
                "Too many requests for this API key; retry after the given number of seconds.",
                title="Too Many Requests",
                headers={"Retry-After": str(retry_after)},
            )
    return principal


def require_admin(principal: Principal) -> None:
    if principal.role != "admin":
        raise forbidden("Only the admin may do that.")


def require_partner(principal: Principal) -> str:
    if principal.role != "partner" or principal.partner_id is None:
        raise forbidden("Only a partner's API key may do that; ops users read only.")
    return principal.partner_id


async def _require_active_partner(session: AsyncSession, partner_id: str) -> RowMapping:
    partner = await repo.get_partner(session, partner_id)
    if partner is None or partner["status"] != "active":
        raise forbidden("The partner is suspended; it may read but not write.")
    return partner


# --- partners, ops users, keys (admin) --------------------------------------------------


async def create_partner(ctx: Context, body: PartnerCreate) -> PartnerCreated:
    now = ctx.clock.now()
    partner = {
        "id": new_id(),
        "name": body.name,
        "tier": body.tier,
        "status": "active",
        "country": body.country,
        "product_lines": sorted(set(body.product_lines)),
        "created_at": now,
        "updated_at": now,
    }
    async with ctx.transactions.transaction() as session:
        await repo.insert_partner(session, partner)
        api_key, key_id = await _issue_key(session, role="partner", partner=partner, now=now)
    return PartnerCreated(**_partner_view(partner).model_dump(), api_key=api_key, api_key_id=key_id)


async def _issue_key(
    session: AsyncSession,
    *,
    role: Literal["partner", "ops"],
    partner: dict[str, Any] | RowMapping | None,
    now: datetime,
    name: str | None = None,
    key_id: str | None = None,
) -> tuple[str, str]:
    api_key = new_api_key()
    key_id = key_id or new_id()
    key_name = name or (partner["name"] if partner is not None else role)
    await repo.insert_api_key(
        session,
        {
            "id": key_id,
            "key_hash": hash_api_key(api_key),
            "role": role,
            "partner_id": partner["id"] if partner is not None else None,
            "name": key_name,
            "created_at": now,
        },
    )
    if role == "ops":
        # The resolver and crm_sync authenticate ops users from their own copy of the hashes.
        issued = OpsKeyIssued(
            key_id=key_id,
            principal_id=key_id,
            name=key_name,
            key_hash=hash_api_key(api_key),
            issued_at=now,
        )
        await stage_events(session, outbox, [_principal_envelope(issued, key_id, now)], now=now)
    return api_key, key_id


def _principal_envelope(payload: EventPayload, key_id: str, now: datetime) -> EventEnvelope[Any]:
    return new_envelope(
        payload,
        event_id=new_id(),
        source=SOURCE,
        subject=key_id,
        time=now,
        correlation_id=new_id(),
        causation_id=None,
        partition_key=key_id,
    )


async def _partner_or_404(session: AsyncSession, partner_id: str) -> RowMapping:
    partner = await repo.get_partner(session, partner_id) if _is_uuid(partner_id) else None
    if partner is None:
        raise not_found("partner")
    return partner


async def get_partner(ctx: Context, partner_id: str) -> PartnerView:
    async with ctx.transactions.transaction() as session:
        partner = await _partner_or_404(session, partner_id)
    return _partner_view(dict(partner))


async def update_partner(ctx: Context, partner_id: str, body: PartnerUpdate) -> PartnerView:
    changes: dict[str, Any] = body.model_dump(exclude_none=True)
    if "product_lines" in changes:
        changes["product_lines"] = sorted(set(changes["product_lines"]))
    async with ctx.transactions.transaction() as session:
        await _partner_or_404(session, partner_id)
        await repo.update_partner(session, partner_id, {**changes, "updated_at": ctx.clock.now()})
        partner = await repo.get_partner(session, partner_id)
    assert partner is not None  # noqa: S101 - read back in the same transaction
    return _partner_view(dict(partner))


async def create_ops_user(ctx: Context, body: OpsUserCreate) -> OpsUserCreated:
    async with ctx.transactions.transaction() as session:
        api_key, key_id = await _issue_key(
            session, role="ops", partner=None, now=ctx.clock.now(), name=body.name
        )
    return OpsUserCreated(id=key_id, name=body.name, api_key=api_key, api_key_id=key_id)


async def issue_partner_key(ctx: Context, partner_id: str) -> ApiKeyCreated:
    """A new key for the partner (rotation: issue, switch the frontend, revoke the old one)."""
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        partner = await _partner_or_404(session, partner_id)
        api_key, key_id = await _issue_key(session, role="partner", partner=partner, now=now)
    return ApiKeyCreated(
        id=key_id, role="partner", partner_id=partner_id, created_at=now, api_key=api_key
    )


async def list_partner_keys(ctx: Context, partner_id: str) -> list[ApiKeyView]:
    async with ctx.transactions.transaction() as session:
        await _partner_or_404(session, partner_id)
        rows = await repo.api_keys_of_partner(session, partner_id)
    return [_key_view(row) for row in rows]


async def revoke_key(ctx: Context, key_id: str) -> None:
    """Revoke a partner or ops key; the next request with it is 401. Revoking twice is fine."""
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        key = await repo.get_api_key(session, key_id) if _is_uuid(key_id) else None
        if key is None:
            raise not_found("API key")
        await repo.revoke_api_key(session, key_id, now=now)
        revoked = ApiKeyRevoked(
            key_id=key_id, principal_id=key_id, key_hash=key["key_hash"], revoked_at=now
        )
        await stage_events(session, outbox, [_principal_envelope(revoked, key_id, now)], now=now)


def _key_view(row: RowMapping) -> ApiKeyView:
    return ApiKeyView(
        id=row["id"],
        role=row["role"],
        partner_id=row["partner_id"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def _partner_view(partner: dict[str, Any]) -> PartnerView:
    return PartnerView(
        id=partner["id"],
        name=partner["name"],
        tier=partner["tier"],
        status=partner["status"],
        product_lines=list(partner["product_lines"]),
        country=partner["country"],
        created_at=partner["created_at"],
    )


# --- idempotency ------------------------------------------------------------------------


def request_fingerprint(method: str, path: str, body: dict[str, Any] | None) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _idempotent(
    ctx: Context,
    principal: Principal,
    key: str | None,
    fingerprint: str,
    action: Callable[[AsyncSession], Awaitable[Response]],
) -> Response:
    """Run ``action`` once per (caller, Idempotency-Key); a retry gets the stored response.

    The key row is inserted first in the action's transaction: a concurrent request with the
    same key blocks on it, and once the first commits, fails and replays its response. Errors
    roll the key back with everything else, so a corrected retry may reuse the key.
    """
    if key is None:
        async with ctx.transactions.transaction() as session:
            return await action(session)
    replay = await _replay(ctx, principal, key, fingerprint)
    if replay is not None:
        return replay
    try:
        async with ctx.transactions.transaction() as session:
            await repo.claim_idempotency_key(
                session,
                principal_id=principal.id,
                key=key,
                request_hash=fingerprint,
                now=ctx.clock.now(),
            )
            status_code, response = await action(session)
            await repo.complete_idempotency_key(
                session,
                principal_id=principal.id,
                key=key,
                status_code=status_code,
                response=response,
            )
        return status_code, response
    except IntegrityError:
        replay = await _replay(ctx, principal, key, fingerprint)
        if replay is None:
            raise
        return replay


async def _replay(
    ctx: Context, principal: Principal, key: str, fingerprint: str
) -> Response | None:
    async with ctx.transactions.transaction() as session:
        stored = await repo.find_idempotent_response(session, principal.id, key)
    if stored is None:
        return None
    if stored["request_hash"] != fingerprint:
        raise ProblemError(
            422,
            "This Idempotency-Key was already used with a different request.",
            title="Idempotency key reused",
            errors=[{"field": "header.idempotency-key", "message": "was used for another request"}],
        )
    return int(stored["status_code"]), dict(stored["response"])


async def purge_idempotency_keys(ctx: Context) -> int:
    """Forget keys older than the lifetime (48 hours; the promise is at least 24)."""
    async with ctx.transactions.transaction() as session:
        return await repo.purge_idempotency_keys(
            session, older_than=ctx.clock.now() - IDEMPOTENCY_KEY_LIFETIME
        )


# --- registrations: submit --------------------------------------------------------------


async def submit_registration(
    ctx: Context, principal: Principal, body: RegistrationCreate, idempotency_key: str | None
) -> Response:
    """Accept a registration: store it, its history and its ``submitted`` event together."""
    partner_id = require_partner(principal)
    fingerprint = request_fingerprint("POST", "/v1/registrations", body.model_dump(mode="json"))

    async def accept(session: AsyncSession) -> Response:
        return await _accept_registration(ctx, session, partner_id, body)

    return await _idempotent(ctx, principal, idempotency_key, fingerprint, accept)


async def _accept_registration(
    ctx: Context, session: AsyncSession, partner_id: str, body: RegistrationCreate
) -> Response:
    now = ctx.clock.now()
    partner = await _require_active_partner(session, partner_id)
    errors = registration_problems(body, partner["product_lines"], today=now.date())
    if errors:
        raise invalid(errors)
    try:
        key = account_key(
            name=body.customer.name, domain=body.customer.domain, country=body.customer.country
        )
    except ValueError:
        # No company domain (none, or free mail) and a name of punctuation alone: nothing
        # identifies the customer.
        raise invalid(
            [
                {
                    "field": "customer.name",
                    "message": "needs a letter or digit when no company domain is given",
                }
            ]
        ) from None
    await repo.lock_account(session, key)
    registration = _new_registration_row(body, partner_id, key, now)
    seq = await repo.insert_registration(session, registration)
    await repo.append_history(
        session,
        {
            "registration_id": registration["id"],
            "status": Status.SUBMITTED.value,
            "actor": f"partner:{partner_id}",
            "at": now,
        },
    )
    submitted = _submitted_event(registration, seq, partner)
    await stage_events(
        session, outbox, [_envelope(submitted, registration, causation=None)], now=now
    )
    return 202, registration_view(registration).model_dump(mode="json")


def registration_problems(
    body: RegistrationCreate, authorised_lines: list[str], *, today: Any
) -> list[dict[str, str]]:
    """The checks that need the partner or today's date, each naming its field."""
    errors = []
    problem = rules.product_line_problem(body.product_line, authorised_lines)
    if problem:
        errors.append({"field": "product_line", "message": problem})
    problem = rules.close_date_problem(body.expected_close_date, today=today)
    if problem:
        errors.append({"field": "expected_close_date", "message": problem})
    return errors


def _new_registration_row(
    body: RegistrationCreate, partner_id: str, key: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "partner_id": partner_id,
        "customer_name": body.customer.name,
        "customer_domain": body.customer.domain,
        "customer_country": body.customer.country,
        "account_key": key,
        "product_line": body.product_line,
        "deal_type": body.deal_type,
        "amount_value": body.amount.value,
        "amount_currency": body.amount.currency,
        "expected_close_date": body.expected_close_date,
        "contact_name": body.contact.name if body.contact else None,
        "contact_email": str(body.contact.email) if body.contact else None,
        "description": body.description,
        "partner_reference": body.partner_reference,
        "status": Status.SUBMITTED.value,
        "submitted_at": now,
        "correlation_id": new_id(),
        "updated_at": now,
    }


def _submitted_event(
    registration: dict[str, Any], seq: int, partner: RowMapping
) -> RegistrationSubmitted:
    return RegistrationSubmitted(
        registration_id=registration["id"],
        submission_seq=seq,
        submitted_at=registration["submitted_at"],
        partner=PartnerSnapshot(
            id=partner["id"],
            name=partner["name"],
            tier=partner["tier"],
            status=partner["status"],
            product_lines=tuple(partner["product_lines"]),
        ),
        customer=CustomerData(
            name=registration["customer_name"],
            domain=registration["customer_domain"],
            country=registration["customer_country"],
        ),
        account_key=registration["account_key"],
        product_line=registration["product_line"],
        deal_type=registration["deal_type"],
        amount=AmountData(
            value=registration["amount_value"], currency=registration["amount_currency"]
        ),
        expected_close_date=registration["expected_close_date"],
    )


def _envelope(
    payload: EventPayload,
    registration: dict[str, Any] | RowMapping,
    *,
    causation: str | None,
    time: datetime | None = None,
) -> EventEnvelope[Any]:
    return new_envelope(
        payload,
        event_id=new_id(),
        source=SOURCE,
        subject=registration["id"],
        time=time or registration["updated_at"],
        correlation_id=registration["correlation_id"],
        causation_id=causation,
        partition_key=registration["account_key"],
    )


def registration_view(row: dict[str, Any] | RowMapping) -> RegistrationView:
    """The registration as partners see it: no internal fields, CRM link once mirrored."""
    contact = (
        {"name": row["contact_name"], "email": row["contact_email"]}
        if row.get("contact_name")
        else None
    )
    crm = (
        {
            "system": row["crm_system"],
            "opportunity_id": row["crm_opportunity_id"],
            "stage": row.get("crm_stage"),
        }
        if row.get("crm_opportunity_id")
        else None
    )
    return RegistrationView.model_validate(
        {
            "id": row["id"],
            "partner_id": row["partner_id"],
            "customer": {
                "name": row["customer_name"],
                "domain": row["customer_domain"],
                "country": row["customer_country"],
            },
            "product_line": row["product_line"],
            "deal_type": row["deal_type"],
            "amount": {"value": f"{row['amount_value']:.2f}", "currency": row["amount_currency"]},
            "expected_close_date": row["expected_close_date"],
            "contact": contact,
            "description": row.get("description"),
            "partner_reference": row.get("partner_reference"),
            "status": row["status"],
            "reason_code": row.get("reason_code"),
            "reason": row.get("reason"),
            "submitted_at": row["submitted_at"],
            "decided_at": row.get("decided_at"),
            "protection_expires_at": row.get("protection_expires_at"),
            "extension": row.get("extension_state"),
            "crm": crm,
        }
    )


# --- registrations: read ----------------------------------------------------------------


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower() and len(value) == 36
    except ValueError:
        return False


def _may_see(principal: Principal, row: RowMapping) -> bool:
    if principal.role == "partner":
        return bool(row["partner_id"] == principal.partner_id)
    return True


async def get_registration(ctx: Context, principal: Principal, registration_id: str) -> RowMapping:
    """The registration if the caller may see it; another partner's answers 404, as if absent."""
    if not _is_uuid(registration_id):
        raise not_found()
    async with ctx.transactions.transaction() as session:
        row = await repo.get_registration(session, registration_id)
    if row is None or not _may_see(principal, row):
        raise not_found()
    return row


async def list_registrations(
    ctx: Context,
    principal: Principal,
    *,
    status: str | None,
    product_line: str | None = None,
    partner_id: str | None = None,
    limit: int,
    cursor: str | None,
) -> tuple[list[RowMapping], str | None]:
    """A page of registrations in submission order: a partner's own, or (ops) everyone's."""
    after_seq = _decode_cursor(cursor)
    if principal.role == "partner":
        if partner_id is not None and partner_id != principal.partner_id:
            return [], None  # another partner's registrations do not exist for this caller
        partner_id = principal.partner_id
    async with ctx.transactions.transaction() as session:
        rows = await repo.list_registrations(
            session,
            partner_id=partner_id,
            status=status,
            product_line=product_line,
            after_seq=after_seq,
            limit=limit + 1,
        )
    next_cursor = str(rows[limit - 1]["submission_seq"]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not (cursor.isascii() and cursor.isdigit()) or int(cursor) >= _MAX_CURSOR:
        raise ProblemError(
            422,
            "The cursor is not one this API returned.",
            title="Validation failed",
            errors=[{"field": "query.cursor", "message": "is not a valid cursor"}],
        )
    return int(cursor)


async def registration_history(
    ctx: Context, principal: Principal, registration_id: str
) -> list[RowMapping]:
    await get_registration(ctx, principal, registration_id)
    async with ctx.transactions.transaction() as session:
        return await repo.history_of(session, registration_id)


# --- registrations: the partner's own changes -------------------------------------------


def _current(row: RowMapping) -> Current:
    extension = row.get("extension_state")
    return Current(
        status=Status(row["status"]),
        extension=Extension(extension) if extension else None,
        protection_expires_at=row.get("protection_expires_at"),
        crm_changed_at=row.get("crm_changed_at"),
    )


async def withdraw_registration(
    ctx: Context, principal: Principal, registration_id: str, idempotency_key: str | None
) -> Response:
    """Withdraw: the status becomes ``withdrawn`` now and ``RegistrationWithdrawn`` tells the
    resolver to free the protection (and the waitlist behind it)."""

    def event(row: RowMapping, now: datetime) -> EventPayload:
        return RegistrationWithdrawn(
            registration_id=row["id"],
            account_key=row["account_key"],
            product_line=row["product_line"],
            withdrawn_at=now,
            previous_status=row["status"],
        )

    return await _partner_change(
        ctx, principal, registration_id, idempotency_key, "withdraw", lifecycle.withdraw, event
    )


async def request_extension(
    ctx: Context, principal: Principal, registration_id: str, idempotency_key: str | None
) -> Response:
    """Ask once to extend the protection: ``ExtensionRequested``; the resolver decides."""

    def event(row: RowMapping, now: datetime) -> EventPayload:
        return ExtensionRequested(
            registration_id=row["id"],
            account_key=row["account_key"],
            product_line=row["product_line"],
            requested_at=now,
        )

    return await _partner_change(
        ctx,
        principal,
        registration_id,
        idempotency_key,
        "extension",
        lifecycle.request_extension,
        event,
    )


async def _partner_change(
    ctx: Context,
    principal: Principal,
    registration_id: str,
    idempotency_key: str | None,
    action_name: str,
    decide: Callable[..., Change],
    event: Callable[[RowMapping, datetime], EventPayload],
) -> Response:
    partner_id = require_partner(principal)
    path = f"/v1/registrations/{registration_id}/{action_name}"

    async def act(session: AsyncSession) -> Response:
        await _require_active_partner(session, partner_id)
        row = (
            await repo.lock_registration(session, registration_id)
            if _is_uuid(registration_id)
            else None
        )
        if row is None or row["partner_id"] != partner_id:
            raise not_found()
        now = ctx.clock.now()
        try:
            change = decide(_current(row), now=now)
        except lifecycle.TransitionRefusedError as refused:
            raise conflict(str(refused)) from refused
        payload = event(row, now)
        await _apply_change(session, row, change, actor=f"partner:{partner_id}", event_id=None)
        await stage_events(
            session, outbox, [_envelope(payload, row, causation=None, time=now)], now=now
        )
        updated = await repo.get_registration(session, registration_id)
        assert updated is not None  # noqa: S101 - locked above
        return 202, registration_view(updated).model_dump(mode="json")

    return await _idempotent(
        ctx, principal, idempotency_key, request_fingerprint("POST", path, None), act
    )


async def _apply_change(
    session: AsyncSession, row: RowMapping, change: Change, *, actor: str, event_id: str | None
) -> None:
    """Write a change, its history entry and (if the partner has a webhook) its delivery."""
    if change.updates:
        await repo.update_registration(session, row["id"], change.updates)
    entry = change.entry
    if entry is None:
        return
    await repo.append_history(
        session,
        {
            "registration_id": row["id"],
            "status": entry.status.value,
            "reason_code": entry.reason_code,
            "reason": entry.reason,
            "actor": actor,
            "event_id": event_id,
            "at": entry.at,
        },
    )
    await webhooks.stage_delivery(session, {**row, **change.updates}, entry)


# --- what the other services tell us ----------------------------------------------------


async def apply_event(ctx: Context, envelope: EventEnvelope[Any], *, consumer: str) -> None:
    """Apply a decision or CRM event to the partner's view, once (through the inbox)."""
    data = envelope.data
    registration_id = getattr(data, "registration_id", None)
    if not isinstance(registration_id, str):
        raise PoisonEventError(f"{envelope.type} names no registration")
    async with ctx.transactions.transaction() as session:
        now = ctx.clock.now()
        is_new = await claim_event(
            session,
            inbox,
            consumer=consumer,
            event_id=envelope.id,
            event_type=envelope.type,
            now=now,
        )
        if not is_new:
            return
        row = await repo.lock_registration(session, registration_id)
        if row is None:
            raise PoisonEventError(f"unknown registration {registration_id}")
        change = lifecycle.change_for(data, _current(row), now=now)
        if change is None:
            return  # a late or repeated event: the partner's view already moved on
        actor = "crm_sync" if consumer == CRM_CONSUMER else "conflict_resolver"
        await _apply_change(session, row, change, actor=actor, event_id=envelope.id)


# --- partner webhooks -------------------------------------------------------------------


async def put_webhook(ctx: Context, principal: Principal, body: WebhookUpdate) -> WebhookCreated:
    partner_id = require_partner(principal)
    problem = rules.webhook_url_problem(body.url)
    if problem:
        raise invalid([{"field": "url", "message": problem}])
    now = ctx.clock.now()
    secret = webhooks.new_secret()
    async with ctx.transactions.transaction() as session:
        await _require_active_partner(session, partner_id)
        await repo.put_webhook(
            session,
            {"partner_id": partner_id, "url": body.url, "secret": secret, "created_at": now},
        )
    return WebhookCreated(url=body.url, created_at=now, secret=secret)


async def get_webhook(ctx: Context, principal: Principal) -> WebhookView:
    partner_id = require_partner(principal)
    async with ctx.transactions.transaction() as session:
        row = await repo.get_webhook(session, partner_id)
    if row is None:
        raise not_found("webhook")
    return WebhookView(url=row["url"], created_at=row["created_at"])


async def delete_webhook(ctx: Context, principal: Principal) -> None:
    partner_id = require_partner(principal)
    async with ctx.transactions.transaction() as session:
        await _require_active_partner(session, partner_id)
        if not await repo.delete_webhook(session, partner_id):
            raise not_found("webhook")


async def webhook_deliveries(
    ctx: Context, principal: Principal, *, limit: int
) -> list[WebhookDeliveryView]:
    partner_id = require_partner(principal)
    async with ctx.transactions.transaction() as session:
        rows = await repo.deliveries_of_partner(session, partner_id, limit=limit)
    return [webhooks.delivery_view(row) for row in rows]
