"""How many SQL statements a decided submission costs, counted on the resolver's engine.

A realistic batch (the drain benchmark's made-up companies, a quarter of them another
spelling of an earlier account, no direct opportunities, no CRM companies) is delivered as the
batched consumer hands a partition's run over; every statement the engine sends is counted
with SQLAlchemy's ``before_cursor_execute``. The bound is on the statements per decision: the
rules' reads and the decision's writes, plus the batch's own (inbox, policy versions) spread
over it. A decision is about ten statements on PostgreSQL (they were fourteen).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from services.db import create_engine
from services.migrations import upgrade
from tests.bench.bench_drain import registrations
from tests.support.databases import Databases
from tests.support.resolver import HandClock, deliver_batch, recorded, resolver_context

pytestmark = pytest.mark.integration

SUBMISSIONS = 400
BATCH = 100
# Upper bound per decided submission; the code before the count (commit 6e0b7b7) made 14.1
# on PostgreSQL and 13.1 on SQLite (no advisory locks there); then 9.8 and 8.8; with a
# batch's CRM look-ups, key locks, key sizes and outbox rows read, taken and written once,
# 5.8 on both; with the line's "no incumbent, no open direct opportunity" read once a batch
# (none here), 3.8; with the batch's new claims, keys and protections written together and
# its candidates read once (``adapters.pending``, ``claims_store.read_batch_candidates``), 0.36.
MOST_PER_DECISION = 1.0


def kind_of(statement: str) -> str:
    """``SELECT claims``, ``INSERT outbox``...: the verb and the statement's own first table
    (subqueries in parentheses left out)."""
    text = " ".join(statement.split())
    while (inner := re.sub(r"\([^()]*\)", "", text)) != text:
        text = inner
    verb = text.split(" ", 1)[0].upper()
    if "pg_advisory_xact_lock" in text:
        return "SELECT advisory locks"
    table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", text, re.IGNORECASE)
    return f"{verb} {table.group(1) if table else '?'}"


async def counted(databases: Databases) -> tuple[Counter[str], int]:
    events = registrations(SUBMISSIONS, seed=12)
    async with databases.fresh() as url:
        await asyncio.to_thread(upgrade, "conflict_resolver", url)
        engine: AsyncEngine = create_engine(url)
        try:
            ctx = resolver_context(engine, HandClock())
            await deliver_batch(ctx, events[:BATCH])  # warm: first statements, caches
            kinds: Counter[str] = Counter()

            def count(*args: Any) -> None:
                kinds[kind_of(args[2])] += 1

            event.listen(engine.sync_engine, "before_cursor_execute", count)
            for start in range(BATCH, SUBMISSIONS, BATCH):
                await deliver_batch(ctx, events[start : start + BATCH])
            event.remove(engine.sync_engine, "before_cursor_execute", count)
            decided = await recorded(engine)
            assert len(decided) == SUBMISSIONS
            return kinds, SUBMISSIONS - BATCH
        finally:
            await engine.dispose()


async def test_a_decision_costs_few_statements(databases: Databases) -> None:
    kinds, decisions = await counted(databases)
    per_decision = sum(kinds.values()) / decisions
    report = "\n".join(
        f"  {kind}: {n / decisions:.2f}" for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1])
    )
    print(f"\n{databases.kind}: {per_decision:.2f} statements per decision\n{report}")
    assert per_decision <= MOST_PER_DECISION, report
