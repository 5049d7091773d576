"""A partner submits a registration: stored with its history and its ``submitted`` event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from deal_registration.adapters import repository as repo
from deal_registration.adapters.tables import outbox
from deal_registration.api.models import (
    RegistrationCreate,
)
from deal_registration.domain import validation as rules
from deal_registration.domain.lifecycle import Status
from deal_registration.handlers.access import require_active_partner, require_partner
from deal_registration.handlers.context import (
    Context,
    Principal,
    Response,
    invalid,
    registration_envelope,
)
from deal_registration.handlers.idempotency import request_fingerprint, run_idempotent
from deal_registration.handlers.views import registration_view
from schemas.accounts import account_key
from schemas.registration import (
    AmountData,
    CustomerData,
    PartnerSnapshot,
    RegistrationSubmitted,
)
from services.clock import new_id
from services.outbox import stage_events


async def submit_registration(
    ctx: Context, principal: Principal, body: RegistrationCreate, idempotency_key: str | None
) -> Response:
    """Accept a registration: store it, its history and its ``submitted`` event together."""
    partner_id = require_partner(principal)
    fingerprint = request_fingerprint("POST", "/v1/registrations", body.model_dump(mode="json"))

    async def accept(session: AsyncSession) -> Response:
        return await _accept_registration(ctx, session, partner_id, body)

    return await run_idempotent(ctx, principal, idempotency_key, fingerprint, accept)


async def _accept_registration(
    ctx: Context, session: AsyncSession, partner_id: str, body: RegistrationCreate
) -> Response:
    now = ctx.clock.now()
    partner = await require_active_partner(session, partner_id)
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
        session, outbox, [registration_envelope(submitted, registration, causation=None)], now=now
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
