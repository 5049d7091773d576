"""A SQLite connection's page cache is bounded well below SQLite's 2 MB default.

Each pooled connection keeps its own cache, so the default costs up to 2 MB of resident
memory per connection, filled as the database grows (docs/benchmarks.md, issue 12 goal 5).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from services.db import create_engine

pytestmark = pytest.mark.integration


async def test_every_pooled_sqlite_connection_bounds_its_page_cache(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        # Several connections at once, so the pool opens more than one.
        async def cache_kib() -> int:
            async with engine.connect() as connection:
                size = (await connection.execute(text("PRAGMA cache_size"))).scalar_one()
                await asyncio.sleep(0.05)
                return int(size)

        sizes = await asyncio.gather(*(cache_kib() for _ in range(4)))
    finally:
        await engine.dispose()
    # A negative cache_size is in KiB (a positive one would count pages); SQLite's default
    # is -2000, 2 MB.
    assert all(-512 <= size < 0 for size in sizes), sizes
