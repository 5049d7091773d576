"""CRM -> us: webhooks and the reconciliation sweep turn CRM changes into events.

Whatever the trigger (a webhook, a sweep), the opportunity is re-read from the CRM and the
pure rules decide: newer than what we applied? a sales field changed? closed? Echoes of our own
writes and stale or repeated deliveries change nothing. Direct opportunities (no registration
id) are reported to the resolver when they open and when they close or go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import structlog

from crm_sync import companies
from crm_sync.adapters import direct, mirror, webhook_inbox
from crm_sync.adapters.connector_state import count_echo, record_success
from crm_sync.adapters.db import Session
from crm_sync.adapters.mirror import MirroredDeal
from crm_sync.adapters.tables import outbox
from crm_sync.domain.handover import HANDED_OVER
from crm_sync.domain.model import CrmDeal, SalesState
from crm_sync.domain.rules import AppliedState, created_sales, decide_direct, decide_inbound
from crm_sync.handlers import EMITTER, Context
from crm_sync.notices import Notice
from crm_sync.outbound import seed_of
from crm_sync.ports import CrmConnector
from schemas.accounts import account_key
from schemas.crm import (
    CrmDealClosed,
    CrmOpportunityChanged,
    CrmSystem,
    DirectOpportunityClosed,
    DirectOpportunityOpened,
)
from schemas.envelope import EventEnvelope, EventPayload
from schemas.registration import AmountData, CustomerData
from services.events import Cause
from services.outbox import stage_events
from services.tracing import current_traceparent

log = structlog.get_logger(__name__)
_EPOCH = datetime(1970, 1, 2, tzinfo=UTC)


async def receive_notices(ctx: Context, connector: CrmConnector, notices: list[Notice]) -> int:
    """Apply a webhook delivery; returns how many notices were new. Raises if the CRM could not
    be re-read, so the CRM delivers again."""
    fresh = await _unseen(ctx, notices)
    about_companies = [n for n in fresh if n.object_type == "company"]
    fresh = [n for n in fresh if n.object_type != "company"]
    source = companies.company_source(connector)
    company_count = 0
    if about_companies and source is not None:
        company_count = await companies.receive_company_notices(ctx, source, about_companies)
    if not fresh:
        return company_count
    echoes = [n for n in fresh if n.echo]
    real = [n for n in fresh if not n.echo]
    ids = sorted({n.object_id for n in real})
    deals = await connector.read(ids) if ids else []
    found = {deal.crm_id for deal in deals}
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        claimed = [n for n in fresh if await webhook_inbox.claim(session, n.key, now)]
        if not claimed:
            return company_count
        for notice in real:
            for merged in notice.merged_ids:
                await mirror.remap_opportunity(
                    session, connector.system, merged=merged, survivor=notice.object_id, now=now
                )
        gone = [i for i in ids if i not in found]
        await _archived(ctx, session, connector.system, gone, now)
        await apply_deals(ctx, session, connector, deals, now)
        if echoes:
            await count_echo(session, connector.system, len(echoes))
        await record_success(session, connector.system, now)
    return len(claimed) + company_count


async def _unseen(ctx: Context, notices: list[Notice]) -> list[Notice]:
    if not notices:
        return []
    unique = list({n.key: n for n in notices}.values())
    async with ctx.transactions.transaction() as session:
        seen = await webhook_inbox.seen(session, [n.key for n in unique])
    return [n for n in unique if n.key not in seen]


async def apply_deals(
    ctx: Context,
    session: Session,
    connector: CrmConnector,
    deals: Sequence[CrmDeal],
    now: datetime,
) -> None:
    """Apply what the CRM says about these opportunities (webhook re-reads, sweep pages)."""
    events: list[EventEnvelope[Any]] = []
    echoes = 0
    ours = await mirror.mirrored_among(
        session, [d.registration_id for d in deals if d.registration_id]
    )
    for deal in sorted(deals, key=lambda d: d.modified_at):
        if not deal.is_direct and deal.registration_id not in ours:
            continue  # not one of ours (another environment's registration)
        if deal.is_direct:
            events.extend(await _apply_direct(ctx, session, connector.system, deal, now))
        else:
            produced, echo = await _apply_mirrored(session, connector, deal, now)
            events.extend(produced)
            echoes += echo
    if echoes:
        await count_echo(session, connector.system, echoes)
    await stage_events(session, outbox, events, now=now)


async def _apply_mirrored(
    session: Session, connector: CrmConnector, deal: CrmDeal, now: datetime
) -> tuple[list[EventEnvelope[Any]], int]:
    row = await mirror.deal(session, deal.registration_id or "")
    if row is None:
        return [], 0  # not one of ours (another environment's registration)
    if row.sync_state == HANDED_OVER:
        return [], 0  # a transfer gave it to another deal; our next push relabels it
    applied = None
    if row.applied is not None:
        applied = AppliedState(
            modified_at=row.applied_modified_at or _EPOCH, sales=SalesState.from_json(row.applied)
        )
    elif row.crm_opportunity_id is None:
        # Read between the CRM creating it and the push recording so (two pushes are in
        # flight, and a sweep or a webhook's re-read runs meanwhile): what it holds is what we
        # wrote, unless sales already moved it. Only a difference from that is theirs.
        applied = AppliedState(
            modified_at=_EPOCH, sales=created_sales(connector.stages, seed_of(row))
        )
    by_us = deal.modified_by_us or (
        row.written_modified_at is not None and deal.modified_at == row.written_modified_at
    )
    decision = decide_inbound(_marked(deal, by_us), applied)
    values: dict[str, Any] = {}
    if row.crm_opportunity_id != deal.crm_id:
        values["crm_opportunity_id"] = deal.crm_id
    if row.crm_archived:
        values["crm_archived"] = False
    if decision.reason != "stale":
        values["applied_modified_at"] = deal.modified_at
    # Owned fields someone edited in the CRM: repair them (send them again), never adopt them.
    if (
        row.last_written
        and any(deal.owned.get(name) != value for name, value in row.last_written.items())
        and row.sync_state != "dead"
    ):
        values.update(
            last_written={k: v for k, v in deal.owned.items()},
            sync_state="pending",
            pending_since=now,
            next_attempt_at=now,
            traceparent=current_traceparent(),
        )
    events: list[EventEnvelope[Any]] = []
    if decision.apply:
        values["applied"] = deal.sales.as_json()
        events = _sales_events(row, connector.system, deal, decision.changed, decision.closed)
    if values:
        await mirror.update_deal(session, row.registration_id, **values)
    return events, int(decision.is_echo)


def _marked(deal: CrmDeal, by_us: bool) -> CrmDeal:
    return replace(deal, modified_by_us=by_us)


def _sales_events(
    row: MirroredDeal,
    system: CrmSystem,
    deal: CrmDeal,
    changed: dict[str, object],
    closed: str | None,
) -> list[EventEnvelope[Any]]:
    payloads: list[EventPayload] = []
    sales = deal.sales
    if changed:
        payloads.append(
            CrmOpportunityChanged(
                registration_id=row.registration_id,
                account_key=row.account_key,
                crm_system=system,
                opportunity_id=deal.crm_id,
                stage=sales.stage,
                amount=AmountData(
                    value=sales.amount, currency=sales.currency or row.amount_currency
                )
                if sales.amount is not None
                else None,
                close_date=sales.close_date,
                changed_at=deal.modified_at,
            )
        )
    if closed in ("won", "lost"):
        payloads.append(
            CrmDealClosed(
                registration_id=row.registration_id,
                account_key=row.account_key,
                product_line=row.product_line,
                crm_system=system,
                opportunity_id=deal.crm_id,
                outcome=closed,
                closed_at=deal.modified_at,
                amount=AmountData(
                    value=sales.amount, currency=sales.currency or row.amount_currency
                )
                if sales.amount is not None
                else None,
            )
        )
    return [
        _envelope(
            p,
            subject=row.registration_id,
            key=row.account_key,
            corr=row.correlation_id,
            now=deal.modified_at,
        )
        for p in payloads
    ]


def _envelope(
    payload: EventPayload, *, subject: str, key: str, corr: str | None, now: datetime
) -> EventEnvelope[Any]:
    return EMITTER.envelope(
        payload, subject=subject, partition_key=key, cause=Cause(None, corr or subject), time=now
    )


async def _apply_direct(
    ctx: Context, session: Session, system: CrmSystem, deal: CrmDeal, now: datetime
) -> list[EventEnvelope[Any]]:
    known = await direct.known(session, system, deal.crm_id)
    if known is not None and deal.modified_at < known.modified_at:
        return []
    decision = decide_direct(deal, known.state if known else None)
    if not decision.opened and not decision.closed:
        return []
    product_line = deal.extra.get("product_line") or ctx.settings.direct_default_product_line
    name = deal.company_name or deal.name or deal.crm_id
    country = (deal.company_country or "").upper()
    key = (
        known.account_key
        if known is not None
        else account_key(name=name, domain=deal.company_domain, country=country or None)
    )
    payload: EventPayload
    if decision.opened:
        payload = DirectOpportunityOpened(
            crm_system=system,
            opportunity_id=deal.crm_id,
            account_key=key,
            customer=CustomerData(
                name=name,
                domain=deal.company_domain,
                country=country if len(country) == 2 else "ZZ",
            ),
            product_line=product_line,
            opened_at=deal.modified_at,
        )
    else:
        payload = DirectOpportunityClosed(
            crm_system=system,
            opportunity_id=deal.crm_id,
            account_key=key,
            product_line=known.product_line if known else product_line,
            closed_at=deal.modified_at,
        )
    state = "open" if decision.opened else "closed"
    if known is None:
        await direct.insert_opportunity(
            session,
            system,
            deal.crm_id,
            account_key=key,
            product_line=product_line,
            state=state,
            modified_at=deal.modified_at,
        )
    else:
        await direct.set_state(
            session, system, deal.crm_id, state=state, modified_at=deal.modified_at
        )
    return [_envelope(payload, subject=deal.crm_id, key=key, corr=None, now=now)]


async def _archived(
    ctx: Context, session: Session, system: CrmSystem, crm_ids: list[str], now: datetime
) -> None:
    """Deleted (archived) in the CRM: a mirrored deal is not recreated; a direct one closes."""
    if not crm_ids:
        return
    await mirror.mark_archived(session, system, crm_ids, now=now)
    events = []
    for crm_id in crm_ids:
        known = await direct.known(session, system, crm_id, only_open=True)
        if known is None:
            continue
        await direct.set_state(session, system, crm_id, state="closed", modified_at=now)
        events.append(
            _envelope(
                DirectOpportunityClosed(
                    crm_system=system,
                    opportunity_id=crm_id,
                    account_key=known.account_key,
                    product_line=known.product_line,
                    closed_at=now,
                ),
                subject=crm_id,
                key=known.account_key,
                corr=None,
                now=now,
            )
        )
    await stage_events(session, outbox, events, now=now)
