"""One transaction of a handler: its state changes, its inbox row and its outbox events.

After a successful commit that staged events it wakes the outbox relay, so events leave
within milliseconds instead of at the next poll (read-only transactions do not wake it).
:meth:`TransactionRunner.reading` is for requests that only read (see
:func:`services.db.read_only_options`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.db import SessionFactory, read_only_options
from services.outbox import STAGED


class WriterTurns:
    """SQLite admits one writer at a time. Left to SQLite, a transaction that finds the write
    lock taken polls for it in the busy handler, sleeping up to 100 ms between tries, so under
    load the lock sits free while writers sleep. The transactions of one process take turns
    here instead, first come first served, each woken as soon as the one before it ends.

    The wait for a turn is bounded (``wait``, the busy timeout): past it the transaction goes
    on to BEGIN IMMEDIATE as it would without turns, and SQLite's busy timeout decides. A task
    already holding the turn (a transaction opened inside another) does not wait for itself.
    """

    def __init__(self, wait: float) -> None:
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[object] | None = None
        self._wait = wait

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            yield
            return
        try:
            async with asyncio.timeout(self._wait):
                await self._lock.acquire()
        except TimeoutError:
            yield  # as without turns
            return
        self._holder = task
        try:
            yield
        finally:
            self._holder = None
            self._lock.release()


class TransactionRunner:
    def __init__(
        self,
        session_factory: SessionFactory,
        relay_wake: asyncio.Event | None,
        *,
        sqlite_writer_wait: float = 10.0,
    ) -> None:
        """``sqlite_writer_wait``: on SQLite, how long a transaction waits for its turn
        (:class:`WriterTurns`) before it queues for SQLite's lock as it would without turns;
        the busy timeout is the natural value."""
        self._session_factory = session_factory
        self._relay_wake = relay_wake
        bind = session_factory.kw.get("bind")
        self._turns = (
            WriterTurns(sqlite_writer_wait)
            if isinstance(bind, AsyncEngine) and bind.dialect.name == "sqlite"
            else None
        )

    @property
    def session_factory(self) -> SessionFactory:
        return self._session_factory

    @property
    def writers_take_turns(self) -> bool:
        """Whether write transactions run one at a time (SQLite): a read moved into one
        lengthens the turn every other writer waits for."""
        return self._turns is not None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Yield a session inside a transaction; commit on success, roll back on error. On
        SQLite every transaction here writes (BEGIN IMMEDIATE), so they take turns first."""
        if self._turns is None:
            async with self._transaction() as session:
                yield session
            return
        async with self._turns.turn(), self._transaction() as session:
            yield session

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        async with self._session_factory() as session:
            async with session.begin():
                yield session
            staged = session.info.get(STAGED, False)
        if staged and self._relay_wake is not None:
            self._relay_wake.set()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """Yield a session for reads only: autocommit on PostgreSQL (no BEGIN and COMMIT round
        trips), a deferred BEGIN on SQLite (never queues behind a writer). Read only: on
        PostgreSQL a write through it would commit at once, statement by statement, and on
        SQLite it may fail with "database is locked"."""
        async with self._session_factory() as session:
            dialect = session.get_bind().dialect.name
            await session.connection(execution_options=read_only_options(dialect))
            yield session
