"""The async SQLAlchemy engine and sessions for one service's own database.

SQLite (aiosqlite) is the embedded default for local runs; PostgreSQL (asyncpg) runs CI and
production. Each service owns one database and never reads another's.

Every wait has a bound (:class:`DatabaseTimeouts`): connecting, borrowing a pooled connection,
a statement, a SQLite writer queueing for the lock. While the database is away a request fails
within seconds (the API answers 503, see ``services.http.problems``) instead of hanging, and
``pool_pre_ping`` replaces dead pooled connections when it returns, so no restart is needed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util.concurrency import await_

SessionFactory = async_sessionmaker[AsyncSession]
_READ_ONLY = "dealreg_read_only"
# Each pooled SQLite connection keeps its own page cache, 2 MB by SQLite's default, malloc'd
# in the connection's own aiosqlite thread (so in its own malloc arena). It fills as the file
# grows and large transactions touch more pages, and is bounded only by the number of
# connections: it was a share of the resolver's slow growth under a sustained load
# (docs/benchmarks.md, issue 12 goal 5). In WAL mode it is of little use across transactions
# anyway: a connection drops its whole cache whenever another connection has written since
# its last read. 512 KiB (128 pages) holds the B-tree interior pages a transaction walks; the
# operating system's file cache serves the rest.
SQLITE_PAGE_CACHE_KIB = 512


@dataclass(frozen=True, kw_only=True)
class DatabaseTimeouts:
    """Upper bounds, in seconds, on every wait for the database."""

    connect: float = 5.0
    pool: float = 30.0  # a burst queues for a connection; only starvation should fail
    statement: float | None = 15.0  # None for migrations, whose statements may be long
    sqlite_busy: float = 10.0


def create_engine(
    url: str, *, echo: bool = False, timeouts: DatabaseTimeouts | None = None
) -> AsyncEngine:
    """Create the engine; SQLite gets WAL, a busy timeout and enforced foreign keys.

    Statement parameters (webhook URLs with their tokens, encrypted secrets, key hashes) are
    kept out of echoed statements and of error messages, which end up in logs. ``echo`` raises
    the ``sqlalchemy.engine`` logger to INFO instead of passing SQLAlchemy's own ``echo``, which
    would add a plain-text handler on stdout beside the JSON logs (``services.logging``).
    """
    limits = timeouts or DatabaseTimeouts()
    if echo:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            hide_parameters=True,
            connect_args={"timeout": limits.sqlite_busy},
            pool_timeout=limits.pool,
        )
        busy_ms = int(limits.sqlite_busy * 1000)
        event.listen(
            engine.sync_engine,
            "connect",
            lambda dbapi_connection, _record: _configure_sqlite(dbapi_connection, busy_ms),
        )
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    connect_args: dict[str, float] = {"timeout": limits.connect}
    if limits.statement is not None:
        connect_args["command_timeout"] = limits.statement
    engine = create_async_engine(
        url,
        hide_parameters=True,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        pool_timeout=limits.pool,
        connect_args=connect_args,
    )
    # pool_pre_ping, in one round trip: an instance attribute, this engine's dialect only.
    engine.sync_engine.dialect.do_ping = _ping_once  # type: ignore[method-assign]
    return engine


def _ping_once(dbapi_connection: Any) -> bool:
    """``pool_pre_ping``'s check of a pooled asyncpg connection: one empty statement.

    SQLAlchemy's own ping wraps it in BEGIN and ROLLBACK (for pgbouncer's transaction mode,
    which dealreg does not use): three round trips on every checkout, a tenth of intake's
    time under load. A failure is raised as the driver's error, so a dead connection is still
    recognised as a disconnect, dropped, and replaced before the request uses it.
    """
    try:
        await_(dbapi_connection._connection.fetchrow(";"))
    except Exception as error:
        dbapi_connection._handle_exception(error)
    return True


def _configure_sqlite(dbapi_connection: Any, busy_timeout_ms: int) -> None:
    # The driver's own transaction handling would start transactions lazily and deferred;
    # we start them ourselves (see _begin_immediate) so concurrent writers queue instead of
    # failing with "database is locked" on upgrade from read to write. A writer queues for at
    # most the busy timeout; past it the API answers 503 (the lock is held for milliseconds).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_PAGE_CACHE_KIB:d}")  # negative: KiB, not pages
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    if connection.get_execution_options().get(_READ_ONLY):
        connection.exec_driver_sql("BEGIN")  # WAL: a reader never waits for the writer
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@asynccontextmanager
async def read_only_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads that never queues for SQLite's write lock (polls, probes).

    Writing through it on SQLite may fail with "database is locked": read only.
    """
    async with engine.connect() as connection:
        await connection.execution_options(**{_READ_ONLY: True})
        yield connection


def read_only_options(dialect: str) -> dict[str, Any]:
    """Execution options for a connection that only reads.

    PostgreSQL: autocommit. A read needs no transaction there: under READ COMMITTED each
    statement takes its own snapshot inside a transaction too, and leaving out BEGIN and
    COMMIT saves two round trips to the server per read, each a wait for another process to
    be scheduled on a busy host. SQLite: a deferred ``BEGIN`` (see :func:`read_only_connection`),
    so a read never queues for the write lock.
    """
    if dialect == "postgresql":
        return {"isolation_level": "AUTOCOMMIT"}
    return {_READ_ONLY: True}


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


def dialect_name(session: AsyncSession) -> str:
    """The database dialect a session is bound to (``postgresql`` or ``sqlite``)."""
    bind = session.get_bind()
    return bind.dialect.name


def upsert_into(session: AsyncSession, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into ``table`` that can say ON CONFLICT, in the session's dialect."""
    insert = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
    return insert(table)
