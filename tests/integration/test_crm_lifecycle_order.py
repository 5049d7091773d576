"""crm_sync's handlers on both databases: a withdrawal before its approval is not lost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from crm_sync.adapters.tables import metadata, mirrored_deals
from crm_sync.handlers import Context, record_approval, record_lifecycle
from services.clock import SystemClock
from services.db import create_engine, create_session_factory
from services.uow import TransactionRunner
from tests.conftest import fresh_database
from tests.support.crm_events import approval, withdrawal


@pytest.fixture(params=["sqlite", "postgresql"])
async def ctx(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Context]:
    if request.param == "sqlite":
        async for context in _context(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"):
            yield context
        return
    async with fresh_database(request.getfixturevalue("postgres_server")) as url:
        async for context in _context(url):
            yield context


async def _context(url: str) -> AsyncIterator[Context]:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield Context(
            transactions=TransactionRunner(create_session_factory(engine), None),
            clock=SystemClock(),
        )
    finally:
        await engine.dispose()


async def _status(ctx: Context, registration_id: str) -> str:
    async with ctx.transactions.transaction() as session:
        desired = (
            await session.execute(
                select(mirrored_deals.c.desired).where(
                    mirrored_deals.c.registration_id == registration_id
                )
            )
        ).scalar_one()
    return str(desired["registration_status"])


async def test_withdrawal_first_then_approval_mirrors_a_withdrawn_deal(ctx: Context) -> None:
    approved = approval(1)
    await record_lifecycle(ctx, withdrawal(approved))
    await record_approval(ctx, approved)
    assert await _status(ctx, approved.subject) == "withdrawn"


async def test_redelivered_events_change_nothing_twice(ctx: Context) -> None:
    approved = approval(2)
    withdrawn = withdrawal(approved)
    for event in (approved, withdrawn, approved, withdrawn):
        handler = record_approval if event is approved else record_lifecycle
        await handler(ctx, event)
    assert await _status(ctx, approved.subject) == "withdrawn"
