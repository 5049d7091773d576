"""The queue gauges are counted and summed in the database (issue 12, goal 5).

The SLA job refreshes the gauges every few seconds. Built from ``stats``, each refresh made
one fact per claim of the last 30 days in Python; ``gauge_numbers`` asks the database for a
row per status, currency and reason code instead. Its numbers must be those ``stats`` reports
for the same data, to the last decimal of every currency's pipeline.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import tracemalloc
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from conflict_resolver.adapters.tables import claims, conflicts
from conflict_resolver.domain.policy import DEFAULT_POLICY
from conflict_resolver.queue.handlers import QueueContext, gauge_numbers, stats
from services.db import create_engine
from services.migrations import upgrade
from tests.support.resolver import START, HandClock, resolver_context

pytestmark = pytest.mark.integration

NOW = START + timedelta(days=60)
STATUSES = ["approved", "won", "rejected", "lost", "expired", "pending", "approved", "won"]
# Amounts as clients send them: several numbers of decimals, a JSON number, an amount
# without a value, an exponent Decimal allows, and a claim with no amount at all.
AMOUNTS: list[dict[str, Any] | None] = [
    {"value": "125000.00", "currency": "USD"},
    {"value": "0.10", "currency": "USD"},
    {"value": "0.20", "currency": "USD"},
    {"value": "99.999", "currency": "EUR"},
    {"value": "7", "currency": "EUR"},
    {"value": "12.5", "currency": "GBP"},
    {"value": 3000.25, "currency": "GBP"},
    {"value": "1E+3", "currency": "JPY"},
    {"value": "-15.75", "currency": "USD"},
    {"currency": "CHF"},
    None,
]
GAUGED = [
    "registrations_by_status",
    "partner_sourced_pipeline",
    "sla_breaches",
    "conflicts_by_reason",
]
REASONS = ["POSSIBLE_DUPLICATE", "CONCURRENT_CLAIM", "DIRECT_ENCROACHMENT"]


def _claim(i: int) -> dict[str, Any]:
    # Decided inside the window, before it (left out), or not yet.
    decided_at = [NOW - timedelta(hours=i), NOW - timedelta(days=45 + i % 3), None][i % 3]
    amount = AMOUNTS[i % len(AMOUNTS)]
    submitted: dict[str, Any] = {
        "partner": {"name": f"Partner {i % 4}"},
        "submitted_at": (NOW - timedelta(days=i % 50, minutes=i)).isoformat(),
    }
    if amount is not None:
        submitted["amount"] = amount
    return {
        "registration_id": f"r{i:05d}",
        "submission_seq": i,
        "partner_id": f"p{i % 4}",
        "account_key": f"acct{i}",
        "product_line": "core",
        "submitted": submitted,
        "status": STATUSES[i % len(STATUSES)],
        "reason_code": None,
        "decided_at": decided_at,
        "correlation_id": f"c{i}",
    }


def _case(i: int) -> dict[str, Any]:
    opened_at = NOW - timedelta(days=[1, 5, 40][i % 3], hours=i)
    due_at = opened_at + timedelta(days=[1, 10][i % 2])
    state = "open" if i % 4 in (0, 1) else "decided"
    decided_at = None if state == "open" else opened_at + timedelta(days=[2, 12][i % 2] - 1)
    return {
        "id": f"case{i:04d}",
        "registration_id": f"r{i:05d}",
        "account_key": f"acct{i}",
        "product_line": "core",
        "rule": "duplicate",
        "reason_code": REASONS[i % len(REASONS)],
        "evidence": {},
        "competing_registration_ids": [],
        "state": state,
        "opened_at": opened_at,
        "due_at": due_at,
        "escalated_at": opened_at + timedelta(hours=1) if i % 7 == 0 else None,
        "decided_at": decided_at,
        "decided_by": None if state == "open" else ["ops", "sla"][i % 2],
        "approved_registration_id": None,
    }


async def _queue(engine: AsyncEngine, *, claim_count: int, case_count: int) -> QueueContext:
    clock = HandClock(NOW)
    ctx = resolver_context(engine, clock)
    seq = itertools.count()
    async with ctx.transactions.transaction() as session:
        if claim_count:
            await session.execute(insert(claims), [_claim(next(seq)) for _ in range(claim_count)])
        if case_count:
            await session.execute(insert(conflicts), [_case(i) for i in range(case_count)])
    return QueueContext(
        transactions=ctx.transactions, clock=clock, policy=DEFAULT_POLICY, admin_token="t"
    )


async def test_the_gauges_counted_in_the_database_are_the_numbers_stats_reports(
    database_url: str,
) -> None:
    await asyncio.to_thread(upgrade, "conflict_resolver", database_url)
    engine = create_engine(database_url)
    try:
        queue = await _queue(engine, claim_count=400, case_count=60)
        gauges = await gauge_numbers(queue, days=30)
        numbers = await stats(queue, days=30)
    finally:
        await engine.dispose()

    assert {key: gauges[key] for key in GAUGED} == {key: numbers[key] for key in GAUGED}
    assert gauges["queue"] == {
        key: numbers["queue"][key] for key in ("open", "overdue", "oldest_age_seconds")
    }
    # The data set covers what the sums must get right.
    pipeline = {entry["currency"]: entry["value"] for entry in gauges["partner_sourced_pipeline"]}
    assert set(pipeline) == {"USD", "EUR", "GBP", "JPY", "CHF", ""}
    assert pipeline["CHF"] == pipeline[""] == "0"
    assert len(gauges["registrations_by_status"]) == 6
    assert len(gauges["conflicts_by_reason"]) == 3
    assert gauges["queue"]["open"] > gauges["queue"]["overdue"] > 0
    assert gauges["sla_breaches"] > gauges["queue"]["overdue"]


async def test_the_gauges_of_an_empty_queue(database_url: str) -> None:
    await asyncio.to_thread(upgrade, "conflict_resolver", database_url)
    engine = create_engine(database_url)
    try:
        queue = await _queue(engine, claim_count=0, case_count=0)
        gauges = await gauge_numbers(queue, days=30)
        numbers = await stats(queue, days=30)
    finally:
        await engine.dispose()

    assert {key: gauges[key] for key in GAUGED} == {key: numbers[key] for key in GAUGED}
    assert gauges["queue"] == {"open": 0, "overdue": 0, "oldest_age_seconds": None}


async def _peak_of_gauges(queue: QueueContext) -> int:
    await gauge_numbers(queue, days=30)  # warm-up: the compiled statements
    gc.collect()
    tracemalloc.start()
    try:
        await gauge_numbers(queue, days=30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


async def test_a_gauge_refresh_allocates_the_same_for_ten_times_the_claims(
    databases: Any,
) -> None:
    peaks = []
    for claim_count in (300, 3000):
        async with databases.fresh() as url:
            await asyncio.to_thread(upgrade, "conflict_resolver", url)
            engine = create_engine(url)
            try:
                queue = await _queue(engine, claim_count=claim_count, case_count=30)
                peaks.append(await _peak_of_gauges(queue))
            finally:
                await engine.dispose()
    small, large = peaks
    # One small fact a claim (the old refresh) would add over a MB for the extra 2,700.
    assert large < small * 1.3 + 50_000, peaks
