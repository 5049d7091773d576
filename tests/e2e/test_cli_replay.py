"""``dealreg replay SERVICE``: registrations driven through the running services, then each
service rebuilt from the topics into an empty database ends in the same state as the one it
ran on (its meaningful tables compared row by row), publishes nothing, calls no CRM, and
refuses a database that is not empty."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import Table, create_engine, select

from conflict_resolver.adapters import tables as resolver_tables
from conflict_resolver.queue import tables as queue_tables
from crm_sync.adapters import tables as crm_tables
from schemas.topics import TOPICS
from tests.e2e import test_cli
from tests.e2e.test_cli import System, dealreg, eventually
from tests.support.api import bearer

pytestmark = pytest.mark.e2e

# The module's own running system, built as test_cli builds its own (SQLite: the command
# speaks HTTP and Kafka; the replay target is a SQLite file too).
database_kind = test_cli.database_kind
sandbox = test_cli.sandbox
system = test_cli.system

# What a service's state means, without the bookkeeping of when it was written locally.
CRM_SYNC_VIEW: dict[Table, Sequence[str]] = {
    crm_tables.mirrored_deals: (
        "registration_id", "account_key", "partner_id", "product_line", "amount_value",
        "amount_currency", "protection_expires_at", "registration", "crm_system",
        "crm_opportunity_id", "approved_at", "desired", "crm_archived",
    ),
    crm_tables.registration_lifecycle: ("registration_id", "status", "protection_expires_at"),
    crm_tables.ops_keys: ("key_id", "principal_id", "key_hash", "issued_at", "revoked_at"),
}  # fmt: skip
# The resolver's record, whole (account overlap is not on the topics, by design; a
# withdrawal's ended_at is the resolver's processing time, told on no event).
RESOLVER_VIEW: dict[Table, Sequence[str]] = {
    resolver_tables.claims: (
        "registration_id", "submission_seq", "partner_id", "account_key", "product_line",
        "submitted", "status", "rule", "reason_code", "reason", "policy_version", "decided_at",
        "protection_expires_at", "correlation_id", "protection_key", "waitlisted",
        "extension_count", "evidence", "decision", "edit_round_trips",
    ),
    resolver_tables.claim_keys: tuple(resolver_tables.claim_keys.c.keys()),
    resolver_tables.protections: tuple(resolver_tables.protections.c.keys()),
    resolver_tables.conflicts: tuple(resolver_tables.conflicts.c.keys()),
    queue_tables.conflict_history: ("conflict_id", "at", "action", "actor", "reason"),
    resolver_tables.policies: tuple(resolver_tables.policies.c.keys()),
    resolver_tables.house_account_lists: tuple(resolver_tables.house_account_lists.c.keys()),
    resolver_tables.expiry_notices: tuple(resolver_tables.expiry_notices.c.keys()),
}  # fmt: skip


def sync_url(async_url: str) -> str:
    return async_url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")


def snapshot(url: str, view: dict[Table, Sequence[str]]) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            return {
                table.name: sorted(
                    tuple(row)
                    for row in connection.execute(select(*(table.c[name] for name in columns)))
                )
                for table, columns in view.items()
            }
    finally:
        engine.dispose()


def quiet(system: System) -> bool:
    """Every consumer group caught up and nothing left to push to the CRM."""
    status = system.json("status")
    lags = [group["lag"] for group in status["consumer_lag"]]
    connectors = status["crm"]["connectors"]
    return (
        bool(lags)
        and all(lag == 0 for lag in lags)
        and bool(connectors)
        and all(connector["pending"] == 0 for connector in connectors)
    )


def unpublished(url: str) -> int:
    """Events a service staged in its outbox that its relay has not sent yet."""
    outbox = crm_tables.outbox  # every service's outbox table has this shape and name
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(outbox.c.id).where(outbox.c.published_at.is_(None)))
            return len(rows.all())
    finally:
        engine.dispose()


def settled(system: System) -> bool:
    """Every event the services staged is on its topic and applied: no outbox holds an unsent
    event, then every group is caught up and nothing is left to push, then still no outbox
    holds one (applying an event, or a push, stages the next)."""
    urls = list(system.stack.database_urls.values())
    return (
        all(unpublished(url) == 0 for url in urls)
        and quiet(system)
        and all(unpublished(url) == 0 for url in urls)
    )


def topic_ends(system: System) -> dict[str, int]:
    """The end offset of every partition of the system's topics."""

    async def read() -> dict[str, int]:
        names = [system.stack.topic_prefix + topic.name for topic in TOPICS]
        consumer = AIOKafkaConsumer(*names, bootstrap_servers=system.stack.kafka_bootstrap)
        await consumer.start()
        try:
            ends = await consumer.end_offsets(sorted(consumer.assignment()))
            return {f"{tp.topic}:{tp.partition}": offset for tp, offset in ends.items()}
        finally:
            await consumer.stop()

    return asyncio.run(read())


def drive(system: System) -> dict[str, Any]:
    """Seeded partners and registrations (conflicts among them), an ops user, and one
    approved registration withdrawn once it is in the CRM."""
    seeded = system.json("seed", "--partners", "3", "--registrations", "14", "--random-seed", "9")
    with httpx.Client(base_url=system.stack.url("deal_registration"), timeout=10) as client:
        ops = client.post(
            "/v1/ops-users", json={"name": "Replay Ops"}, headers=bearer(system.stack.admin_token)
        )
        assert ops.status_code == 201, ops.text
        keys = {partner["id"]: partner["api_key"] for partner in seeded["partners"]}

        def approved() -> list[dict[str, Any]]:
            found = []
            for registration in seeded["registrations"]:
                key = keys[registration["partner_id"]]
                view = client.get(f"/v1/registrations/{registration['id']}", headers=bearer(key))
                if view.json()["status"] == "approved" and view.json().get("crm"):
                    found.append(view.json())
            return found

        mirrored = eventually(approved, timeout=60)
        assert mirrored, "no registration was approved and mirrored"
        withdrawn = mirrored[0]
        answer = client.post(
            f"/v1/registrations/{withdrawn['id']}/withdraw",
            headers=bearer(keys[withdrawn["partner_id"]]),
        )
        assert answer.status_code == 202, answer.text
    return dict(seeded)


def test_replaying_crm_sync_rebuilds_its_state_without_publishing_or_calling_the_crm(
    system: System, tmp_path: Path
) -> None:
    drive(system)
    # Caught up is not enough: the last pushes' own events may still sit in crm_sync's outbox.
    assert eventually(lambda: settled(system), timeout=60), system.json("status")
    before = snapshot(system.stack.database_urls["crm_sync"], CRM_SYNC_VIEW)
    assert before["mirrored_deals"], "nothing was mirrored"
    assert any(row[1] == "withdrawn" for row in before["registration_lifecycle"])
    assert before["ops_keys"]
    crm_deals = system.sandbox.control("GET", "/hubspot/deals")
    published = topic_ends(system)

    target = f"sqlite+aiosqlite:///{tmp_path / 'crm_sync_rebuilt.db'}"
    rebuilt = system.run("replay", "crm_sync", "--database-url", target, "--json", timeout=300)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    summary = json.loads(rebuilt.stdout)
    assert summary["service"] == "crm_sync"
    assert summary["applied"] > 0
    assert summary["poison"] == 0
    assert summary["rows"]["mirrored_deals"] == len(before["mirrored_deals"])

    after = snapshot(target, CRM_SYNC_VIEW)
    assert after == before
    assert topic_ends(system) == published, "the replay published events"
    assert system.sandbox.control("GET", "/hubspot/deals") == crm_deals
    # What the handlers staged is marked published: a crm_sync started here sends nothing.
    engine = create_engine(sync_url(target))
    with engine.connect() as connection:
        outbox = crm_tables.outbox
        unsent = connection.execute(select(outbox.c.id).where(outbox.c.published_at.is_(None)))
        assert unsent.all() == []
    engine.dispose()

    again = system.run("replay", "crm_sync", "--database-url", target, timeout=120)
    assert again.returncode == 1
    assert "replay only into an empty database" in again.stderr
    assert "mirrored_deals" in again.stderr


def test_replaying_the_resolver_rebuilds_its_record_without_deciding_again(
    system: System, tmp_path: Path
) -> None:
    """After the registrations above (conflicts and a withdrawal among them): the resolver's
    record rebuilt from the topics is the one it keeps, and nothing is published again."""
    # Caught up is not enough: the last decisions may still sit in the resolver's outbox.
    assert eventually(lambda: settled(system), timeout=60), system.json("status")
    before = snapshot(system.stack.database_urls["conflict_resolver"], RESOLVER_VIEW)
    assert before["claims"], "nothing was decided"
    published = topic_ends(system)

    target = f"sqlite+aiosqlite:///{tmp_path / 'resolver_rebuilt.db'}"
    rebuilt = system.run(
        "replay", "conflict_resolver", "--database-url", target, "--json", timeout=300
    )
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    summary = json.loads(rebuilt.stdout)
    assert summary["service"] == "conflict_resolver"
    assert summary["poison"] == 0
    assert snapshot(target, RESOLVER_VIEW) == before
    assert topic_ends(system) == published, "the replay published events"


def test_deal_registration_whose_state_is_not_all_on_the_topics_is_refused_and_says_why(
    tmp_path: Path,
) -> None:
    target = tmp_path / "deal_registration.db"
    env = {**os.environ, "COLUMNS": "200"}
    refused = dealreg(
        "replay", "deal_registration", "--database-url", f"sqlite+aiosqlite:///{target}", env=env
    )
    assert refused.returncode == 1
    assert "contact, description and partner reference" in " ".join(refused.stderr.split())
    assert "backup" in refused.stderr
    assert not target.exists(), "a refused replay touched the database"


def test_a_replay_that_cannot_reach_the_brokers_fails_with_exit_1(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DEALREG_")},
        "DEALREG_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "COLUMNS": "200",
    }
    target = f"sqlite+aiosqlite:///{tmp_path / 'crm_sync.db'}"
    failed = dealreg("replay", "crm_sync", "--database-url", target, "--json", env=env)
    assert failed.returncode == 1
    assert "cannot read the topics at 127.0.0.1:1" in failed.stderr
    assert failed.stdout == ""
