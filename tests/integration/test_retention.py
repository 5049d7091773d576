"""Old bookkeeping rows are pruned on a schedule; what can still be redelivered or retried stays.

Runs on SQLite and PostgreSQL with deal_registration's own rules (inbox, outbox, idempotency
records, webhook deliveries), crm_sync's (CRM webhook de-duplication rows) and
conflict_resolver's (expiry notices, ops' decisions on possible duplicates).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from conflict_resolver import app as resolver_app
from conflict_resolver.queue.tables import match_decisions
from crm_sync import app as crm_app
from crm_sync.adapters import tables as crm_tables
from deal_registration import app as intake_app
from deal_registration.adapters.tables import (
    idempotency_keys,
    inbox,
    outbox,
    partners,
    webhook_deliveries,
)
from services.db import create_engine, create_session_factory
from services.inbox import claim_event
from services.migrations import upgrade
from services.retention import Pruner, PruneRule
from services.settings import RetentionSettings
from services.uow import TransactionRunner
from tests.conftest import fresh_database
from tests.support.resolver import START, HandClock

pytestmark = pytest.mark.integration
RETENTION = RetentionSettings(
    inbox_days=14,
    outbox_published_days=7,
    idempotency_hours=48,
    webhook_deliveries_days=30,
    crm_webhook_dedup_days=14,
    match_decisions_days=365,
    batch_size=2,  # several batches per rule
)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    else:
        async with fresh_database(request.getfixturevalue("postgres_server")) as url:
            yield url


class Database:
    def __init__(self, engine: AsyncEngine, clock: HandClock) -> None:
        self.engine = engine
        self.clock = clock
        self.transactions = TransactionRunner(create_session_factory(engine), None)

    def pruner(self, rules: list[PruneRule]) -> Pruner:
        return Pruner(
            transactions=self.transactions,
            clock=self.clock,
            rules=rules,
            batch_size=RETENTION.batch_size,
            interval_seconds=3600,
        )

    async def claim(self, event_id: str, *, consumer: str = "decisions") -> bool:
        async with self.transactions.transaction() as session:
            return await claim_event(
                session,
                inbox,
                consumer=consumer,
                event_id=event_id,
                event_type="t",
                now=self.clock.now(),
            )

    async def insert(self, table: Any, rows: list[dict[str, Any]]) -> None:
        async with self.transactions.transaction() as session:
            await session.execute(insert(table), rows)

    async def column(self, column: Any) -> set[Any]:
        async with self.engine.connect() as connection:
            return set((await connection.execute(select(column))).scalars())


async def migrated(service: str, url: str) -> Database:
    await asyncio.to_thread(upgrade, service, url)
    return Database(create_engine(url), HandClock(START))


async def test_a_pruned_inbox_still_refuses_a_redelivery_inside_the_window(
    database_url: str,
) -> None:
    db = await migrated("deal_registration", database_url)
    try:
        db.clock.current = START - timedelta(days=20)
        for number in range(5):
            assert await db.claim(f"old-{number}")
        db.clock.current = START - timedelta(days=13)
        assert await db.claim("recent")
        db.clock.current = START

        pruned = await db.pruner(intake_app.retention_rules(RETENTION)).prune_once()

        assert pruned["inbox"] == 5
        assert await db.column(inbox.c.event_id) == {"recent"}
        assert await db.claim("recent") is False, "a redelivery inside the window is refused"
    finally:
        await db.engine.dispose()


async def test_old_published_events_idempotency_records_and_finished_deliveries_go(
    database_url: str,
) -> None:
    db = await migrated("deal_registration", database_url)
    try:
        old, recent = START - timedelta(days=40), START - timedelta(hours=30)
        await db.insert(partners, [partner_row()])
        await db.insert(
            outbox,
            [
                outbox_row("published-old", created=old, published=old),
                outbox_row("unpublished-old", created=old, published=None),
                outbox_row("published-recent", created=recent, published=recent),
            ],
        )
        await db.insert(
            idempotency_keys,
            [
                idempotency_row("k-old", START - timedelta(hours=49)),
                idempotency_row("k-new", recent),
            ],
        )
        await db.insert(
            webhook_deliveries,
            [
                delivery_row("delivered-old", "delivered", old),
                delivery_row("pending-old", "pending", old),
                delivery_row("failed-recent", "failed", recent),
            ],
        )
        await db.pruner(intake_app.retention_rules(RETENTION)).prune_once()

        assert await db.column(outbox.c.event_id) == {"unpublished-old", "published-recent"}
        assert await db.column(idempotency_keys.c.key) == {"k-new"}
        assert await db.column(webhook_deliveries.c.id) == {"pending-old", "failed-recent"}
    finally:
        await db.engine.dispose()


async def test_crm_webhook_dedup_rows_have_their_own_window(database_url: str) -> None:
    db = await migrated("crm_sync", database_url)
    try:
        db.clock.current = START - timedelta(days=10)
        await db.claim("webhook-10-days", consumer=crm_app.CRM_WEBHOOK_DEDUP_CONSUMER)
        await db.claim("event-10-days")
        db.clock.current = START
        retention = RETENTION.model_copy(update={"crm_webhook_dedup_days": 7})
        pruned = await db.pruner(crm_app.retention_rules(retention)).prune_once()

        assert pruned == {"inbox": 0, "outbox": 0, "crm_webhook_dedup": 1}
        async with db.engine.connect() as connection:
            left = await connection.execute(select(func.count()).select_from(crm_tables.inbox))
            assert left.scalar_one() == 1
    finally:
        await db.engine.dispose()


async def test_ops_decisions_on_possible_duplicates_go_after_their_window(
    database_url: str,
) -> None:
    db = await migrated("conflict_resolver", database_url)
    try:
        ages = {"c-400-days": 400, "c-366-days": 366, "c-364-days": 364, "c-1-day": 1}
        await db.insert(
            match_decisions,
            [
                match_decision_row(case_id, START - timedelta(days=days))
                for case_id, days in ages.items()
            ],
        )
        pruned = await db.pruner(resolver_app.retention_rules(RETENTION)).prune_once()

        assert pruned["match_decisions"] == 2
        assert await db.column(match_decisions.c.conflict_id) == {"c-364-days", "c-1-day"}
    finally:
        await db.engine.dispose()


def match_decision_row(case_id: str, decided_at: Any) -> dict[str, Any]:
    return {
        "conflict_id": case_id,
        "registration_id": f"r-{case_id}",
        "matched_registration_id": f"m-{case_id}",
        "similarity": 0.8,
        "same": True,
        "features": {"name_score": 0.8},
        "decided_by": "ops-1",
        "decided_at": decided_at,
    }


def partner_row() -> dict[str, Any]:
    return {
        "id": "p-1",
        "name": "Northwind",
        "tier": "gold",
        "status": "active",
        "product_lines": ["network-security"],
        "created_at": START,
        "updated_at": START,
    }


def outbox_row(event_id: str, *, created: Any, published: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "topic": "t",
        "event_type": "t",
        "partition_key": "k",
        "envelope": {},
        "created_at": created,
        "published_at": published,
    }


def idempotency_row(key: str, created: Any) -> dict[str, Any]:
    return {
        "principal_id": "p-1",
        "key": key,
        "request_hash": "h",
        "status_code": 202,
        "response": {},
        "created_at": created,
    }


def delivery_row(delivery_id: str, state: str, created: Any) -> dict[str, Any]:
    return {
        "id": delivery_id,
        "partner_id": "p-1",
        "registration_id": "r-1",
        "event_type": "t",
        "payload": {},
        "state": state,
        "attempts": 1,
        "created_at": created,
    }
