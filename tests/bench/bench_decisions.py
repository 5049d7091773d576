"""Timing of one resolver decision on PostgreSQL (inbox, key locks, candidates from the
blocking table, rules, claim, keys, protection, outbox), one after another. Not a test:

    .venv/bin/python -m tests.bench.bench_decisions postgres-user:password@host:port [count]

It creates and drops a scratch database on that server.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from schemas.envelope import EventEnvelope
from services.db import create_engine
from services.migrations import upgrade
from tests.conftest import fresh_database
from tests.support.resolver import HandClock, deliver, resolver_context, submitted

WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
]  # fmt: skip


def _registration(number: int) -> EventEnvelope[Any]:
    first, second = WORDS[number % 20], WORDS[(number // 20) % 20]
    batch = number // 400
    return submitted(
        partner=f"p{number % 7}",
        name=f"{first.title()} {second.title()}{batch} Networks",
        domain=f"{first}{second}{batch}.com",
    )


async def main(server: str, count: int) -> None:
    async with fresh_database(server) as url:
        await asyncio.to_thread(upgrade, "conflict_resolver", url)
        engine = create_engine(url)
        ctx = resolver_context(engine, HandClock())
        registrations = [_registration(n) for n in range(count)]
        await deliver(ctx, registrations[0])
        latencies = []
        started = time.perf_counter()
        for registration in registrations[1:]:
            begun = time.perf_counter()
            await deliver(ctx, registration)
            latencies.append(time.perf_counter() - begun)
        elapsed = time.perf_counter() - started
        await engine.dispose()
    latencies.sort()

    def at(share: float) -> float:
        return latencies[int(len(latencies) * share)] * 1000

    print(
        f"{len(latencies)} decisions: {len(latencies) / elapsed:.0f}/s sequential; "
        f"p50 {at(0.5):.1f} ms, p95 {at(0.95):.1f} ms, p99 {at(0.99):.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000))
