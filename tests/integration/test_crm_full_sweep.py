"""A full reconciliation sweep (``POST /v1/sync/reconcile {"full": true}``) on both databases:
it starts where the first sweep started, and a request made during a sweep survives it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from crm_sync import reconcile
from crm_sync.adapters.tables import connector_state, metadata
from crm_sync.handlers import Context
from crm_sync.settings import CrmSettings
from services.db import create_engine, create_session_factory
from services.uow import TransactionRunner
from tests.conftest import fresh_database

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 1, tzinfo=UTC)


class SteppedClock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 12, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


class QuietCrm:
    """Reports no change; remembers where each sweep started, and can hold a sweep open."""

    system = "hubspot"

    def __init__(self) -> None:
        self.sweeps: list[datetime] = []
        self.hold: asyncio.Event | None = None
        self.inside = asyncio.Event()

    async def changed_pages(self, since: datetime, until: datetime) -> AsyncIterator[list[object]]:
        self.sweeps.append(since)
        self.inside.set()
        if self.hold is not None:
            await self.hold.wait()
        for page in ():
            yield page


@pytest.fixture(params=["sqlite", "postgresql"])
async def transactions(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[TransactionRunner]:
    if request.param == "sqlite":
        async for runner in _runner(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"):
            yield runner
        return
    async with fresh_database(request.getfixturevalue("postgres_server")) as url:
        async for runner in _runner(url):
            yield runner


async def _runner(url: str) -> AsyncIterator[TransactionRunner]:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield TransactionRunner(create_session_factory(engine), None)
    finally:
        await engine.dispose()


def _context(transactions: TransactionRunner, clock: SteppedClock, crm: QuietCrm) -> Context:
    settings = CrmSettings(
        reconcile_start_at=START, reconcile_overlap_seconds=0, reconcile_index_lag_seconds=0
    )
    return Context(transactions, clock, connector=crm, settings=settings)  # type: ignore[arg-type]


async def _watermark(transactions: TransactionRunner) -> datetime | None:
    async with transactions.transaction() as session:
        value = (
            await session.execute(
                select(connector_state.c.watermark).where(connector_state.c.crm_system == "hubspot")
            )
        ).scalar_one()
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value if isinstance(value, datetime) else None


async def test_a_full_sweep_starts_where_the_first_one_did(
    transactions: TransactionRunner,
) -> None:
    clock, crm = SteppedClock(), QuietCrm()
    ctx = _context(transactions, clock, crm)
    await reconcile.reconcile(ctx, crm)  # type: ignore[arg-type]
    clock.moment += timedelta(hours=1)
    await reconcile.reconcile(ctx, crm)  # type: ignore[arg-type]
    assert crm.sweeps == [START, clock.moment - timedelta(hours=1)]

    clock.moment += timedelta(seconds=1)
    await reconcile.request_sweep(ctx, "hubspot", full=True)
    assert await _watermark(transactions) is None
    assert await reconcile.sweep_requested(ctx, "hubspot")
    clock.moment += timedelta(hours=1)
    await reconcile.reconcile(ctx, crm)  # type: ignore[arg-type]
    assert crm.sweeps[-1] == START
    assert await _watermark(transactions) == clock.moment


async def test_a_full_sweep_asked_for_during_a_sweep_is_not_lost(
    transactions: TransactionRunner,
) -> None:
    clock, crm = SteppedClock(), QuietCrm()
    ctx = _context(transactions, clock, crm)
    await reconcile.reconcile(ctx, crm)  # type: ignore[arg-type]
    clock.moment += timedelta(hours=1)

    crm.hold, crm.inside = asyncio.Event(), asyncio.Event()
    sweep = asyncio.create_task(reconcile.reconcile(ctx, crm))  # type: ignore[arg-type]
    await asyncio.wait_for(crm.inside.wait(), timeout=30)  # a bound, not a speed goal
    clock.moment += timedelta(seconds=1)
    await reconcile.request_sweep(ctx, "hubspot", full=True)  # while the sweep runs
    crm.hold.set()
    await sweep

    assert await _watermark(transactions) is None, "the sweep in progress undid the request"
    assert await reconcile.sweep_requested(ctx, "hubspot")
    crm.hold = None
    await reconcile.reconcile(ctx, crm)  # type: ignore[arg-type]
    assert crm.sweeps[-1] == START
