"""The crm_sync lease on both databases: one holder, renewal, takeover when it lapses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crm_sync.adapters.tables import metadata
from crm_sync.lease import LeaseTerms, release, try_acquire
from services.db import create_engine, create_session_factory
from services.uow import TransactionRunner
from tests.conftest import fresh_database

PUSHER = "crm-pusher"


@dataclass
class SteppedClock:
    moment: datetime = datetime(2026, 12, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


def _terms(owner: str) -> LeaseTerms:
    return LeaseTerms(owner=owner, ttl_seconds=10, heartbeat_seconds=3)


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


async def test_one_holder_at_a_time_and_the_other_takes_over_when_it_lapses(
    transactions: TransactionRunner,
) -> None:
    clock = SteppedClock()
    assert await try_acquire(transactions, clock, PUSHER, _terms("a"))
    assert not await try_acquire(transactions, clock, PUSHER, _terms("b"))
    clock.advance(8)
    assert await try_acquire(transactions, clock, PUSHER, _terms("a"))  # renewed
    clock.advance(8)
    assert not await try_acquire(transactions, clock, PUSHER, _terms("b"))  # still renewed
    clock.advance(11)  # a stopped renewing
    assert await try_acquire(transactions, clock, PUSHER, _terms("b"))
    assert not await try_acquire(transactions, clock, PUSHER, _terms("a"))


async def test_a_released_lease_is_taken_at_once(transactions: TransactionRunner) -> None:
    clock = SteppedClock()
    assert await try_acquire(transactions, clock, PUSHER, _terms("a"))
    await release(transactions, clock, PUSHER, "a")
    clock.advance(0.001)
    assert await try_acquire(transactions, clock, PUSHER, _terms("b"))
