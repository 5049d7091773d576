"""Each stored policy and house-account version is told on the topics, whole, in the
transaction that stores it (``PolicyPublished``, ``HouseAccountsPublished``): the resolver can
be rebuilt from them (``dealreg replay conflict_resolver``). The replay's write of a version
(``policy_store.record_version``) stores it as it was and tells nothing again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from conflict_resolver.adapters import policy_store
from conflict_resolver.adapters.tables import house_account_lists, outbox, policies
from conflict_resolver.domain.policy import Policy
from schemas.envelope import EventEnvelope, decode_event, encode_event
from schemas.policies import HouseAccountsPublished, PolicyPublished
from schemas.topics import DECISIONS
from services.db import create_engine, create_session_factory
from services.migrations import upgrade
from services.outbox import envelope_from_row
from services.uow import TransactionRunner
from tests.support.resolver import START

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await asyncio.to_thread(upgrade, "conflict_resolver", database_url)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def staged(engine: AsyncEngine) -> list[tuple[str, EventEnvelope[Any]]]:
    """(topic, envelope) of every staged event, as a consumer would decode it."""
    async with engine.connect() as connection:
        rows = (await connection.execute(select(outbox).order_by(outbox.c.id))).all()
    result = []
    for row in rows:
        _key, value, headers = encode_event(envelope_from_row(row))
        result.append((row.topic, decode_event(value, headers)))
    return result


async def stored(engine: AsyncEngine, table: Any) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        query = select(table).order_by(table.c.version)
        return [dict(row) for row in (await connection.execute(query)).mappings()]


async def test_every_stored_version_is_told_whole_on_the_decisions_topic(
    engine: AsyncEngine,
) -> None:
    transactions = TransactionRunner(create_session_factory(engine), None)
    later = START + timedelta(hours=1)
    async with transactions.transaction() as session:
        await policy_store.current_policy(session, now=START)  # the default, as version 1
    draft = Policy.model_validate(
        {**policy_store.default_policy_document(), "minimum_amount": "7000"}
    )
    async with transactions.transaction() as session:
        await policy_store.publish_policy(session, draft, created_by="ops:ana", now=later)
    accounts = policy_store.HouseAccountList.model_validate(
        {"accounts": [{"name": "Globex", "domain": "globex.com", "country": "US"}]}
    )
    async with transactions.transaction() as session:
        await policy_store.publish_house_accounts(
            session, accounts, created_by="ops:ana", now=later
        )

    events = await staged(engine)
    assert {topic for topic, _ in events} == {DECISIONS.name}
    told = [envelope.data for _, envelope in events]
    assert [type(event) for event in told] == [
        PolicyPublished,
        PolicyPublished,
        HouseAccountsPublished,
    ]
    versions = await stored(engine, policies)
    for event, row in zip(told[:2], versions, strict=True):
        assert isinstance(event, PolicyPublished)
        assert (event.version, event.document) == (row["version"], row["document"])
        assert (event.published_at, event.published_by) == (row["created_at"], row["created_by"])
    assert [v["created_by"] for v in versions] == ["default", "ops:ana"]
    [house] = await stored(engine, house_account_lists)
    assert isinstance(told[2], HouseAccountsPublished)
    assert (told[2].version, told[2].document) == (house["version"], house["document"])
    assert {envelope.partitionkey for _, envelope in events} == {"policy"}


async def test_the_replay_writes_a_version_as_told_and_tells_nothing_again(
    engine: AsyncEngine,
) -> None:
    transactions = TransactionRunner(create_session_factory(engine), None)
    document = {**policy_store.default_policy_document(), "minimum_amount": "6500"}
    async with transactions.transaction() as session:
        await policy_store.record_version(
            session, policies, 1, document, created_by="ops:bo", now=START
        )
    async with transactions.transaction() as session:
        in_force = await policy_store.current_policy(session, now=START)
    assert in_force.version == 1
    assert in_force.document() == Policy.model_validate({**document, "version": 1}).document()
    assert await staged(engine) == []
