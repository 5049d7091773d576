"""The drain benchmark's path, short and untimed (tests/bench/bench_drain.py --short): a backlog
of submissions already on the topic, one resolver process on PostgreSQL, every submission
decided and no account approved twice."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from conflict_resolver.adapters.tables import claims, protections
from services.db import create_engine
from tests.bench.bench_drain import SHORT, drain, publish, registrations

pytestmark = pytest.mark.integration


async def test_a_backlog_is_drained_with_every_submission_decided_once(
    postgres_url: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    events = registrations(SHORT)
    await publish(kafka_bootstrap, topic_prefix, events)

    result = await drain(postgres_url, kafka_bootstrap, topic_prefix, SHORT, within=900)

    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(claims))).mappings().all()
            held = (await connection.execute(select(protections))).mappings().all()
    finally:
        await engine.dispose()
    assert {row["registration_id"] for row in rows} == {e.data.registration_id for e in events}
    assert all(row["decision"] is not None for row in rows)
    approved = Counter(
        (row["protection_key"], row["product_line"]) for row in rows if row["status"] == "approved"
    )
    assert approved
    assert max(approved.values()) == 1  # no account approved twice
    assert len(held) == sum(approved.values())  # each approval holds the one protection
    assert {row["registration_id"] for row in held} == {
        row["registration_id"] for row in rows if row["status"] == "approved"
    }
    # Other spellings of earlier accounts are found: not everything is approved.
    assert Counter(row["status"] for row in rows)["approved"] < SHORT
    assert result.per_second > 0
    assert result.samples[-1][1] == SHORT
