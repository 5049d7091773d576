"""``services.replay`` on both databases: crm_sync rebuilt from the topics through its own
handlers in the order of the events, the opportunity it created recorded and not created again,
poison counted and skipped, staged events never to be published, and a database that is not
empty refused before anything is written to it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from crm_sync.adapters.tables import mirrored_deals, outbox, registration_lifecycle
from crm_sync.handlers import EMITTER
from crm_sync.replay import PLAN
from schemas.crm import CrmOpportunityMirrored
from schemas.envelope import EventEnvelope
from schemas.topics import DECISIONS, topic_for
from services import migrations
from services.db import create_engine
from services.events import Cause
from services.kafka.admin import ensure_topics
from services.kafka.producer import KafkaEventPublisher
from services.replay import DatabaseNotEmptyError, replay
from tests.support.crm_events import approval, withdrawal
from tests.support.databases import Databases

pytestmark = pytest.mark.integration


def mirrored(approved: EventEnvelope[Any], opportunity_id: str) -> EventEnvelope[Any]:
    return EMITTER.envelope(
        CrmOpportunityMirrored(
            registration_id=approved.data.registration_id,
            account_key=approved.data.account_key,
            crm_system="hubspot",
            opportunity_id=opportunity_id,
            stage="appointmentscheduled",
            mirrored_at=datetime.now(UTC),
        ),
        subject=approved.data.registration_id,
        partition_key=approved.data.account_key,
        cause=Cause(None, approved.correlationid),
        time=datetime.now(UTC),
    )


async def test_crm_sync_is_rebuilt_from_the_topics_into_an_empty_database(
    databases: Databases, kafka_bootstrap: str, topic_prefix: str
) -> None:
    await ensure_topics(kafka_bootstrap, prefix=topic_prefix)
    publisher = KafkaEventPublisher(
        bootstrap_servers=kafka_bootstrap, client_id="test", topic_prefix=topic_prefix
    )
    kept, ended = approval(1), approval(2)
    steps = [
        [kept, ended],
        [mirrored(kept, "opp-1"), mirrored(ended, "opp-2")],
        [withdrawal(ended)],  # after its mirroring: the CRM must hear of it once more
    ]
    await publisher.start()
    try:
        for events in steps:
            for event in events:
                await publisher.publish(topic_for(type(event.data)).name, [event])
            await asyncio.sleep(0.05)  # distinct timestamps: the replay orders by them
    finally:
        await publisher.stop()
    raw = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await raw.start()
    try:
        await raw.send_and_wait(topic_prefix + DECISIONS.name, b"not an event", key=b"x")
    finally:
        await raw.stop()

    progress: list[tuple[int, int]] = []
    async with databases.fresh() as url:
        summary = await replay(
            PLAN,
            database_url=url,
            bootstrap=kafka_bootstrap,
            topic_prefix=topic_prefix,
            progress=lambda *step: progress.append(step),
            migrate=migrations.upgrade,
        )
        assert summary.records == 6
        assert summary.applied == 5
        assert summary.poison == 1
        assert summary.rows["mirrored_deals"] == 2
        assert progress == [(number, 6) for number in range(1, 7)]

        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                deals = {
                    row.registration_id: row
                    for row in await connection.execute(select(mirrored_deals))
                }
                notes = {
                    row.registration_id: row.status
                    for row in await connection.execute(select(registration_lifecycle))
                }
                unsent = (
                    await connection.execute(select(outbox).where(outbox.c.published_at.is_(None)))
                ).all()
        finally:
            await engine.dispose()
        kept_deal = deals[kept.data.registration_id]
        assert (kept_deal.crm_opportunity_id, kept_deal.sync_state) == ("opp-1", "synced")
        assert kept_deal.last_written == kept_deal.desired
        ended_deal = deals[ended.data.registration_id]
        assert ended_deal.crm_opportunity_id == "opp-2"
        assert ended_deal.desired["registration_status"] == "withdrawn"
        assert ended_deal.sync_state == "pending"  # the withdrawal is yet to be written
        assert notes[ended.data.registration_id] == "withdrawn"
        assert notes.get(kept.data.registration_id) is None
        assert unsent == []

        with pytest.raises(DatabaseNotEmptyError, match="mirrored_deals"):
            await replay(
                PLAN,
                database_url=url,
                bootstrap=kafka_bootstrap,
                topic_prefix=topic_prefix,
                migrate=_never,
            )


def _never(service: str, url: str) -> None:
    raise AssertionError("a database that is not empty was migrated")
