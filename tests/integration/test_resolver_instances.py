"""Decisions are deterministic: one resolver instance, three instances sharing the partitions,
and a resolver rebuilt by replaying the topic into an empty database decide the same."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters.policy_store import default_policy, publish_policy
from conflict_resolver.adapters.tables import protections
from conflict_resolver.domain.policy import CapacityPolicy, Policy
from schemas.envelope import encode_event
from schemas.registration import (
    RegistrationApproved,
    RegistrationRejected,
    RegistrationSentToReview,
)
from schemas.topics import DECISIONS, REGISTRATIONS
from services.db import create_engine
from services.kafka.admin import ensure_topics
from services.kafka.producer import KafkaEventPublisher
from services.migrations import upgrade
from tests.support.databases import Databases
from tests.support.kafka_reader import read_all
from tests.support.resolver import START, ResolverInstance, submitted, wait_decided

pytestmark = pytest.mark.integration
ADMIN = "test-admin-token-0123456789abcdef"
# Clearly different companies: each account's registrations share one key, so one partition
# and its order (a fuzzy match across partitions is decided in processing order: see
# docs/rules-of-engagement.md, "First to register").
COMPANIES = (
    "Quintessa", "Borealis", "Marigold", "Zephyrine", "Obsidian", "Halcyon", "Tamarack",
    "Vermillion", "Kestrel", "Lumina", "Saffron", "Wolfram",
)  # fmt: skip
ACCOUNTS = len(COMPANIES)
REGISTRATIONS_COUNT = 72


def _scenario() -> list[Any]:
    """Registrations over a few accounts and two product lines, by several partners, with
    repeats by the same partner: approvals, waitlists and duplicates all occur."""
    rng = random.Random(5)
    events = []
    for seq in range(1, REGISTRATIONS_COUNT + 1):
        account = rng.randrange(ACCOUNTS)
        events.append(
            submitted(
                partner=f"p{rng.randrange(6)}",
                name=f"{COMPANIES[account]} Holdings",
                domain=f"{COMPANIES[account].lower()}.example",
                product_line=rng.choice(["network-security", "endpoint"]),
                seq=seq,
            )
        )
    return events


async def _run(
    databases: Databases,
    bootstrap: str,
    prefix: str,
    *,
    instances: int,
    publish: Any,
    ids: set[str] | None = None,
    policy: Policy | None = None,
) -> tuple[dict[str, tuple[str | None, str | None]], list[set[int]]]:
    async with databases.fresh() as url:
        await asyncio.to_thread(upgrade, "conflict_resolver", url)
        await ensure_topics(bootstrap, prefix=prefix)
        engine = create_engine(url)
        try:
            if policy is not None:
                async with AsyncSession(engine) as session, session.begin():
                    await publish_policy(session, policy, created_by="test", now=START)
            async with contextlib.AsyncExitStack() as stack:
                running = [
                    await stack.enter_async_context(
                        ResolverInstance(
                            database_url=url,
                            bootstrap=bootstrap,
                            topic_prefix=prefix,
                            admin_token=ADMIN,
                        )
                    )
                    for _ in range(instances)
                ]
                await _all_assigned(running)
                await publish(prefix)
                claims = await wait_decided(engine, ids or set(_IDS))
                partitions = [instance.assigned_partitions() for instance in running]
            async with engine.connect() as connection:
                held = (await connection.execute(protections.select())).mappings().all()
        finally:
            await engine.dispose()
    assert len({(row["account_key"], row["product_line"]) for row in held}) == len(held)
    return {rid: (c.decision, c.reason_code) for rid, c in claims.items()}, partitions


async def _publish(bootstrap: str, prefix: str, events: list[Any]) -> None:
    publisher = KafkaEventPublisher(
        bootstrap_servers=bootstrap, client_id="test", topic_prefix=prefix
    )
    await publisher.start()
    try:
        await publisher.publish(REGISTRATIONS.name, events)
    finally:
        await publisher.stop()


async def _all_assigned(running: list[ResolverInstance], within: float = 60) -> None:
    """Wait until the group has settled with every instance holding some partitions."""
    for _ in range(int(within / 0.2)):
        counts = [len(instance.assigned_partitions()) for instance in running]
        if all(counts) and sum(counts) == REGISTRATIONS.partitions:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"partitions never spread over the instances: {counts}")


SCENARIO = _scenario()
_IDS = [event.data.registration_id for event in SCENARIO]


async def test_one_instance_three_instances_and_a_replay_decide_the_same(
    databases: Databases, kafka_bootstrap: str, topic_prefix: str
) -> None:
    def publish_scenario(prefix: str) -> Any:
        return _publish(kafka_bootstrap, prefix, SCENARIO)

    single, _ = await _run(
        databases, kafka_bootstrap, topic_prefix + "one.", instances=1,
        publish=publish_scenario,
    )  # fmt: skip
    three, partitions = await _run(
        databases, kafka_bootstrap, topic_prefix + "three.", instances=3,
        publish=publish_scenario,
    )  # fmt: skip

    async def replay_topic(prefix: str) -> None:
        """Copy the first run's registrations topic, partition by partition, as it is."""
        source = topic_prefix + "one." + REGISTRATIONS.name
        recorded_events = await read_all(kafka_bootstrap, source, idle_seconds=1)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
        await producer.start()
        try:
            for event in recorded_events:
                key, value, headers = encode_event(event)
                await producer.send_and_wait(
                    prefix + REGISTRATIONS.name, value, key=key, headers=headers
                )
        finally:
            await producer.stop()

    rebuilt, _ = await _run(
        databases, kafka_bootstrap, topic_prefix + "replay.", instances=1,
        publish=replay_topic,
    )  # fmt: skip

    assert len(single) == REGISTRATIONS_COUNT
    outcomes = Counter(code or decision for decision, code in single.values())
    assert outcomes["approved"] >= ACCOUNTS  # each account and line approved once at most
    assert outcomes["ALREADY_REGISTERED"] > 0
    assert outcomes["DUPLICATE"] > 0
    assert all(partitions), partitions  # all three took part
    assert three == single
    assert rebuilt == single

    decisions = await read_all(kafka_bootstrap, topic_prefix + "three." + DECISIONS.name)
    distinct = {event.id: event for event in decisions}.values()
    # The decisions about registrations (the policy versions stored are told there too).
    per_registration = Counter(
        event.data.registration_id
        for event in distinct
        if isinstance(
            event.data, RegistrationApproved | RegistrationRejected | RegistrationSentToReview
        )
    )
    assert set(per_registration.values()) == {1}, "a registration was decided twice"


async def test_a_hundred_partners_over_kafka_on_three_instances_get_one_approval(
    databases: Databases, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """One company spelled two ways (with and without its domain): two account keys, so two
    partitions, decided by different instances at the same time."""
    racers = [
        submitted(
            partner=f"p{n}",
            name="Obsidian Analytics" + (" Inc" if n % 2 else " Corporation"),
            domain="obsidian-analytics.com" if n % 2 == 0 else None,
            seq=1000 + n,
        )
        for n in range(100)
    ]
    assert len({r.data.account_key for r in racers}) == 2
    ids = {r.data.registration_id for r in racers}

    async def publish(prefix: str) -> None:
        publisher = KafkaEventPublisher(
            bootstrap_servers=kafka_bootstrap, client_id="test", topic_prefix=prefix
        )
        await publisher.start()
        try:
            await asyncio.gather(
                publisher.publish(
                    REGISTRATIONS.name, [r for r in racers if r.data.customer.domain]
                ),
                publisher.publish(
                    REGISTRATIONS.name, [r for r in racers if not r.data.customer.domain]
                ),
            )
        finally:
            await publisher.stop()

    decisions, partitions = await _run(
        databases, kafka_bootstrap, topic_prefix, instances=3, publish=publish, ids=ids
    )
    owners = {
        index
        for index, owned in enumerate(partitions)
        for key in {r.data.account_key for r in racers}
        if (murmur2(key.encode()) & 0x7FFFFFFF) % REGISTRATIONS.partitions in owned
    }
    assert len(owners) == 2, "both spellings were decided by one instance"
    outcomes = Counter(decision for decision, _code in decisions.values())
    assert outcomes["approved"] == 1, outcomes
    assert outcomes["approved"] + outcomes["rejected"] + outcomes["pending_review"] == 100


async def test_three_instances_never_let_one_partner_over_its_capacity_cap(
    databases: Databases, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """A gold partner capped at three live protections registers forty different customers at
    once: forty account keys over every partition, decided by three instances at the same
    time. Each decision counts the partner's protections; without a lock on the partner two
    instances count the same two and both approve."""
    capped = default_policy().model_copy(
        update={"capacity": CapacityPolicy.model_validate({"tiers": {"gold": {"overall": 3}}})}
    )
    burst = [
        submitted(
            partner="p-capped",
            tier="gold",
            name=f"{word} Industries",
            domain=f"{word.lower()}-capacity.example",
            seq=2000 + n,
        )
        for n, word in enumerate(CAPACITY_WORDS)
    ]
    ids = {event.data.registration_id for event in burst}

    def publish(prefix: str) -> Any:
        return _publish(kafka_bootstrap, prefix, burst)

    decisions, _partitions = await _run(
        databases, kafka_bootstrap, topic_prefix, instances=3, publish=publish, ids=ids,
        policy=capped,
    )  # fmt: skip
    outcomes = Counter(decisions.values())
    assert outcomes[("approved", None)] == 3, outcomes
    assert outcomes[("rejected", "CAPACITY_LIMIT")] == len(burst) - 3, outcomes


CAPACITY_WORDS = (
    "Azalea", "Bramble", "Cobalt", "Dovetail", "Ember", "Fjord", "Garnet", "Hemlock", "Indigo",
    "Juniperus", "Kelp", "Larkspur", "Mistral", "Nettle", "Onyx", "Peregrine", "Quartzite",
    "Rowan", "Sequoia", "Thistle", "Umber", "Vervain", "Willow", "Xenon", "Yarrow", "Zinnia",
    "Alder", "Basalt", "Cinder", "Driftwood", "Egret", "Foxglove", "Gannet", "Heron", "Ibis",
    "Jasper", "Kingfisher", "Lichen", "Marram", "Nimbus",
)  # fmt: skip
