"""crm_sync's one consumer group on both databases, through the typed runtime it runs on.

A withdrawal before its approval is not lost, redelivery changes nothing twice, each handler
keeps its historical inbox name, and only deal_registration may speak on dealreg.principals.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select, update

from crm_sync import app as crm_app
from crm_sync import handlers, outbound
from crm_sync.adapters.tables import inbox, metadata, mirrored_deals, ops_keys
from crm_sync.domain.model import HUBSPOT_DEFAULT_STAGES, DealWrite, WriteResult
from crm_sync.handlers import Mirror
from crm_sync.outbound import write_for
from crm_sync.ports import CrmConnector
from schemas.envelope import EventEnvelope, new_envelope
from schemas.principals import OpsKeyIssued
from schemas.registration import ProtectionTransferred
from schemas.topics import DECISIONS, PRINCIPALS, REGISTRATIONS
from services.clock import SystemClock, new_id
from services.db import create_engine, create_session_factory
from services.events import Subscriptions, UnitOfWork
from services.kafka.sources import UntrustedSourceError
from services.uow import TransactionRunner
from tests.conftest import fresh_database
from tests.support.crm_events import approval, withdrawal


@dataclass
class Mirroring:
    unit: UnitOfWork
    wake_pusher: asyncio.Event
    subscriptions: Subscriptions

    async def deliver(self, envelope: EventEnvelope[Any]) -> None:
        await self.subscriptions.handlers()[envelope.type](envelope)


@pytest.fixture(params=["sqlite", "postgresql"])
async def mirroring(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Mirroring]:
    if request.param == "sqlite":
        async for prepared in _mirroring(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"):
            yield prepared
        return
    async with fresh_database(request.getfixturevalue("postgres_server")) as url:
        async for prepared in _mirroring(url):
            yield prepared


async def _mirroring(url: str) -> AsyncIterator[Mirroring]:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        unit = UnitOfWork(
            transactions=TransactionRunner(create_session_factory(engine), None),
            clock=SystemClock(),
            inbox=inbox,
            emitter=handlers.EMITTER,
        )
        wake = asyncio.Event()
        yield Mirroring(unit, wake, crm_app.subscriptions(unit, Mirror(wake)))
    finally:
        await engine.dispose()


async def _status(mirroring: Mirroring, registration_id: str) -> str:
    async with mirroring.unit.transactions.transaction() as session:
        desired = (
            await session.execute(
                select(mirrored_deals.c.desired).where(
                    mirrored_deals.c.registration_id == registration_id
                )
            )
        ).scalar_one()
    return str(desired["registration_status"])


async def _inbox(mirroring: Mirroring) -> dict[str, str]:
    async with mirroring.unit.transactions.transaction() as session:
        rows = (await session.execute(select(inbox.c.event_id, inbox.c.consumer))).all()
    return {row.event_id: row.consumer for row in rows}


def _ops_key_issued(source: str) -> EventEnvelope[Any]:
    payload = OpsKeyIssued(
        key_id=new_id(),
        principal_id=new_id(),
        name="Olivia Ops",
        key_hash=new_id().replace("-", "") * 2,
        issued_at=datetime.now(UTC),
    )
    return new_envelope(
        payload,
        event_id=new_id(),
        source=source,
        subject=payload.principal_id,
        time=datetime.now(UTC),
        correlation_id=new_id(),
        causation_id=None,
        partition_key=payload.key_id,
    )


def test_one_consumer_group_reads_decisions_registrations_and_principals() -> None:
    unit = UnitOfWork(
        transactions=cast(TransactionRunner, None),  # declaring needs no database
        clock=SystemClock(),
        inbox=inbox,
        emitter=handlers.EMITTER,
    )
    subscriptions = crm_app.subscriptions(unit, Mirror(asyncio.Event()))
    assert subscriptions.consumer == "crm_sync.mirror"
    assert subscriptions.topics == sorted([DECISIONS.name, REGISTRATIONS.name, PRINCIPALS.name])


async def test_withdrawal_first_then_approval_mirrors_a_withdrawn_deal(
    mirroring: Mirroring,
) -> None:
    approved = approval(1)
    await mirroring.deliver(withdrawal(approved))
    assert not mirroring.wake_pusher.is_set()  # nothing to push before the approval
    await mirroring.deliver(approved)
    assert await _status(mirroring, approved.subject) == "withdrawn"
    assert mirroring.wake_pusher.is_set()


async def test_redelivered_events_change_nothing_twice(mirroring: Mirroring) -> None:
    approved = approval(2)
    withdrawn = withdrawal(approved)
    for event in (approved, withdrawn, approved, withdrawn):
        await mirroring.deliver(event)
    assert await _status(mirroring, approved.subject) == "withdrawn"


async def test_each_handler_keeps_its_historical_inbox_name(mirroring: Mirroring) -> None:
    approved = approval(3)
    withdrawn = withdrawal(approved)
    issued = _ops_key_issued("/dealreg/deal_registration")
    for event in (approved, withdrawn, issued):
        await mirroring.deliver(event)
    assert await _inbox(mirroring) == {
        approved.id: handlers.APPROVALS_CONSUMER,
        withdrawn.id: handlers.LIFECYCLE_CONSUMER,
        issued.id: crm_app.PRINCIPALS_CONSUMER,
    }


async def test_only_deal_registration_may_issue_ops_keys(mirroring: Mirroring) -> None:
    forged = _ops_key_issued("/dealreg/crm_sync")
    with pytest.raises(UntrustedSourceError):
        await mirroring.deliver(forged)
    genuine = _ops_key_issued("/dealreg/deal_registration")
    await mirroring.deliver(genuine)
    async with mirroring.unit.transactions.transaction() as session:
        keys = (await session.execute(select(ops_keys.c.key_id))).scalars().all()
    assert keys == [genuine.data.key_id]
    assert forged.id not in await _inbox(mirroring)


def _transfer(source: EventEnvelope[Any], target: EventEnvelope[Any]) -> EventEnvelope[Any]:
    """Sales ops moved ``source``'s protection to ``target`` (on dealreg.decisions)."""
    now = datetime.now(UTC)
    payload = ProtectionTransferred(
        registration_id=source.data.registration_id,
        account_key=source.data.account_key,
        product_line=source.data.product_line,
        transferred_at=now,
        to_registration_id=target.data.registration_id,
        transfer_reason="partner_merger",
        reason="transferred",
        decided_by="ops:u1",
    )
    return new_envelope(
        payload,
        event_id=new_id(),
        source="/tests",
        subject=payload.registration_id,
        time=now,
        correlation_id=payload.registration_id,
        causation_id=None,
        partition_key=payload.account_key,
    )


@pytest.mark.parametrize("transfer_first", [True, False])
async def test_a_transfer_hands_the_crm_opportunity_to_the_new_holder_in_either_order(
    mirroring: Mirroring, transfer_first: bool
) -> None:
    old = approval(5, domain="handover.example")
    await mirroring.deliver(old)
    async with mirroring.unit.transactions.transaction() as session:  # as the pusher would
        row = (
            await session.execute(
                select(mirrored_deals).where(mirrored_deals.c.registration_id == old.subject)
            )
        ).one()
        await session.execute(
            update(mirrored_deals)
            .where(mirrored_deals.c.registration_id == old.subject)
            .values(crm_opportunity_id="crm-1", last_written=row.desired, sync_state="synced")
        )
    new = approval(6, domain="handover.example")
    summary = new.data.registration.model_copy(
        update={"partner_id": "partner-2", "partner_name": "Bravo Networks"}
    )
    new = new.model_copy(update={"data": new.data.model_copy(update={"registration": summary})})
    moved = _transfer(old, new)
    for event in [moved, new] if transfer_first else [new, moved]:
        await mirroring.deliver(event)

    async with mirroring.unit.transactions.transaction() as session:
        rows = {r.registration_id: r for r in (await session.execute(select(mirrored_deals))).all()}
    source, target = rows[old.subject], rows[new.subject]
    assert (source.sync_state, source.crm_opportunity_id) == ("handed_over", None)
    assert source.desired["registration_status"] == "transferred"
    assert (target.sync_state, target.crm_opportunity_id) == ("pending", "crm-1")
    write = write_for(target)
    assert write.crm_id == "crm-1"  # the CRM knows it by the old id until this push
    assert write.seed is None  # no second opportunity
    assert write.changes["registration_id"] == new.subject
    assert (write.changes["partner_id"], write.changes["partner_name"]) == (
        "partner-2",
        "Bravo Networks",
    )


class _TransferDuringPush:
    """A CRM whose first upsert (creating the old holder's opportunity) is slow: the transfer
    and the new holder's approval are consumed while it runs."""

    system = "hubspot"
    batch_size = 100
    stages = HUBSPOT_DEFAULT_STAGES

    def __init__(self, meanwhile: Callable[[], Awaitable[None]]) -> None:
        self.meanwhile: Callable[[], Awaitable[None]] | None = meanwhile
        self.writes: list[DealWrite] = []

    async def upsert(self, writes: Sequence[DealWrite]) -> list[WriteResult]:
        self.writes.extend(writes)
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            await meanwhile()
        return [
            WriteResult(registration_id=w.registration_id, crm_id=w.crm_id or "crm-7", created=True)
            for w in writes
        ]


async def test_a_transfer_during_the_push_creating_the_old_opportunity_still_hands_it_over(
    mirroring: Mirroring,
) -> None:
    old = approval(7, domain="inflight.example")
    new = approval(8, domain="inflight.example")
    await mirroring.deliver(old)

    async def consumed() -> None:
        await mirroring.deliver(_transfer(old, new))
        await mirroring.deliver(new)

    crm = _TransferDuringPush(consumed)
    ctx = handlers.Context(transactions=mirroring.unit.transactions, clock=SystemClock())
    await outbound.push_pending(ctx, cast(CrmConnector, crm))
    await outbound.push_pending(ctx, cast(CrmConnector, crm))

    assert [w.seed is not None for w in crm.writes] == [True, False]  # one opportunity
    assert (crm.writes[1].registration_id, crm.writes[1].crm_id) == (new.subject, "crm-7")
