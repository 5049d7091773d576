"""A typed subscription block declared ``trusted_senders_only`` acts only on its senders' events.

This is the switch a service turns on for a control topic (``dealreg.crm``): an event whose
CloudEvents source is not the declared sender's is poison, refused before the transaction, so
no inbox row is claimed and the handler never runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from deal_registration.adapters.tables import inbox, outbox
from schemas.registration import RegistrationSubmitted
from services.db import create_engine, create_session_factory
from services.events import Emitter, EventContext, Subscriptions, UnitOfWork
from services.kafka.sources import UntrustedSourceError
from services.migrations import upgrade
from services.uow import TransactionRunner
from tests.unit.test_envelope import submitted_envelope

pytestmark = pytest.mark.integration


class FixedClock:
    def now(self) -> datetime:
        return datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
async def unit(tmp_path: Path) -> AsyncIterator[UnitOfWork]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'events.db'}"
    await asyncio.to_thread(upgrade, "deal_registration", url)
    engine = create_engine(url)
    try:
        yield UnitOfWork(
            transactions=TransactionRunner(create_session_factory(engine), None),
            clock=FixedClock(),
            inbox=inbox,
            emitter=Emitter(source="/dealreg/conflict_resolver", outbox=outbox),
        )
    finally:
        await engine.dispose()


async def test_only_the_declared_sender_is_heard_when_trusted_senders_only(
    unit: UnitOfWork,
) -> None:
    seen: list[str] = []

    async def on_submitted(submitted: RegistrationSubmitted, event: EventContext) -> None:
        seen.append(event.envelope.source)

    handle = (
        Subscriptions(consumer="test.submissions", unit=unit, trusted_senders_only=True)
        .on(RegistrationSubmitted, on_submitted)
        .handlers()[RegistrationSubmitted.event_type]
    )
    forged = submitted_envelope().model_copy(update={"source": "/dealreg/crm_sync"})
    with pytest.raises(UntrustedSourceError, match="only /dealreg/deal_registration"):
        await handle(forged)
    async with unit.transactions.transaction() as session:
        assert (await session.execute(select(inbox))).all() == []

    genuine = submitted_envelope().model_copy(
        update={"id": "e-genuine", "source": "/dealreg/deal_registration"}
    )
    await handle(genuine)
    assert seen == ["/dealreg/deal_registration"]


async def test_without_the_switch_any_source_is_heard(unit: UnitOfWork) -> None:
    seen: list[str] = []

    async def on_submitted(submitted: RegistrationSubmitted, event: EventContext) -> None:
        seen.append(event.envelope.source)

    handle = (
        Subscriptions(consumer="test.submissions", unit=unit)
        .on(RegistrationSubmitted, on_submitted)
        .handlers()[RegistrationSubmitted.event_type]
    )
    await handle(submitted_envelope().model_copy(update={"source": "/elsewhere"}))
    assert seen == ["/elsewhere"]
