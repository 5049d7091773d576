"""The typed event runtime (services.events) on SQLite and PostgreSQL: typed dispatch, the
inbox, emitting through the outbox with the service's bound source, poison on a wrong type."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from deal_registration.adapters.tables import inbox, outbox
from schemas.registration import (
    ExtensionRequested,
    RegistrationSubmitted,
    RegistrationWithdrawn,
)
from schemas.topics import REGISTRATIONS
from services.db import create_engine, create_session_factory
from services.events import Emitter, EventContext, Subscriptions, UnitOfWork
from services.kafka.consumer import PoisonEventError
from services.migrations import upgrade
from services.outbox import envelope_from_row
from services.uow import TransactionRunner
from tests.unit.test_envelope import submitted_envelope

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


class FixedClock:
    def now(self) -> datetime:
        return NOW


@pytest.fixture
async def unit(database_url: str) -> AsyncIterator[UnitOfWork]:
    await asyncio.to_thread(upgrade, "deal_registration", database_url)
    engine = create_engine(database_url)
    try:
        yield UnitOfWork(
            transactions=TransactionRunner(create_session_factory(engine), None),
            clock=FixedClock(),
            inbox=inbox,
            emitter=Emitter(source="/dealreg/test_service", outbox=outbox),
        )
    finally:
        await engine.dispose()


async def staged(unit: UnitOfWork) -> list[Any]:
    async with unit.transactions.transaction() as session:
        rows = (await session.execute(select(outbox))).all()
    return [envelope_from_row(row) for row in rows]


async def test_a_handler_gets_its_typed_payload_once_and_emits_with_the_bound_source(
    unit: UnitOfWork,
) -> None:
    seen: list[tuple[RegistrationSubmitted, EventContext]] = []

    async def on_submitted(submitted: RegistrationSubmitted, event: EventContext) -> None:
        seen.append((submitted, event))
        withdrawn = RegistrationWithdrawn(
            registration_id=submitted.registration_id,
            account_key=submitted.account_key,
            product_line=submitted.product_line,
            withdrawn_at=event.now,
            previous_status="submitted",
        )
        await event.emit(
            withdrawn, subject=submitted.registration_id, partition_key=submitted.account_key
        )

    subscriptions = Subscriptions(consumer="test.submissions", unit=unit).on(
        RegistrationSubmitted, on_submitted
    )
    assert subscriptions.topics == [REGISTRATIONS.name]
    handle = subscriptions.handlers()[RegistrationSubmitted.event_type]
    envelope = submitted_envelope()

    await handle(envelope)
    await handle(envelope)  # redelivered: the inbox makes it a no-op

    assert len(seen) == 1
    assert seen[0][0] == envelope.data
    assert seen[0][1].cause.event_id == envelope.id
    [emitted] = await staged(unit)
    assert emitted.source == "/dealreg/test_service"
    assert emitted.causationid == envelope.id
    assert emitted.correlationid == envelope.correlationid
    assert emitted.partitionkey == envelope.data.account_key
    assert isinstance(emitted.data, RegistrationWithdrawn)


async def test_a_payload_of_another_type_is_poison_and_changes_nothing(unit: UnitOfWork) -> None:
    async def on_extension(requested: ExtensionRequested, event: EventContext) -> None:
        raise AssertionError("never called")

    handle = (
        Subscriptions(consumer="test.extensions", unit=unit)
        .on(ExtensionRequested, on_extension)
        .handlers()[ExtensionRequested.event_type]
    )
    with pytest.raises(PoisonEventError, match="expected"):
        await handle(submitted_envelope())
    async with unit.transactions.transaction() as session:
        assert (await session.execute(select(inbox))).all() == []


async def test_a_handler_that_fails_leaves_no_inbox_row_so_the_retry_applies_it(
    unit: UnitOfWork,
) -> None:
    attempts: list[str] = []

    async def flaky(submitted: RegistrationSubmitted, event: EventContext) -> None:
        attempts.append(submitted.registration_id)
        if len(attempts) == 1:
            raise ConnectionError("database went away")

    handle = (
        Subscriptions(consumer="test.flaky", unit=unit)
        .on(RegistrationSubmitted, flaky)
        .handlers()[RegistrationSubmitted.event_type]
    )
    envelope = submitted_envelope()
    with pytest.raises(ConnectionError):
        await handle(envelope)
    await handle(envelope)
    assert len(attempts) == 2


def test_one_type_has_one_handler_per_subscription(unit: UnitOfWork) -> None:
    async def handler(submitted: RegistrationSubmitted, event: EventContext) -> None:
        return None

    subscriptions = Subscriptions(consumer="test.twice", unit=unit).on(
        RegistrationSubmitted, handler
    )
    with pytest.raises(ValueError, match="already has a handler"):
        subscriptions.on(RegistrationSubmitted, handler)
