"""Partners' outcome figures (issue 16, items 3 and 4): the projection the events feed, and
what ops and partners read of it.

The projection runs in its own consumer group (``ANALYTICS_CONSUMER``) over the submissions,
the decisions, the CRM's closings and the attributions; each event sets the columns it speaks
for (``adapters.analytics``), so replaying the topics from the start rebuilds the same rows.
The figures are computed from those rows by ``domain.analytics``. Ops read every partner; a
partner reads only its own row (no tiers: they pool other partners' figures).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from deal_registration.adapters import analytics as store
from deal_registration.domain import analytics
from deal_registration.domain.errors import ForbiddenError, NotFoundError
from deal_registration.handlers.context import Context, Principal, Row
from schemas.accounts import account_key
from schemas.attribution import DealAttributed, ExchangeRatesPublished
from schemas.crm import CrmDealClosed
from schemas.registration import (
    ProtectionExpired,
    ProtectionExtended,
    ProtectionTransferred,
    RegistrationApproved,
    RegistrationRejected,
    RegistrationSentToReview,
    RegistrationSubmitted,
    RegistrationWithdrawn,
    WaitlistLeft,
)
from services.events import EventContext

ANALYTICS_CONSUMER = "deal_registration.analytics"

Projected = (
    RegistrationSubmitted
    | RegistrationApproved
    | RegistrationRejected
    | RegistrationSentToReview
    | ProtectionExtended
    | ProtectionExpired
    | ProtectionTransferred
    | WaitlistLeft
    | RegistrationWithdrawn
    | CrmDealClosed
)


def columns_of(payload: Projected) -> dict[str, Any]:
    """What one event says about its registration, as projection columns."""
    match payload:
        case RegistrationSubmitted():
            return {
                "partner_id": payload.partner.id,
                "account_key": payload.account_key,
                "customer_name": payload.customer.name,
                "product_line": payload.product_line,
                "amount_value": payload.amount.value,
                "amount_currency": payload.amount.currency,
                "submitted_at": payload.submitted_at,
            }
        case RegistrationApproved():
            return {
                "approved_at": payload.decided_at,
                "protection_expires_at": payload.protection_expires_at,
            }
        case RegistrationRejected():
            return {"rejected_at": payload.decided_at, "waitlisted": payload.waitlisted}
        case RegistrationSentToReview():
            return {"review_at": payload.decided_at}
        case ProtectionExtended():
            return {"protection_expires_at": payload.protection_expires_at}
        case ProtectionExpired():
            return {"expired_at": payload.expired_at}
        case ProtectionTransferred():
            return {"transferred_at": payload.transferred_at}
        case WaitlistLeft():
            return {"left_waitlist_at": payload.left_at}
        case RegistrationWithdrawn():
            return {"withdrawn_at": payload.withdrawn_at}
        case CrmDealClosed():
            return {f"{payload.outcome}_at": payload.closed_at}


async def project(payload: Projected, event: EventContext) -> None:
    """Fold the event into its registration's row of the projection."""
    await store.project(event.session, payload.registration_id, columns_of(payload), now=event.now)


async def project_attribution(attributed: DealAttributed, event: EventContext) -> None:
    """Keep each partner's credit for a won deal."""
    await store.save_credits(event.session, attributed, now=event.now)


async def project_rates(published: ExchangeRatesPublished, event: EventContext) -> None:
    """Keep a published policy's base currency and rates."""
    await store.save_rates(event.session, published)


# --- What ops and partners read -----------------------------------------------------------


def _scope(principal: Principal) -> str | None:
    """The partner whose figures the caller may read (None: every partner)."""
    if principal.role == "partner":
        if principal.partner_id is None:
            raise NotFoundError
        return principal.partner_id
    return None


def _partner(row: Row) -> analytics.PartnerFact:
    return analytics.PartnerFact(
        partner_id=str(row["id"]),
        name=str(row["name"]),
        tier=str(row["tier"]),
        onboarded_at=row["created_at"],
    )


def _fact(row: Row) -> analytics.RegistrationFact:
    return analytics.RegistrationFact(
        registration_id=str(row["registration_id"]),
        partner_id=str(row["partner_id"]),
        submitted_at=row["submitted_at"],
        amount=Decimal(row["amount_value"] or 0),
        currency=str(row["amount_currency"] or ""),
        approved_at=row["approved_at"],
        rejected_at=row["rejected_at"],
        won_at=row["won_at"],
        lost_at=row["lost_at"],
        expired_at=row["expired_at"],
        withdrawn_at=row["withdrawn_at"],
        transferred_at=row["transferred_at"],
        protection_expires_at=row["protection_expires_at"],
    )


def _credit(row: Row) -> analytics.CreditFact:
    return analytics.CreditFact(
        registration_id=str(row["registration_id"]),
        partner_id=str(row["partner_id"]),
        role=str(row["role"]),
        amount=Decimal(row["amount_value"]),
        currency=str(row["amount_currency"]),
        attributed_at=row["attributed_at"],
    )


async def scorecards(
    ctx: Context, principal: Principal, *, since: datetime | None, until: datetime | None
) -> dict[str, Any]:
    """Per partner and per tier over the period (a partner: only its own, no tiers)."""
    partner_id = _scope(principal)
    async with ctx.transactions.transaction() as session:
        partner_rows = await store.partner_rows(session, partner_id)
        facts = [_fact(row) for row in await store.fact_rows(session, partner_id)]
        credits = [_credit(row) for row in await store.credit_rows(session, partner_id)]
        rates = await store.latest_rates(session)
    if partner_id is not None and not partner_rows:
        raise NotFoundError
    figures = analytics.scorecards(
        [_partner(row) for row in partner_rows],
        facts,
        credits,
        period=analytics.Period(since, until),
        rates=analytics.Rates() if rates is None else analytics.Rates(*rates),
        now=ctx.clock.now(),
    )
    if partner_id is not None:
        figures["tiers"] = []
    return figures


async def churn(
    ctx: Context, principal: Principal, *, window_days: int, history_windows: int
) -> list[dict[str, Any]]:
    """The early churn warning, for ops: each partner's latest registrations against its own
    history, the slowing ones flagged first."""
    if principal.role == "partner":
        raise ForbiddenError
    async with ctx.transactions.transaction() as session:
        partner_rows = await store.partner_rows(session, None)
        facts = [_fact(row) for row in await store.fact_rows(session, None)]
    return analytics.churn_signals(
        [_partner(row) for row in partner_rows],
        facts,
        now=ctx.clock.now(),
        window=timedelta(days=window_days),
        history_windows=history_windows,
    )


async def account_view(
    ctx: Context, principal: Principal, *, name: str, domain: str | None, country: str | None
) -> dict[str, Any]:
    """For ops: every partner active on a customer, so sales ops can orchestrate one front:
    the sourced holder(s) and their accepted co-sell partners (in their role), the accepted
    influence claims and the waitlist. A co-sell partner shows while its holder's protection
    is live; an influence claim while it is accepted (not withdrawn)."""
    if principal.role == "partner":
        raise ForbiddenError
    key = account_key(name=name, domain=domain, country=country)
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        rows = await store.account_rows(session, key)
        partners = [entry for row in rows if (entry := _activity(row, now)) is not None]
        holders = [entry["registration_id"] for entry in partners if entry["role"] == "sourced"]
        co_sellers = await store.co_sell_rows(session, holders)
        influencers = await store.influence_rows(session, key)
    partners += [_joined(row, row["role"]) for row in co_sellers]
    partners += [_joined(row, "influence") for row in influencers]
    return {"account_key": key, "partners": partners}


def _joined(row: Row, role: str) -> dict[str, Any]:
    return {
        "partner_id": row["partner_id"],
        "partner_name": row["partner_name"],
        "role": role,
        "registration_id": row["registration_id"],
        "product_line": row["product_line"],
        "since": row["since"],
        "protection_expires_at": None,
    }


def _activity(row: Row, now: datetime) -> dict[str, Any] | None:
    fact = _fact(row)
    ended = row["left_waitlist_at"] or row["withdrawn_at"] or row["approved_at"]
    if fact.holds_protection(now):
        role, since = "sourced", row["approved_at"]
    elif row["waitlisted"] and not ended and not (row["won_at"] or row["lost_at"]):
        role, since = "waitlist", row["rejected_at"]
    else:
        return None
    return {
        "partner_id": fact.partner_id,
        "partner_name": row["partner_name"],
        "role": role,
        "registration_id": fact.registration_id,
        "product_line": row["product_line"],
        "since": since,
        "protection_expires_at": row["protection_expires_at"] if role == "sourced" else None,
    }


async def export_rows(
    ctx: Context,
    principal: Principal,
    dataset: str,
    *,
    updated_since: datetime | None,
    limit: int,
) -> Sequence[Row]:
    """The calling partner's own rows of ``dataset`` changed after ``updated_since``."""
    if principal.role != "partner" or principal.partner_id is None:
        raise ForbiddenError
    async with ctx.transactions.transaction() as session:
        return await store.changed_rows(
            session, dataset, partner_id=principal.partner_id, since=updated_since, limit=limit
        )
