"""Sessions for requests that only read (``TransactionRunner.reading``), on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from deal_registration.adapters.tables import outbox
from services.db import create_engine, create_session_factory
from services.migrations import upgrade
from services.uow import TransactionRunner

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await asyncio.to_thread(upgrade, "deal_registration", database_url)
    subject = create_engine(database_url)
    yield subject
    await subject.dispose()


@pytest.mark.parametrize("database_kind", ["postgresql"], indirect=True)
async def test_a_read_on_postgresql_runs_in_autocommit(engine: AsyncEngine) -> None:
    """No BEGIN and COMMIT around a read: two round trips fewer for every GET (its
    authentication and its read), each a wait on a busy host. The statement runs on a
    connection in autocommit, and no transaction is open on the server while it runs."""
    runner = TransactionRunner(create_session_factory(engine), None)
    levels: list[Any] = []

    def on_statement(conn: Any, *_: Any) -> None:
        levels.append(conn.get_execution_options().get("isolation_level"))

    async def server_in_transaction(session: AsyncSession) -> bool:
        """What the server last said (ReadyForQuery): idle, or inside a transaction block."""
        raw = await (await session.connection()).get_raw_connection()
        return bool(raw.driver_connection.is_in_transaction())  # type: ignore[union-attr]

    event.listen(engine.sync_engine, "before_cursor_execute", on_statement)
    try:
        async with runner.reading() as session:
            await session.execute(select(outbox.c.id).limit(1))
            read_in_transaction = await server_in_transaction(session)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", on_statement)
    assert levels == ["AUTOCOMMIT"]
    assert read_in_transaction is False
    # The pooled connection is back to transactions for the next borrower.
    async with runner.transaction() as session:
        await session.execute(select(outbox.c.id).limit(1))
        assert await server_in_transaction(session) is True


@pytest.mark.parametrize("database_kind", ["sqlite"], indirect=True)
async def test_a_read_on_sqlite_does_not_queue_behind_a_writer(engine: AsyncEngine) -> None:
    """A transaction on SQLite begins IMMEDIATE, taking the write lock; a read must not wait
    for a writer (WAL lets it read the last committed state)."""
    runner = TransactionRunner(create_session_factory(engine), None)
    writer_holds_lock = asyncio.Event()
    release = asyncio.Event()

    async def writer() -> None:
        async with runner.transaction() as session:
            await session.execute(text("SELECT 1"))
            writer_holds_lock.set()
            await release.wait()

    writing = asyncio.create_task(writer())
    await writer_holds_lock.wait()
    try:
        async with runner.reading() as session:
            reading = asyncio.ensure_future(session.execute(select(outbox.c.id).limit(1)))
            done, _ = await asyncio.wait({reading, writing}, return_when=asyncio.FIRST_COMPLETED)
            assert reading in done, "the read waited for the writer"
            assert (await reading).all() == []
    finally:
        release.set()
        await writing
