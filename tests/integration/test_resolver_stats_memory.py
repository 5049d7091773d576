"""The numbers behind the queue gauges read only what they count (issue 12, goal 5).

The SLA job refreshes the gauges every few seconds from every claim of the last 30 days. It
used to read whole claim rows, evidence and decision JSON included, so each refresh allocated
about 20 KB a registration and the resolver's resident memory grew with the registrations it
had decided (the process keeps a peak's memory). What a refresh allocates must not depend on
how large a claim's evidence is.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any

import pytest
from sqlalchemy import update

from conflict_resolver.adapters.tables import claims
from conflict_resolver.domain.policy import DEFAULT_POLICY
from conflict_resolver.queue.handlers import QueueContext
from conflict_resolver.queue.handlers.numbers import stats
from services.db import create_engine
from services.migrations import upgrade
from tests.support.resolver import HandClock, deliver_batch, resolver_context, submitted

pytestmark = pytest.mark.integration

CLAIMS = 200
# What a claim matched against many others records: about 40 KB of JSON.
LARGE_EVIDENCE: dict[str, Any] = {
    "matches": [{"registration_id": f"r{i:04d}", "note": "x" * 300} for i in range(120)]
}


async def _peak_of_stats(ctx: QueueContext) -> tuple[int, dict[str, Any]]:
    """Bytes allocated at the peak of one ``stats`` call (traced by tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        numbers = await stats(ctx, days=30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, numbers


async def test_the_numbers_allocate_the_same_whatever_the_size_of_the_evidence(
    database_url: str,
) -> None:
    await asyncio.to_thread(upgrade, "conflict_resolver", database_url)
    engine = create_engine(database_url)
    try:
        clock = HandClock()
        ctx = resolver_context(engine, clock)
        events = [
            submitted(partner=f"p{i % 5}", name=f"Company {i} Holdings", domain=f"c{i}.example")
            for i in range(CLAIMS)
        ]
        for start in range(0, CLAIMS, 50):
            await deliver_batch(ctx, events[start : start + 50])
        queue = QueueContext(
            transactions=ctx.transactions, clock=clock, policy=DEFAULT_POLICY, admin_token="t"
        )
        await stats(queue, days=30)  # warm-up: the policy cache, compiled statements
        baseline, before = await _peak_of_stats(queue)

        async with ctx.transactions.transaction() as session:
            await session.execute(update(claims).values(evidence=LARGE_EVIDENCE))
        inflated, after = await _peak_of_stats(queue)
    finally:
        await engine.dispose()

    # The evidence counts for nothing in the numbers (the partners' ranking aside: five
    # partners with 40 registrations each tie, and PostgreSQL returns the updated rows in
    # another order).
    tied = "registrations_per_partner"
    assert {k: v for k, v in after.items() if k != tied} == {
        k: v for k, v in before.items() if k != tied
    }
    assert sum(after["registrations_by_status"].values()) == CLAIMS
    # Reading the evidence would add about CLAIMS * 40 KB (8 MB) to the peak.
    assert inflated < baseline * 1.5, (baseline, inflated)
