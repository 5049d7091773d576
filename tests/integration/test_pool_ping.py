"""Each pooled PostgreSQL connection is checked before use, in one round trip: a connection
the server closed is replaced before a request sees it (services.db)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text

from services.db import create_engine

pytestmark = pytest.mark.integration


async def test_a_pooled_connection_the_server_closed_is_replaced_before_use(
    postgres_url: str,
) -> None:
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as first, engine.connect() as second:
            pid = (await first.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await second.execute(text("SELECT 1"))
        # Both are back in the pool; the server ends one (a restart, a failover).
        async with engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await other.commit()
        async with engine.connect() as first, engine.connect() as second:
            pids = {
                (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                for connection in (first, second)
            }
        assert pid not in pids
    finally:
        await engine.dispose()


async def test_the_check_is_one_empty_statement_without_a_transaction(postgres_url: str) -> None:
    """SQLAlchemy's own asyncpg ping is BEGIN, the statement, ROLLBACK: three round trips on
    every checkout of intake's hot path."""
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        raw: list[Any] = []
        async with engine.connect() as connection:
            dbapi_connection = (await connection.get_raw_connection()).dbapi_connection
            raw.append(dbapi_connection)
        sent: list[str] = []
        asyncpg_connection = raw[0]._connection
        asyncpg_connection.add_query_logger(lambda record: sent.append(record.query))
        pings: list[bool] = []
        event.listen(engine.sync_engine.pool, "checkout", lambda *_: pings.append(True))
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 2"))
        assert pings, "the pool was not checked out"
        assert sent[0] == ";", sent  # not BEGIN: the check opens no transaction
    finally:
        await engine.dispose()
