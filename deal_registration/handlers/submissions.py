"""A partner submits a registration: stored with its history and its ``submitted`` event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from deal_registration.adapters import repository as repo
from deal_registration.adapters.repository import Session
from deal_registration.adapters.tables import outbox
from deal_registration.domain import validation as rules
from deal_registration.domain.errors import ConflictError, FieldProblemsError
from deal_registration.domain.lifecycle import Status
from deal_registration.handlers.access import PartnerWrite
from deal_registration.handlers.context import Context, Row, registration_envelope
from deal_registration.handlers.idempotency import (
    Answer,
    IdempotentRequest,
    Present,
    run_idempotent_in,
)
from schemas.accounts import account_key
from schemas.registration import (
    AmountData,
    CustomerData,
    PartnerSnapshot,
    RegistrationSubmitted,
)
from services.clock import new_id
from services.outbox import stage_events
from services.tracing import annotate


@dataclass(frozen=True, kw_only=True)
class NewRegistration:
    """What a partner registers (the API has already checked each field's form)."""

    customer_name: str
    customer_domain: str | None
    customer_country: str
    product_line: str
    deal_type: str
    amount_value: Decimal
    amount_currency: str
    expected_close_date: date
    contact_name: str | None = None
    contact_email: str | None = None
    description: str | None = None
    partner_reference: str | None = None
    role: str = "sourced"


async def submit_registration(
    ctx: Context,
    write: PartnerWrite,
    new: NewRegistration,
    request: IdempotentRequest,
    present: Present,
) -> Answer:
    """Accept a registration: store it, its history and its ``submitted`` event together, in
    the request's write transaction (``write``); answer with ``present`` of the stored
    registration."""

    async def accept(session: Session) -> Answer:
        return present(await _accept_registration(ctx, session, write.caller.partner, new))

    async with write.transaction() as session:
        return await run_idempotent_in(ctx, session, write.caller.principal, request, accept)


async def _accept_registration(
    ctx: Context, session: Session, partner: Row, new: NewRegistration
) -> dict[str, Any]:
    now = ctx.clock.now()
    errors = registration_problems(new, partner["product_lines"], today=now.date())
    if errors:
        raise FieldProblemsError(errors)
    try:
        key = account_key(
            name=new.customer_name, domain=new.customer_domain, country=new.customer_country
        )
    except ValueError:
        # No company domain (none, or free mail) and a name of punctuation alone: nothing
        # identifies the customer.
        raise FieldProblemsError(
            [
                {
                    "field": "customer.name",
                    "message": "needs a letter or digit when no company domain is given",
                }
            ]
        ) from None
    await repo.lock_account(session, key)
    if new.role == "influence":
        await _refuse_second_influence(session, partner["id"], key, new.product_line)
    registration = _new_registration_row(new, partner["id"], key, now)
    seq = await repo.insert_registration(session, registration)
    await repo.append_history(
        session,
        {
            "registration_id": registration["id"],
            "status": Status.SUBMITTED.value,
            "actor": f"partner:{partner['id']}",
            "at": now,
            "recorded_at": now,
        },
    )
    submitted = submitted_event(registration, seq, partner)
    annotate(registration_id=registration["id"], correlation_id=registration["correlation_id"])
    await stage_events(
        session, outbox, [registration_envelope(submitted, registration, causation=None)], now=now
    )
    return registration


async def _refuse_second_influence(
    session: Session, partner_id: str, key: str, product_line: str
) -> None:
    """A partner declares influence on one account and product line once while it is live
    (its own claims only: nothing about other partners is read or told)."""
    first = await repo.live_influence_of(session, partner_id, key, product_line)
    if first is not None:
        raise ConflictError(
            f"You already declared influence on this customer and product line as {first}."
        )


def registration_problems(
    new: NewRegistration, authorised_lines: list[str], *, today: date
) -> list[dict[str, str]]:
    """The checks that need the partner or today's date, each naming its field."""
    errors = []
    problem = rules.product_line_problem(new.product_line, authorised_lines)
    if problem:
        errors.append({"field": "product_line", "message": problem})
    problem = rules.close_date_problem(new.expected_close_date, today=today)
    if problem:
        errors.append({"field": "expected_close_date", "message": problem})
    return errors


def _new_registration_row(
    new: NewRegistration, partner_id: str, key: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "partner_id": partner_id,
        "customer_name": new.customer_name,
        "customer_domain": new.customer_domain,
        "customer_country": new.customer_country,
        "account_key": key,
        "product_line": new.product_line,
        "deal_type": new.deal_type,
        "amount_value": new.amount_value,
        "amount_currency": new.amount_currency,
        "expected_close_date": new.expected_close_date,
        "contact_name": new.contact_name,
        "contact_email": new.contact_email,
        "description": new.description,
        "partner_reference": new.partner_reference,
        "status": Status.SUBMITTED.value,
        "role": new.role,
        "submitted_at": now,
        "correlation_id": new_id(),
        "updated_at": now,
    }


def submitted_event(registration: dict[str, Any], seq: int, partner: Row) -> RegistrationSubmitted:
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
        role=registration.get("role") or "sourced",
    )
