"""The partner acts on a reviewer's answer: appeals a rejection (once), edits a registration
returned for edit (the rules decide again), or amends an approved one's sales fields (the
CRM mirrors them). What is allowed is the lifecycle's (``lifecycle.appeal``/``edit``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from deal_registration.adapters import repository as repo
from deal_registration.adapters.repository import Session
from deal_registration.adapters.tables import outbox
from deal_registration.domain import lifecycle
from deal_registration.domain.errors import ConflictError, FieldProblemsError, NotFoundError
from deal_registration.handlers.access import require_active_partner, require_partner
from deal_registration.handlers.changes import apply_change, current_of, request_change
from deal_registration.handlers.context import (
    Context,
    Principal,
    Row,
    is_uuid,
    registration_envelope,
)
from deal_registration.handlers.idempotency import (
    Answer,
    IdempotentRequest,
    Present,
    run_idempotent,
)
from deal_registration.handlers.submissions import (
    NewRegistration,
    registration_problems,
    submitted_event,
)
from schemas.accounts import account_key
from schemas.envelope import EventPayload
from schemas.registration import AmountData
from schemas.review import RegistrationAmended, RegistrationAppealed, RegistrationEdited
from services.outbox import stage_events


async def appeal_registration(
    ctx: Context,
    principal: Principal,
    registration_id: str,
    note: str,
    request: IdempotentRequest,
    present: Present,
) -> Answer:
    """Appeal a reviewer's rejection once: ``RegistrationAppealed`` reopens its case."""

    def event(row: Row, now: datetime) -> EventPayload:
        return RegistrationAppealed(
            registration_id=row["id"],
            account_key=row["account_key"],
            product_line=row["product_line"],
            appealed_at=now,
            note=note,
            rejection_code=row["reason_code"],
        )

    return await request_change(
        ctx, principal, registration_id, request, present, lifecycle.appeal, event
    )


@dataclass(frozen=True)
class Edit:
    """The fields a partner's PATCH sets (None: left as it is)."""

    values: dict[str, Any]  # registration columns -> new value

    def changed(self, row: Row) -> tuple[str, ...]:
        """The partner API names of the fields whose value differs from the row's."""
        names = []
        for name, columns in FIELD_COLUMNS.items():
            if any(c in self.values and self.values[c] != row.get(c) for c in columns):
                names.append(name)
        return tuple(names)


FIELD_COLUMNS: dict[str, tuple[str, ...]] = {
    "customer.name": ("customer_name",),
    "customer.domain": ("customer_domain",),
    "customer.country": ("customer_country",),
    "product_line": ("product_line",),
    "deal_type": ("deal_type",),
    "amount": ("amount_value", "amount_currency"),
    "expected_close_date": ("expected_close_date",),
    "contact": ("contact_name", "contact_email"),
    "description": ("description",),
    "partner_reference": ("partner_reference",),
}


async def edit_registration(
    ctx: Context,
    principal: Principal,
    registration_id: str,
    edit: Edit,
    request: IdempotentRequest,
    present: Present,
) -> Answer:
    """PATCH: a registration returned for edit takes the fields the reviewer named and is
    submitted again (``RegistrationEdited``); an approved one amends its sales fields
    (``RegistrationAmended``). Other fields answer 422 naming each."""
    partner_id = require_partner(principal)

    async def act(session: Session) -> Answer:
        partner = await require_active_partner(session, partner_id)
        row = (
            await repo.lock_registration(session, registration_id)
            if is_uuid(registration_id)
            else None
        )
        if row is None or row["partner_id"] != partner_id:
            raise NotFoundError
        now = ctx.clock.now()
        changed = edit.changed(row)
        try:
            change = lifecycle.edit(current_of(row), changed=changed, now=now)
        except lifecycle.TransitionRefusedError as refused:
            raise ConflictError(str(refused)) from refused
        except lifecycle.FieldsRefusedError as refused:
            raise FieldProblemsError(
                [{"field": name, "message": refused.why} for name in refused.fields],
                "These fields may not be changed now.",
            ) from refused
        values = {
            c: edit.values[c] for name in changed for c in FIELD_COLUMNS[name] if c in edit.values
        }
        updated = {**row, **values}
        payload: EventPayload
        # Checked as at submission, only for the fields it changes.
        problems = [
            problem
            for problem in registration_problems_of(
                updated, partner["product_lines"], today=now.date()
            )
            if problem["field"] in changed
        ]
        if problems:
            raise FieldProblemsError(problems)
        if row["status"] == lifecycle.Status.APPROVED.value:
            payload = _amended(updated, changed, now)
        else:
            values["account_key"] = updated["account_key"] = _key_of(updated)
            submitted = submitted_event(updated, int(row["submission_seq"]), partner)
            payload = RegistrationEdited(
                registration_id=row["id"],
                account_key=updated["account_key"],
                product_line=row["product_line"],
                edited_at=now,
                changed_fields=changed,
                registration=submitted,
            )
        if values:
            await repo.update_registration(session, row["id"], values)
        await apply_change(
            session,
            updated,
            change,
            actor=lifecycle.partner_actor(partner_id),
            event_id=None,
            now=now,
        )
        await stage_events(
            session,
            outbox,
            [registration_envelope(payload, updated, causation=None, time=now)],
            now=now,
        )
        stored = await repo.get_registration(session, registration_id)
        assert stored is not None  # noqa: S101 - locked above
        return present(stored)

    return await run_idempotent(ctx, principal, request, act)


def registration_problems_of(
    row: Row, authorised_lines: list[str], *, today: date
) -> list[dict[str, str]]:
    new = NewRegistration(
        customer_name=row["customer_name"],
        customer_domain=row["customer_domain"],
        customer_country=row["customer_country"],
        product_line=row["product_line"],
        deal_type=row["deal_type"],
        amount_value=Decimal(row["amount_value"]),
        amount_currency=row["amount_currency"],
        expected_close_date=row["expected_close_date"],
        contact_name=row.get("contact_name"),
        contact_email=row.get("contact_email"),
        description=row.get("description"),
        partner_reference=row.get("partner_reference"),
    )
    return registration_problems(new, authorised_lines, today=today)


def _key_of(row: Row) -> str:
    try:
        return account_key(
            name=row["customer_name"],
            domain=row["customer_domain"],
            country=row["customer_country"],
        )
    except ValueError:
        raise FieldProblemsError(
            [
                {
                    "field": "customer.name",
                    "message": "needs a letter or digit when no company domain is given",
                }
            ]
        ) from None


def _amended(row: Row, changed: tuple[str, ...], now: datetime) -> RegistrationAmended:
    return RegistrationAmended(
        registration_id=row["id"],
        account_key=row["account_key"],
        product_line=row["product_line"],
        amended_at=now,
        changed_fields=changed,
        amount=AmountData(value=row["amount_value"], currency=row["amount_currency"]),
        expected_close_date=row["expected_close_date"],
        contact_name=row.get("contact_name"),
        contact_email=row.get("contact_email"),
    )
