"""Helpers for the conflict resolver's tests: events as deal_registration and crm_sync send
them, a clock tests move by hand, and the decisions a resolver database recorded."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine

from conflict_resolver import handlers
from conflict_resolver.adapters.tables import claims, outbox
from conflict_resolver.domain.policy import DEFAULT_POLICY
from schemas.accounts import account_key
from schemas.envelope import EventEnvelope, EventPayload, new_envelope
from schemas.flows import sender_source
from schemas.registration import (
    AmountData,
    CustomerData,
    PartnerSnapshot,
    RegistrationSubmitted,
)
from services.clock import new_id
from services.db import create_session_factory
from services.uow import TransactionRunner

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
_SEQ = itertools.count(1)


class HandClock:
    """A clock that moves only when a test says so."""

    def __init__(self, now: datetime = START) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


async def deliver(ctx: handlers.Context, envelope: EventEnvelope[Any]) -> None:
    """Apply one event as the resolver's consumers do (``app.subscriptions``): the handler its
    payload type is declared for, once per event id (the inbox), in one transaction."""
    from conflict_resolver.app import subscriptions, unit_of_work

    routes = {
        event_type: handler
        for subscription in subscriptions(unit_of_work(ctx))
        for event_type, handler in subscription.handlers().items()
    }
    await routes[envelope.type](envelope)


async def deliver_batch(ctx: handlers.Context, envelopes: list[EventEnvelope[Any]]) -> None:
    """Apply a partition's run of registration events as the resolver's batched consumer does
    (one transaction, the inbox claiming them all)."""
    from conflict_resolver.app import subscriptions, unit_of_work

    [batch] = [
        handler
        for subscription in subscriptions(unit_of_work(ctx))
        if (handler := subscription.batch_handler()) is not None
    ]
    await batch(envelopes)


def resolver_context(engine: AsyncEngine, clock: Any) -> handlers.Context:
    return handlers.Context(
        transactions=TransactionRunner(create_session_factory(engine), None),
        clock=clock,
        policy=DEFAULT_POLICY,
    )


def submitted(
    *,
    partner: str,
    name: str = "Acme Corporation",
    domain: str | None = "acme.com",
    country: str = "US",
    product_line: str = "network-security",
    seq: int | None = None,
    deal_type: str = "new",
    amount: str = "25000",
    tier: str = "silver",
    expected_close_date: date = date(2027, 6, 30),
    registration_id: str | None = None,
    role: str = "sourced",
) -> EventEnvelope[Any]:
    """A ``registration.submitted`` envelope as deal_registration would send it."""
    key = account_key(name=name, domain=domain, country=country)
    payload = RegistrationSubmitted(
        registration_id=registration_id or new_id(),
        submission_seq=seq if seq is not None else next(_SEQ),
        submitted_at=START,
        partner=PartnerSnapshot(
            id=partner,
            name=f"Partner {partner}",
            tier=tier,  # type: ignore[arg-type]
            status="active",
            product_lines=(product_line,),
        ),
        customer=CustomerData(name=name, domain=domain, country=country),
        account_key=key,
        product_line=product_line,
        deal_type=deal_type,  # type: ignore[arg-type]
        amount=AmountData(value=Decimal(amount), currency="USD"),
        expected_close_date=expected_close_date,
        role=role,  # type: ignore[arg-type]
    )
    return envelope_of(payload, key=key, subject=payload.registration_id)


def envelope_of(payload: EventPayload, *, key: str, subject: str) -> EventEnvelope[Any]:
    return new_envelope(
        payload,
        event_id=new_id(),
        source=sender_source(type(payload)),  # as its owner would (control topics check it)
        subject=subject,
        time=START,
        correlation_id=new_id(),
        causation_id=None,
        partition_key=key,
    )


async def with_retries(call: Any, attempts: int = 20) -> None:
    """What the consumer does: a transaction that lost a race (key, deadlock) or waited too
    long for a pooled connection (a hundred at once on a pool of twenty) is retried."""
    for attempt in range(attempts):
        try:
            await call()
            return
        except (IntegrityError, DBAPIError, PoolTimeoutError):
            if attempt == attempts - 1:
                raise


@dataclass(frozen=True)
class Recorded:
    status: str
    decision: str | None
    reason_code: str | None
    rule: str | None
    protection_key: str | None
    evidence: dict[str, Any] | None


async def recorded(engine: AsyncEngine) -> dict[str, Recorded]:
    """Each registration's claim, by registration id."""
    async with engine.connect() as connection:
        rows = (await connection.execute(select(claims))).mappings().all()
    return {
        row["registration_id"]: Recorded(
            row["status"],
            row["decision"],
            row["reason_code"],
            row["rule"],
            row["protection_key"],
            row["evidence"],
        )
        for row in rows
    }


async def outbox_events(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Events the resolver staged, oldest first, as (type, data) dicts."""
    async with engine.connect() as connection:
        rows = (await connection.execute(select(outbox).order_by(outbox.c.id))).mappings().all()
    return [{"type": row["event_type"], **row["envelope"]["data"]} for row in rows]


# --- Resolver processes in this test process -------------------------------------------------


class ResolverInstance:
    """One resolver (create_app + lifespan) on a database and a topic prefix."""

    def __init__(
        self, *, database_url: str, bootstrap: str, topic_prefix: str, admin_token: str
    ) -> None:
        from asgi_lifespan import LifespanManager

        from conflict_resolver.app import create_app
        from conflict_resolver.settings import ResolverSettings
        from services.settings import (
            DatabaseSettings,
            KafkaSettings,
            OutboxSettings,
            SecuritySettings,
        )

        settings = ResolverSettings(
            database=DatabaseSettings(url=database_url),
            kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=topic_prefix),
            outbox=OutboxSettings(poll_interval_seconds=0.05),
            security=SecuritySettings(admin_token=admin_token, env="test"),
            expiry_interval_seconds=0.2,
            log_json=False,
            log_level="WARNING",
        )
        self.app = create_app(settings)
        self._manager = LifespanManager(self.app, startup_timeout=60, shutdown_timeout=30)

    async def __aenter__(self) -> ResolverInstance:
        await self._manager.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._manager.__aexit__(None, None, None)

    def assigned_partitions(self) -> set[int]:
        """The registrations-topic partitions this instance consumes now."""
        consumers = self.app.state.runtime.consumers
        consumer = consumers.get(handlers.SUBMISSIONS_CONSUMER)
        if consumer is None:
            return set()
        return {tp.partition for tp in consumer._consumer.assignment()}


async def wait_decided(
    engine: AsyncEngine, registration_ids: set[str], *, within: float = 90
) -> dict[str, Recorded]:
    """Poll the resolver's database until every registration has a decision."""
    import time

    deadline = time.monotonic() + within
    while True:
        claims_now = await recorded(engine)
        done = {rid for rid, claim in claims_now.items() if claim.decision is not None}
        if registration_ids <= done or time.monotonic() > deadline:
            return claims_now
        await asyncio.sleep(0.2)
