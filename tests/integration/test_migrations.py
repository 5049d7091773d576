"""Every service's Alembic chain runs up, down to nothing, and up again (the stairway)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from services.db import create_engine
from services.migrations import SERVICES, downgrade, upgrade

pytestmark = pytest.mark.integration


async def table_names(url: str) -> set[str]:
    engine: AsyncEngine = create_engine(url)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names - {"alembic_version"}


async def stairway(url: str, service: str) -> None:
    await asyncio.to_thread(upgrade, service, url)
    assert {"outbox", "inbox"} <= await table_names(url)
    await asyncio.to_thread(downgrade, service, url, "base")
    assert await table_names(url) == set()
    await asyncio.to_thread(upgrade, service, url)
    assert {"outbox", "inbox"} <= await table_names(url)


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_stairway(service: str, database_url: str) -> None:
    await stairway(database_url, service)
