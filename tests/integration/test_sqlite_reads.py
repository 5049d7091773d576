"""On SQLite a read (who is calling, is the partner active) must not take the one write lock:
intake reads twice before it writes once, and each read queued behind every writer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from deal_registration.adapters.tables import partners
from services.db import DatabaseTimeouts, create_engine, create_session_factory
from services.migrations import upgrade
from services.uow import TransactionRunner

pytestmark = pytest.mark.integration


async def hold_the_write_lock(
    runner: TransactionRunner, held: asyncio.Event, go: asyncio.Event
) -> None:
    async with runner.transaction() as session:
        await session.execute(partners.delete().where(partners.c.id == "nobody"))
        held.set()
        await go.wait()


async def count_in_a_write_transaction(runner: TransactionRunner) -> int | None:
    async with runner.transaction() as session:
        return await session.scalar(select(func.count()).select_from(partners))


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[TransactionRunner]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    await asyncio.to_thread(upgrade, "deal_registration", url)
    # A writer would wait two seconds for the lock at most; the read must not wait at all.
    engine = create_engine(url, timeouts=DatabaseTimeouts(sqlite_busy=2))
    yield TransactionRunner(create_session_factory(engine), None)
    await engine.dispose()


async def test_a_read_answers_while_a_writer_holds_the_lock(runner: TransactionRunner) -> None:
    held, go = asyncio.Event(), asyncio.Event()
    writer = asyncio.create_task(hold_the_write_lock(runner, held, go))
    await held.wait()
    try:
        async with asyncio.timeout(0.5):
            async with runner.reading() as session:
                count = await session.scalar(select(func.count()).select_from(partners))
    finally:
        go.set()
        await writer
    assert count == 0


async def test_a_write_transaction_still_queues_for_the_lock(runner: TransactionRunner) -> None:
    """The contrast that makes the test above mean something: a write transaction waits."""
    held, go = asyncio.Event(), asyncio.Event()
    writer = asyncio.create_task(hold_the_write_lock(runner, held, go))
    await held.wait()
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(count_in_a_write_transaction(runner), timeout=0.5)
    finally:
        go.set()
        await writer
