"""deal_registration's use cases: one function each, called by routes and consumers.

Each runs in one transaction: its state change, its history row, its outbox events and (for
consumers) its inbox row commit together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy import RowMapping
from sqlalchemy.exc import IntegrityError

from deal_registration.adapters import repository as repo
from deal_registration.adapters.tables import inbox, outbox
from deal_registration.api.models import (
    OpsUserCreate,
    OpsUserCreated,
    PartnerCreate,
    PartnerCreated,
    PartnerUpdate,
    PartnerView,
    RegistrationCreate,
    RegistrationView,
)
from deal_registration.domain.lifecycle import Status, can_transition
from schemas.accounts import account_key
from schemas.envelope import EventEnvelope, EventPayload, new_envelope
from schemas.registration import (
    AmountData,
    CustomerData,
    PartnerSnapshot,
    RegistrationApproved,
    RegistrationRejected,
    RegistrationSubmitted,
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
MAX_CLOSE_DATE_HORIZON = timedelta(days=2 * 366)


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


def not_found() -> ProblemError:
    return ProblemError(404, "No such registration.", title="Not Found")


# --- principals -------------------------------------------------------------------------


async def authenticate(ctx: Context, token: str) -> Principal:
    if is_admin_token(token, ctx.admin_token):
        return Principal(id="admin", role="admin")
    async with ctx.transactions.transaction() as session:
        key = await repo.find_api_key(session, hash_api_key(token))
    if key is None:
        raise unauthorized()
    if key["role"] == "partner":
        return Principal(id=key["id"], role="partner", partner_id=key["partner_id"])
    return Principal(id=key["id"], role="ops")


def require_admin(principal: Principal) -> None:
    if principal.role != "admin":
        raise forbidden("Only the admin may do that.")


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
    api_key = new_api_key()
    async with ctx.transactions.transaction() as session:
        await repo.insert_partner(session, partner)
        await repo.insert_api_key(
            session,
            {
                "id": new_id(),
                "key_hash": hash_api_key(api_key),
                "role": "partner",
                "partner_id": partner["id"],
                "name": body.name,
                "created_at": now,
            },
        )
    return PartnerCreated(**_partner_view(partner).model_dump(), api_key=api_key)


async def get_partner(ctx: Context, partner_id: str) -> PartnerView:
    async with ctx.transactions.transaction() as session:
        partner = await repo.get_partner(session, partner_id)
    if partner is None:
        raise ProblemError(404, "No such partner.", title="Not Found")
    return _partner_view(dict(partner))


async def update_partner(ctx: Context, partner_id: str, body: PartnerUpdate) -> PartnerView:
    changes: dict[str, Any] = body.model_dump(exclude_none=True)
    if "product_lines" in changes:
        changes["product_lines"] = sorted(set(changes["product_lines"]))
    async with ctx.transactions.transaction() as session:
        if await repo.get_partner(session, partner_id) is None:
            raise ProblemError(404, "No such partner.", title="Not Found")
        await repo.update_partner(session, partner_id, {**changes, "updated_at": ctx.clock.now()})
        partner = await repo.get_partner(session, partner_id)
    assert partner is not None  # noqa: S101 - read back in the same transaction
    return _partner_view(dict(partner))


async def create_ops_user(ctx: Context, body: OpsUserCreate) -> OpsUserCreated:
    api_key = new_api_key()
    user_id = new_id()
    async with ctx.transactions.transaction() as session:
        await repo.insert_api_key(
            session,
            {
                "id": user_id,
                "key_hash": hash_api_key(api_key),
                "role": "ops",
                "partner_id": None,
                "name": body.name,
                "created_at": ctx.clock.now(),
            },
        )
    return OpsUserCreated(id=user_id, name=body.name, api_key=api_key)


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


# --- registrations ----------------------------------------------------------------------


async def submit_registration(
    ctx: Context, principal: Principal, body: RegistrationCreate, idempotency_key: str | None
) -> tuple[int, dict[str, Any]]:
    """Accept a registration: store it, its history and its ``submitted`` event together.

    With an ``Idempotency-Key`` a retry returns the original response; the same key with a
    different body is refused. Concurrent retries race on the key's primary key, and the loser
    answers with the winner's response.
    """
    if principal.role != "partner" or principal.partner_id is None:
        raise forbidden("Only a partner may register deals.")
    request_hash = hashlib.sha256(
        json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()
    if idempotency_key is not None:
        replay = await _replay_idempotent(ctx, principal, idempotency_key, request_hash)
        if replay is not None:
            return replay
    try:
        return await _accept_registration(ctx, principal, body, idempotency_key, request_hash)
    except IntegrityError:
        if idempotency_key is None:
            raise
        replay = await _replay_idempotent(ctx, principal, idempotency_key, request_hash)
        if replay is None:
            raise
        return replay


async def _replay_idempotent(
    ctx: Context, principal: Principal, key: str, request_hash: str
) -> tuple[int, dict[str, Any]] | None:
    async with ctx.transactions.transaction() as session:
        stored = await repo.find_idempotent_response(session, principal.id, key)
    if stored is None:
        return None
    if stored["request_hash"] != request_hash:
        raise ProblemError(
            422,
            "This Idempotency-Key was already used with a different request body.",
            title="Idempotency key reused",
            errors=[{"field": "header.idempotency-key", "message": "was used for another body"}],
        )
    return int(stored["status_code"]), dict(stored["response"])


async def _accept_registration(
    ctx: Context,
    principal: Principal,
    body: RegistrationCreate,
    idempotency_key: str | None,
    request_hash: str,
) -> tuple[int, dict[str, Any]]:
    now = ctx.clock.now()
    assert principal.partner_id is not None  # noqa: S101 - checked by the caller
    async with ctx.transactions.transaction() as session:
        partner = await repo.get_partner(session, principal.partner_id)
        if partner is None or partner["status"] != "active":
            raise forbidden("The partner is suspended; it may not register deals.")
        _check_business_fields(body, partner, today=now.date())
        key = account_key(
            name=body.customer.name, domain=body.customer.domain, country=body.customer.country
        )
        await repo.lock_account(session, key)
        registration = _new_registration_row(body, principal.partner_id, key, now)
        seq = await repo.insert_registration(session, registration)
        await repo.append_history(
            session,
            {
                "registration_id": registration["id"],
                "status": Status.SUBMITTED.value,
                "actor": f"partner:{principal.partner_id}",
                "at": now,
            },
        )
        submitted = _submitted_event(registration, seq, partner)
        await stage_events(
            session, outbox, [_envelope(submitted, registration, causation=None)], now=now
        )
        response = registration_view(registration).model_dump(mode="json")
        if idempotency_key is not None:
            await repo.store_idempotent_response(
                session,
                principal_id=principal.id,
                key=idempotency_key,
                request_hash=request_hash,
                status_code=202,
                response=response,
                now=now,
            )
    return 202, response


def _check_business_fields(body: RegistrationCreate, partner: RowMapping, *, today: date) -> None:
    errors = []
    if body.product_line not in partner["product_lines"]:
        errors.append(
            {"field": "product_line", "message": "is not a product line this partner may register"}
        )
    if body.expected_close_date < today:
        errors.append({"field": "expected_close_date", "message": "is in the past"})
    elif body.expected_close_date > today + MAX_CLOSE_DATE_HORIZON:
        errors.append({"field": "expected_close_date", "message": "is more than 2 years away"})
    if errors:
        raise ProblemError(
            422, "The request has invalid fields.", title="Validation failed", errors=errors
        )


def _new_registration_row(
    body: RegistrationCreate, partner_id: str, key: str, now: Any
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
    payload: EventPayload, registration: dict[str, Any] | RowMapping, *, causation: str | None
) -> EventEnvelope[Any]:
    return new_envelope(
        payload,
        event_id=new_id(),
        source=SOURCE,
        subject=registration["id"],
        time=registration["updated_at"],
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
            "amount": {"value": row["amount_value"], "currency": row["amount_currency"]},
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
            "crm": crm,
        }
    )


async def get_registration(ctx: Context, principal: Principal, registration_id: str) -> RowMapping:
    """The registration if the caller may see it; another partner's answers 404, as if absent."""
    async with ctx.transactions.transaction() as session:
        row = await repo.get_registration(session, registration_id)
    if row is None or not _may_see(principal, row):
        raise not_found()
    return row


def _may_see(principal: Principal, row: RowMapping) -> bool:
    if principal.role == "partner":
        return bool(row["partner_id"] == principal.partner_id)
    return True


async def list_registrations(
    ctx: Context, principal: Principal, *, status: str | None, limit: int, cursor: str | None
) -> tuple[list[RowMapping], str | None]:
    after_seq = _decode_cursor(cursor)
    partner_filter = principal.partner_id if principal.role == "partner" else None
    async with ctx.transactions.transaction() as session:
        rows = await repo.list_registrations(
            session, partner_id=partner_filter, status=status, after_seq=after_seq, limit=limit + 1
        )
    next_cursor = str(rows[limit - 1]["submission_seq"]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit():
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


# --- decisions from the resolver -------------------------------------------------------


async def apply_decision(ctx: Context, envelope: EventEnvelope[Any]) -> None:
    """Show the resolver's decision to the partner: status, reason, expiry, history."""
    decision = envelope.data
    if not isinstance(decision, RegistrationApproved | RegistrationRejected):
        raise PoisonEventError(f"not a decision: {envelope.type}")
    async with ctx.transactions.transaction() as session:
        is_new = await claim_event(
            session,
            inbox,
            consumer=DECISIONS_CONSUMER,
            event_id=envelope.id,
            event_type=envelope.type,
            now=ctx.clock.now(),
        )
        if not is_new:
            return
        row = await repo.get_registration(session, decision.registration_id)
        if row is None:
            raise PoisonEventError(f"unknown registration {decision.registration_id}")
        target = Status.APPROVED if isinstance(decision, RegistrationApproved) else Status.REJECTED
        if not can_transition(Status(row["status"]), target):
            return  # a late or repeated decision: the partner's view already moved on
        changes: dict[str, Any] = {
            "status": target.value,
            "reason": decision.reason,
            "decided_at": decision.decided_at,
            "updated_at": ctx.clock.now(),
            "reason_code": getattr(decision, "reason_code", None),
            "protection_expires_at": getattr(decision, "protection_expires_at", None),
        }
        await repo.update_registration(session, decision.registration_id, changes)
        await repo.append_history(
            session,
            {
                "registration_id": decision.registration_id,
                "status": target.value,
                "reason_code": changes["reason_code"],
                "reason": decision.reason,
                "actor": "conflict_resolver",
                "event_id": envelope.id,
                "at": decision.decided_at,
            },
        )
