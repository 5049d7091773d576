"""'Protection expires in N days' against the real database (SQLite and PostgreSQL): each
notice once, across restarts (the job run again) and instances (run at once)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from conflict_resolver import handlers
from conflict_resolver.domain.policy import Policy
from conflict_resolver.handlers import notices
from services.db import create_engine
from services.migrations import upgrade
from tests.support.resolver import (
    START,
    HandClock,
    deliver,
    outbox_events,
    resolver_context,
    submitted,
)

pytestmark = pytest.mark.integration
POLICY = Policy(protection_window=timedelta(days=90))
EXPIRING = "dealreg.registration.protection_expiring"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await asyncio.to_thread(upgrade, "conflict_resolver", database_url)
    subject = create_engine(database_url)
    yield subject
    await subject.dispose()


async def notices_sent(engine: AsyncEngine) -> list[dict[str, object]]:
    return [e for e in await outbox_events(engine) if e["type"] == EXPIRING]


async def drain(ctx: handlers.Context) -> None:
    while await notices.notify_one(ctx):
        pass


async def test_each_notice_goes_out_once_across_restarts_and_instances(
    engine: AsyncEngine,
) -> None:
    clock = HandClock()
    ctx = resolver_context(engine, clock)
    await handlers.publish_policy(ctx, POLICY, created_by="test")
    registration = submitted(partner="p1")
    await deliver(ctx, registration)
    await drain(ctx)
    assert await notices_sent(engine) == []  # 90 days left

    clock.advance(days=77)  # 13 days left: the 14-day notice
    instances = [resolver_context(engine, clock) for _ in range(3)]
    await asyncio.gather(*(drain(instance) for instance in instances))
    await drain(resolver_context(engine, clock))  # a restarted instance
    sent = await notices_sent(engine)
    assert [(e["registration_id"], e["notice"]) for e in sent] == [
        (registration.data.registration_id, "P14D")
    ]
    assert "14 days" in str(sent[0]["reason"])

    clock.advance(days=12, hours=12)  # half a day left: 3 and 1 were both passed at once
    await asyncio.gather(*(drain(instance) for instance in instances))
    told = await notices_sent(engine)
    assert [e["notice"] for e in told] == ["P14D", "P1D"]
    assert told[1]["passed"] == ["P3D"]  # recorded with it, never sent: on the topics too
    assert told[0]["passed"] == []
    assert clock.now() > START


async def test_a_short_window_sends_no_notice_due_before_it_was_granted(
    engine: AsyncEngine,
) -> None:
    clock = HandClock()
    ctx = resolver_context(engine, clock)
    await handlers.publish_policy(
        ctx, Policy(protection_window=timedelta(days=2)), created_by="test"
    )
    await deliver(ctx, submitted(partner="p1"))
    await drain(ctx)
    assert await notices_sent(engine) == []
    clock.advance(hours=25)  # the 1-day notice
    await drain(ctx)
    assert [e["notice"] for e in await notices_sent(engine)] == ["P1D"]
