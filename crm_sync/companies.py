"""CRM companies -> the resolver: names, alias domains, former names and parent company.

The reconciler's sweep reads the companies modified since the newest one published (less the
sweep's overlap, up to *now less the search index's lag*, as for deals); a company webhook
re-reads the companies it names. A company whose fields the resolver reads changed becomes a
``CrmCompanyUpserted``; one the CRM deleted or merged away a ``CrmCompanyRemoved``. What was
published is kept (``crm_companies``), so an unchanged company is not published again and an
older read never overwrites a newer one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_sync.adapters import companies as published
from crm_sync.adapters import webhook_inbox
from crm_sync.adapters.db import Session
from crm_sync.adapters.tables import outbox
from crm_sync.domain.companies import (
    CrmCompanyRecord,
    company_account_key,
    fingerprint,
    upserted,
)
from crm_sync.handlers import EMITTER, Context
from crm_sync.notices import Notice
from crm_sync.ports import CompanySource
from schemas.companies import CrmCompanyRemoved
from schemas.crm import CrmSystem
from schemas.envelope import EventEnvelope, EventPayload
from services.events import Cause
from services.outbox import stage_events

_EPOCH = datetime(1970, 1, 2, tzinfo=UTC)


def company_source(connector: object) -> CompanySource | None:
    """The connector as a company source, when it reads companies."""
    if hasattr(connector, "changed_companies") and hasattr(connector, "read_companies"):
        return connector  # type: ignore[return-value]
    return None


async def sweep_companies(ctx: Context, source: CompanySource) -> int:
    """One sweep of the companies changed since the newest one published; returns how many
    were read."""
    now = ctx.clock.now()
    until = now - timedelta(seconds=ctx.settings.reconcile_index_lag_seconds)
    async with ctx.transactions.transaction() as session:
        newest = await published.newest(session, source.system)
    since = (newest or _EPOCH) - timedelta(seconds=ctx.settings.reconcile_overlap_seconds)
    read = 0
    if since < until:
        async for page in source.changed_companies(since, until):
            async with ctx.transactions.transaction() as session:
                await apply_companies(session, source.system, page, now)
            read += len(page)
    return read


async def receive_company_notices(
    ctx: Context, source: CompanySource, notices: Sequence[Notice]
) -> int:
    """A webhook named these companies (created, changed, deleted, merged): read them again
    and publish what changed; those gone are removed. Echoes of our own writes (the
    companies we create for mirrored deals) change nothing. Returns the notices claimed."""
    real = [n for n in notices if not n.echo]
    ids = sorted({n.object_id for n in real} | {i for n in real for i in n.merged_ids})
    found = await source.read_companies(ids) if ids else []
    present = {company.crm_id for company in found}
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        claimed = [n for n in notices if await webhook_inbox.claim(session, n.key, now)]
        if not claimed:
            return 0
        await apply_companies(session, source.system, found, now)
        await remove_companies(session, source.system, [i for i in ids if i not in present], now)
    return len(claimed)


async def apply_companies(
    session: Session, system: CrmSystem, records: Sequence[CrmCompanyRecord], now: datetime
) -> None:
    """Publish each company whose fields changed since it was last published."""
    events: list[EventEnvelope[Any]] = []
    for record in sorted(records, key=lambda r: r.modified_at):
        key = company_account_key(record)
        if key is None:
            continue  # neither a usable domain nor a name: nothing to match a customer by
        known = await published.known(session, system, record.crm_id)
        if known is not None and known["modified_at"] > record.modified_at:
            continue  # an older read than the one published
        digest = fingerprint(record)
        changed = known is None or known["removed"] or known["fingerprint"] != digest
        await published.save(
            session,
            system,
            record.crm_id,
            exists=known is not None,
            account_key=key,
            fingerprint=digest,
            modified_at=record.modified_at,
        )
        if changed:
            events.append(_envelope(upserted(system, record, key), record.crm_id, key, now))
    await stage_events(session, outbox, events, now=now)


async def remove_companies(
    session: Session, system: CrmSystem, crm_ids: Sequence[str], now: datetime
) -> None:
    """The CRM no longer has these companies: tell the resolver (once each)."""
    events: list[EventEnvelope[Any]] = []
    for crm_id in crm_ids:
        known = await published.known(session, system, crm_id)
        if known is None or known["removed"]:
            continue
        await published.mark_removed(
            session, system, crm_id, modified_at=max(now, known["modified_at"])
        )
        key = known["account_key"]
        payload = CrmCompanyRemoved(
            crm_system=system, company_id=crm_id, account_key=key, removed_at=now
        )
        events.append(_envelope(payload, crm_id, key, now))
    await stage_events(session, outbox, events, now=now)


def _envelope(payload: EventPayload, crm_id: str, key: str, now: datetime) -> EventEnvelope[Any]:
    return EMITTER.envelope(
        payload,
        subject=crm_id,
        partition_key=key,
        cause=Cause(None, f"company:{crm_id}"),
        time=now,
    )
