"""The pusher keeps several pushes in flight (``crm_sync.outbound.PushPipeline``), on both
databases: the next batches are read and sent while the previous ones are in the CRM, and no
deal is ever in two pushes at once, however many are in flight; a deal changed during its push
is recorded as still pending (one statement per push) and pushed once more, after the first
push is recorded."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import select

from crm_sync import app as crm_app
from crm_sync import handlers, inbound, outbound
from crm_sync.adapters.tables import inbox, metadata, mirrored_deals, outbox
from crm_sync.domain.model import (
    HUBSPOT_DEFAULT_STAGES,
    CrmDeal,
    DealWrite,
    SalesState,
    WriteResult,
)
from crm_sync.handlers import Context, Mirror
from crm_sync.ports import CrmConnector
from schemas.crm import CrmOpportunityChanged, CrmOpportunityMirrored
from services.clock import SystemClock
from services.db import create_engine, create_session_factory
from services.events import Subscriptions, UnitOfWork
from services.uow import TransactionRunner
from tests.conftest import fresh_database
from tests.support.crm_events import amendment, approval

DEALS = 450  # four full batches and a partial one


@dataclass
class Pushing:
    unit: UnitOfWork
    subscriptions: Subscriptions
    ctx: Context


@pytest.fixture(params=["sqlite", "postgresql"])
async def pushing(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Pushing]:
    if request.param == "sqlite":
        async for prepared in _pushing(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"):
            yield prepared
        return
    async with fresh_database(request.getfixturevalue("postgres_server")) as url:
        async for prepared in _pushing(url):
            yield prepared


async def _pushing(url: str) -> AsyncIterator[Pushing]:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        transactions = TransactionRunner(create_session_factory(engine), None)
        unit = UnitOfWork(
            transactions=transactions, clock=SystemClock(), inbox=inbox, emitter=handlers.EMITTER
        )
        subscriptions = crm_app.subscriptions(unit, Mirror(asyncio.Event()))
        yield Pushing(unit, subscriptions, Context(transactions=transactions, clock=SystemClock()))
    finally:
        await engine.dispose()


class _SlowCrm:
    """A CRM whose upserts take a while; it notes which deals are in flight at once. With
    ``answer_from`` it answers none until that many pushes are in it at once (the pipeline's
    depth: each push must start while the first is still in the CRM)."""

    system = "hubspot"
    batch_size = 100
    stages = HUBSPOT_DEFAULT_STAGES

    def __init__(
        self, during_first: Callable[[], Awaitable[None]], *, answer_from: int = 1
    ) -> None:
        self.during_first: Callable[[], Awaitable[None]] | None = during_first
        self.answer_from = answer_from
        self.answering = asyncio.Event()
        self.in_flight: Counter[str] = Counter()
        self.overlaps: list[str] = []
        self.active = 0
        self.most_at_once = 0
        self.writes: list[DealWrite] = []

    async def upsert(self, writes: Sequence[DealWrite]) -> list[WriteResult]:
        self.active += 1
        self.most_at_once = max(self.most_at_once, self.active)
        self.in_flight.update(w.registration_id for w in writes)
        self.overlaps += [rid for rid, n in self.in_flight.items() if n > 1]
        self.writes.extend(writes)
        if self.during_first is not None:
            during, self.during_first = self.during_first, None
            await during()
        if self.active >= self.answer_from:
            self.answering.set()
        # Bounded: a pipeline that never reaches the depth fails the assertion, not hangs.
        await asyncio.wait_for(self.answering.wait(), timeout=30)
        await asyncio.sleep(0.05)
        self.in_flight.subtract(w.registration_id for w in writes)
        self.active -= 1
        return [
            WriteResult(
                registration_id=w.registration_id,
                crm_id=w.crm_id or f"crm-{w.registration_id}",
                created=w.seed is not None,
            )
            for w in writes
        ]


@pytest.mark.parametrize("depth", [2, 4])
async def test_pushes_in_flight_never_hold_one_deal(pushing: Pushing, depth: int) -> None:
    events = [approval(1000 + i, domain=f"pipe{i}.example") for i in range(DEALS)]
    handle_batch = pushing.subscriptions.batch_handler()
    assert handle_batch is not None
    await handle_batch(events)
    amended = events[0]  # in the first push; amended while it is in the CRM

    async def amend() -> None:
        await pushing.subscriptions.handlers()[amended.type](amended)  # redelivered: no-op
        changed = amendment(amended, "777.00")
        await pushing.subscriptions.handlers()[changed.type](changed)

    crm = _SlowCrm(amend, answer_from=depth)
    pipeline = outbound.PushPipeline(pushing.ctx, cast(CrmConnector, crm), depth=depth)
    while await pipeline.step():
        pass
    await pipeline.drain()

    assert crm.overlaps == []  # no deal was ever in two pushes at once
    assert crm.most_at_once == depth  # the next batches went while the first was in the CRM
    created = Counter(w.registration_id for w in crm.writes if w.seed is not None)
    assert set(created) == {e.subject for e in events}
    assert max(created.values()) == 1  # one opportunity each
    writes_of = Counter(w.registration_id for w in crm.writes)
    assert writes_of[amended.subject] == 2  # changed during its push: pushed once more
    assert sum(writes_of.values()) == DEALS + 1
    second = [w for w in crm.writes if w.registration_id == amended.subject][1]
    assert (second.seed, second.crm_id) == (None, None)
    assert second.amendment is not None
    async with pushing.unit.transactions.transaction() as session:
        rows = (await session.execute(select(mirrored_deals))).all()
    assert {r.sync_state for r in rows} == {"synced"}
    assert all(r.crm_opportunity_id == f"crm-{r.registration_id}" for r in rows)
    assert all(r.last_written == r.desired and r.applied is not None for r in rows)
    assert pipeline.held == frozenset()


@pytest.mark.parametrize("sales_moved", [False, True], ids=["untouched", "sales_moved_it"])
async def test_a_sweep_reading_a_new_opportunity_before_its_push_commits_sees_no_change(
    pushing: Pushing, sales_moved: bool
) -> None:
    """The reconciliation sweep (or a webhook's re-read) may read an opportunity crm_sync has
    just created before the push that created it records so. What it reads then is our own
    write, an echo: no ``CrmOpportunityChanged`` (the e2e test saw a spurious "prospecting").
    A stage sales already moved in that moment is a real change, and is told."""
    event = approval(1, domain="sweep-race.example")
    handle_batch = pushing.subscriptions.batch_handler()
    assert handle_batch is not None
    await handle_batch([event])

    async def sweep() -> None:
        write = crm.writes[0]
        assert write.seed is not None
        stage = "qualifiedtobuy" if sales_moved else HUBSPOT_DEFAULT_STAGES.initial
        read_back = CrmDeal(
            crm_id=f"crm-{write.registration_id}",
            registration_id=write.registration_id,
            owned=dict(write.changes),
            sales=SalesState(
                stage=HUBSPOT_DEFAULT_STAGES.name_of(stage),
                amount=write.seed.amount,
                currency=write.seed.currency,
                close_date=write.seed.close_date,
            ),
            modified_at=datetime.now(UTC),
        )
        async with pushing.unit.transactions.transaction() as session:
            await inbound.apply_deals(
                pushing.ctx, session, cast(CrmConnector, crm), [read_back], datetime.now(UTC)
            )

    crm = _SlowCrm(sweep)  # the sweep reads it while the push is in the CRM
    pipeline = outbound.PushPipeline(pushing.ctx, cast(CrmConnector, crm))
    while await pipeline.step():
        pass
    await pipeline.drain()
    await sweep()  # and the next sweep reads it again, unchanged since

    async with pushing.unit.transactions.transaction() as session:
        staged = [row.event_type for row in (await session.execute(select(outbox))).all()]
    changed = staged.count(CrmOpportunityChanged.event_type)
    assert changed == (1 if sales_moved else 0)
    assert staged.count(CrmOpportunityMirrored.event_type) == 1
