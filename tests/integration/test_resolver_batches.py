"""Deciding in batches decides the same as one event at a time: the same registrations, one
database fed event by event and another fed the same events in batches (as the batched
consumer hands a partition's run over), record the same claims and stage the same events."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from conflict_resolver import handlers
from schemas.envelope import EventEnvelope
from schemas.registration import RegistrationSubmitted, RegistrationWithdrawn
from services.db import create_engine
from services.migrations import upgrade
from tests.support.databases import Databases
from tests.support.resolver import (
    START,
    HandClock,
    Recorded,
    deliver,
    deliver_batch,
    envelope_of,
    outbox_events,
    recorded,
    resolver_context,
    submitted,
)

pytestmark = pytest.mark.integration

NAMES = (
    ("Acme Corporation", "acme.com"),
    ("ACME Corp", "acme.com"),
    ("Acme Inc", None),
    ("Globex Holdings", "globex.example"),
    ("Globex", None),
    ("Initech Systems", "initech.example"),
    ("Umbrella Health", "umbrella.example"),
    ("Umbrella Health Group", None),
)


def scenario() -> list[EventEnvelope[Any]]:
    """Submissions over a few accounts spelled several ways, two product lines, repeats by the
    same partner, and withdrawals of earlier ones: approvals, rejections, reviews, waitlists."""
    rng = random.Random(12)
    events: list[EventEnvelope[Any]] = []
    for seq in range(1, 61):
        name, domain = rng.choice(NAMES)
        events.append(
            submitted(
                partner=f"p{rng.randrange(5)}",
                name=name,
                domain=domain,
                product_line=rng.choice(["network-security", "endpoint"]),
                seq=seq,
            )
        )
        if seq % 9 == 0:
            earlier = rng.choice(
                [event for event in events[:-1] if isinstance(event.data, RegistrationSubmitted)]
            ).data
            withdrawn = RegistrationWithdrawn(
                registration_id=earlier.registration_id,
                account_key=earlier.account_key,
                product_line=earlier.product_line,
                withdrawn_at=START,
                previous_status="submitted",
            )
            events.append(
                envelope_of(withdrawn, key=earlier.account_key, subject=earlier.registration_id)
            )
    return events


Feed = Callable[[handlers.Context, list[EventEnvelope[Any]]], Coroutine[Any, Any, None]]


async def one_at_a_time(ctx: handlers.Context, events: list[EventEnvelope[Any]]) -> None:
    for event in events:
        await deliver(ctx, event)


async def in_batches(ctx: handlers.Context, events: list[EventEnvelope[Any]]) -> None:
    for start in range(0, len(events), 7):
        await deliver_batch(ctx, events[start : start + 7])
    await deliver_batch(ctx, events[:20])  # redelivered: the inbox makes it a no-op


async def decided(
    databases: Databases, events: list[EventEnvelope[Any]], feed: Feed
) -> tuple[dict[str, Recorded], list[str]]:
    async with databases.fresh() as url:
        await asyncio.to_thread(upgrade, "conflict_resolver", url)
        engine: AsyncEngine = create_engine(url)
        try:
            await feed(resolver_context(engine, HandClock()), events)
            staged = [event["type"] for event in await outbox_events(engine)]
            return await recorded(engine), staged
        finally:
            await engine.dispose()


async def test_batches_decide_exactly_as_one_event_at_a_time(databases: Databases) -> None:
    events = scenario()
    one_by_one, staged_one_by_one = await decided(databases, events, one_at_a_time)
    batched, staged_batched = await decided(databases, events, in_batches)

    assert len(one_by_one) == 60
    assert {claim.decision for claim in one_by_one.values()} >= {"approved", "rejected"}
    assert batched == one_by_one
    assert staged_batched == staged_one_by_one
