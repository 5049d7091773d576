"""The policy and house accounts in force are parsed once per version and kept: a decision's
transaction asks only which versions are the latest (one statement for both), and a version
published by another instance, or in the same transaction, is seen at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from conflict_resolver.adapters import policy_store
from conflict_resolver.domain.policy import Policy
from services.db import create_engine, create_session_factory
from services.migrations import upgrade
from services.uow import TransactionRunner
from tests.support.resolver import START

pytestmark = pytest.mark.integration


@pytest.fixture
async def instances(database_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two resolver instances' engines on one database."""
    await asyncio.to_thread(upgrade, "conflict_resolver", database_url)
    first, second = create_engine(database_url), create_engine(database_url)
    yield first, second
    await first.dispose()
    await second.dispose()


def transactions(engine: AsyncEngine) -> TransactionRunner:
    return TransactionRunner(create_session_factory(engine), None)


def counting(engine: AsyncEngine) -> list[str]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    return statements


async def in_force(engine: AsyncEngine) -> tuple[Policy, int, int]:
    async with transactions(engine).transaction() as session:
        policy = await policy_store.current_policy(session, now=START)
        version, accounts = await policy_store.current_house_accounts(session)
        again = await policy_store.current_policy(session, now=START)
        assert again == policy
    return policy, version, len(accounts.accounts)


async def test_a_decision_reads_the_latest_versions_once_and_parses_nothing_again(
    instances: tuple[AsyncEngine, AsyncEngine],
) -> None:
    engine, _other = instances
    assert (await in_force(engine))[0].version == 1  # the default, stored on first use
    async with transactions(engine).transaction() as session:
        accounts = policy_store.HouseAccountList(
            accounts=(policy_store.HouseAccount(name="Initech", domain="initech.example"),)
        )
        await policy_store.publish_house_accounts(session, accounts, created_by="ops", now=START)
    parsed, _, _ = await in_force(engine)  # parses house-account version 1

    statements = counting(engine)
    policy, version, houses = await in_force(engine)
    assert (policy.version, version, houses) == (1, 1, 1)
    assert policy is parsed  # kept, not parsed again
    assert len([s for s in statements if "SELECT" in s.upper()]) == 1


async def test_a_version_published_by_another_instance_is_in_force_at_the_next_transaction(
    instances: tuple[AsyncEngine, AsyncEngine],
) -> None:
    first, second = instances
    default, house_version, _ = await in_force(first)
    assert (default.version, house_version) == (1, 0)

    stricter = default.model_copy(update={"version": 1})
    async with transactions(second).transaction() as session:
        published = await policy_store.publish_policy(
            session, stricter, created_by="ops", now=START
        )
        # In the publishing transaction itself, the new version is already the one in force.
        assert (await policy_store.current_policy(session, now=START)).version == 2
        await policy_store.publish_house_accounts(
            session,
            policy_store.HouseAccountList(accounts=(policy_store.HouseAccount(name="Globex"),)),
            created_by="ops",
            now=START,
        )
    assert published.version == 2

    policy, house_version, houses = await in_force(first)
    assert (policy.version, house_version, houses) == (2, 1, 1)
    assert policy == published


async def test_the_default_never_lands_on_top_of_a_policy_published_meanwhile(
    instances: tuple[AsyncEngine, AsyncEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An instance that found no policy stores the default file as version 1. If ops publish
    a policy between its read and its write, the default must not become the next version
    on top of it (it did: every later decision ran under the default file, the ops approval
    of a 14-day line got the tier's 90 days)."""
    first, second = instances
    published = Policy(exchange_rates={}).model_copy(
        update={"protection_window": Policy().protection_window * 2}
    )
    read = policy_store._cached_latest
    raced = False

    async def read_then_race(session: Any, table: Any) -> Any:
        nonlocal raced
        latest = await read(session, table)
        if latest is None and not raced:
            raced = True
            async with transactions(second).transaction() as other:
                await policy_store.publish_policy(other, published, created_by="ops", now=START)
        return latest

    if first.dialect.name == "sqlite":
        # SQLite's transactions begin immediate: the other writer cannot get in between.
        async with transactions(second).transaction() as blocker:
            await policy_store.publish_policy(blocker, published, created_by="ops", now=START)
            with pytest.raises(OperationalError, match="locked"):
                await in_force(first)
        return

    monkeypatch.setattr(policy_store, "_cached_latest", read_then_race)
    async with transactions(first).transaction() as session:
        await policy_store.current_policy(session, now=START)
    monkeypatch.undo()

    in_force_now, _version, _accounts = await in_force(first)
    assert raced
    assert in_force_now.protection_window == published.protection_window
