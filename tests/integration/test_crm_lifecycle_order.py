"""crm_sync's one consumer group on both databases, through the typed runtime it runs on.

A withdrawal before its approval is not lost, redelivery changes nothing twice, each handler
keeps its historical inbox name, and only deal_registration may speak on dealreg.principals.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
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
from tests.support.crm_events import amendment, approval, withdrawal


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


async def _deals(mirroring: Mirroring) -> dict[str, tuple[Any, ...]]:
    """What the pusher will act on, per deal: state, owned fields, opportunity, hand-over."""
    async with mirroring.unit.transactions.transaction() as session:
        rows = (await session.execute(select(mirrored_deals))).all()
    return {
        row.registration_id: (
            row.sync_state,
            row.desired,
            row.crm_opportunity_id,
            row.handed_over_to,
            Decimal(str(row.amount_value)),
            row.registration["expected_close_date"],
        )
        for row in rows
    }


@pytest.mark.parametrize("batched", [False, True])
async def test_a_batch_holding_a_transfer_an_amendment_and_a_withdrawal_applies_them_in_order(
    mirroring: Mirroring, batched: bool
) -> None:
    """The mirror's subscriptions are ``batched``: a partition's run of events shares one
    transaction. Each handler reads what the previous one wrote, so a batch holding the old
    holder's approval, its transfer, the new holder's approval and an amendment of it (and a
    redelivered event) ends exactly where one transaction per event does."""
    old = approval(11, domain="batch.example")
    new = approval(12, domain="batch.example")
    other = approval(13, domain="other.example")
    moved = _transfer(old, new)
    decisions = [old, other, moved, new, old]  # the last one redelivered within the batch
    registrations = [amendment(new, "4321.00"), withdrawal(other), amendment(new, "5000.00")]

    assert mirroring.subscriptions.batched
    handle_batch = mirroring.subscriptions.batch_handler()
    assert handle_batch is not None
    if batched:
        await handle_batch(decisions)
        await handle_batch(registrations)
    else:
        for event in [*decisions, *registrations]:
            await mirroring.deliver(event)

    deals = await _deals(mirroring)
    assert set(deals) == {old.subject, new.subject, other.subject}
    assert deals[old.subject][0] == "handed_over"
    assert deals[old.subject][1]["registration_status"] == "transferred"
    assert deals[old.subject][3] == new.subject
    assert deals[new.subject][0] == "pending"
    assert deals[new.subject][1]["registration_status"] == "approved"
    assert deals[new.subject][4:] == (Decimal("5000"), "2027-03-31")
    assert deals[other.subject][1]["registration_status"] == "withdrawn"
    assert mirroring.wake_pusher.is_set()
    assert len(await _inbox(mirroring)) == 7  # every event once (old's redelivery: no row)


@pytest.mark.parametrize("batched", [False, True])
async def test_a_batch_of_approvals_reads_once_what_each_approval_would_read(
    mirroring: Mirroring, batched: bool
) -> None:
    """A batch of nothing but approvals reads their notes, deals, hand-overs and partners once
    for all (the backlog drain); each deal ends as one transaction per approval leaves it: an
    earlier withdrawal folded in, an earlier transfer's opportunity adopted, a redelivered
    approval applied once."""
    old = approval(21, domain="adopted.example")
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
            .values(crm_opportunity_id="crm-21", last_written=row.desired, sync_state="synced")
        )
    adopting = approval(22, domain="adopted.example")
    withdrawn_first = approval(23, domain="withdrawn.example")
    plain = [approval(24 + i, domain=f"plain{i}.example") for i in range(3)]
    await mirroring.deliver(_transfer(old, adopting))
    await mirroring.deliver(withdrawal(withdrawn_first))
    batch = [plain[0], adopting, withdrawn_first, plain[1], plain[0], plain[2]]

    if batched:
        handle_batch = mirroring.subscriptions.batch_handler()
        assert handle_batch is not None
        await handle_batch(batch)
    else:
        for event in batch:
            await mirroring.deliver(event)

    deals = await _deals(mirroring)
    assert set(deals) == {e.subject for e in [old, adopting, withdrawn_first, *plain]}
    assert deals[adopting.subject][2] == "crm-21"  # the old holder's opportunity, adopted
    assert deals[old.subject][2] is None
    assert deals[withdrawn_first.subject][1]["registration_status"] == "withdrawn"
    assert all(deals[e.subject][1]["registration_status"] == "approved" for e in plain)
    assert all(deals[e.subject][0] == "pending" for e in [adopting, withdrawn_first, *plain])
