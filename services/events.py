"""The typed event runtime: what a service consumes, declared in one block, and how it emits.

A service binds its source once (:class:`Emitter`) and declares its subscriptions::

    decisions = Subscriptions(consumer="deal_registration.decisions", runtime=unit)
    decisions.on(RegistrationApproved, apply_decision)
    decisions.on(RegistrationRejected, apply_decision)
    runtime.subscribe(decisions)

For each record the runtime decodes the envelope, checks that the payload is of the type the
handler was declared for (else a poison event), opens one transaction, claims the inbox row
(a redelivered event does nothing), and calls the handler with the typed payload and an
:class:`EventContext`: the session, the time, the cause, and ``emit(...)``, which stages events
in the same transaction through the outbox. The topics a subscription reads follow from the
payload types (``schemas.topics``), so nothing is keyed by hand-typed strings.

A block that takes commands from a control topic is declared with ``trusted_senders_only=True``:
an event whose CloudEvents source is not a service ``schemas.flows`` declares as its sender is
then poison, dead-lettered before anything is applied (``services.kafka.sources``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.envelope import EventEnvelope, EventPayload, new_envelope
from schemas.topics import topic_for
from services.clock import Clock, new_id
from services.inbox import claim_event
from services.kafka.consumer import EventHandler, PoisonEventError
from services.kafka.sources import check_source
from services.outbox import stage_events
from services.uow import TransactionRunner

PayloadT = TypeVar("PayloadT", bound=EventPayload)


@dataclass(frozen=True)
class Cause:
    """What caused a change: the event (causation) and the registration's correlation."""

    event_id: str | None
    correlation_id: str


@dataclass(frozen=True)
class Emitter:
    """Envelopes a service's events with its source (bound once) and stages them."""

    source: str
    outbox: Table

    def envelope(
        self,
        payload: EventPayload,
        *,
        subject: str,
        partition_key: str,
        cause: Cause,
        time: datetime,
    ) -> EventEnvelope[Any]:
        return new_envelope(
            payload,
            event_id=new_id(),
            source=self.source,
            subject=subject,
            time=time,
            correlation_id=cause.correlation_id,
            causation_id=cause.event_id,
            partition_key=partition_key,
        )

    async def emit(
        self,
        session: AsyncSession,
        payload: EventPayload,
        *,
        subject: str,
        partition_key: str,
        cause: Cause,
        time: datetime,
    ) -> None:
        """Stage one event in the caller's transaction (it leaves through the outbox)."""
        envelope = self.envelope(
            payload, subject=subject, partition_key=partition_key, cause=cause, time=time
        )
        await stage_events(session, self.outbox, [envelope], now=time)


@dataclass(frozen=True)
class EventContext:
    """What a consumer handler gets besides its payload."""

    session: AsyncSession
    now: datetime
    cause: Cause
    envelope: EventEnvelope[Any]
    emitter: Emitter

    async def emit(self, payload: EventPayload, *, subject: str, partition_key: str) -> None:
        await self.emitter.emit(
            self.session,
            payload,
            subject=subject,
            partition_key=partition_key,
            cause=self.cause,
            time=self.now,
        )


@dataclass(frozen=True)
class UnitOfWork:
    """The service-wide parts every subscription shares."""

    transactions: TransactionRunner
    clock: Clock
    inbox: Table
    emitter: Emitter


TypedHandler = Callable[[PayloadT, EventContext], Awaitable[None]]


@dataclass(frozen=True)
class _Route(Generic[PayloadT]):
    payload_type: type[PayloadT]
    handler: TypedHandler[PayloadT]


class Subscriptions:
    """One consumer group: which payload type goes to which handler."""

    def __init__(
        self, *, consumer: str, unit: UnitOfWork, trusted_senders_only: bool = False
    ) -> None:
        self.consumer = consumer
        self._unit = unit
        self.trusted_senders_only = trusted_senders_only
        self._routes: dict[str, _Route[Any]] = {}

    def on(self, payload_type: type[PayloadT], handler: TypedHandler[PayloadT]) -> Subscriptions:
        if payload_type.event_type in self._routes:
            raise ValueError(f"{payload_type.event_type} already has a handler in {self.consumer}")
        topic_for(payload_type)  # every payload type lives on exactly one declared topic
        self._routes[payload_type.event_type] = _Route(payload_type, handler)
        return self

    @property
    def topics(self) -> list[str]:
        return sorted({topic_for(route.payload_type).name for route in self._routes.values()})

    @property
    def payload_types(self) -> list[type[EventPayload]]:
        return [route.payload_type for route in self._routes.values()]

    def handlers(self) -> dict[str, EventHandler]:
        """The envelope handlers the Kafka consumer dispatches to, by event type."""
        return {event_type: self._bind(route) for event_type, route in self._routes.items()}

    def _bind(self, route: _Route[Any]) -> EventHandler:
        unit = self._unit
        consumer = self.consumer
        trusted_senders_only = self.trusted_senders_only

        async def handle(envelope: EventEnvelope[Any]) -> None:
            if not isinstance(envelope.data, route.payload_type):
                raise PoisonEventError(
                    f"expected {route.payload_type.event_type}, got {envelope.type}"
                )
            if trusted_senders_only:
                check_source(envelope, route.payload_type)
            now = unit.clock.now()
            async with unit.transactions.transaction() as session:
                claimed = await claim_event(
                    session,
                    unit.inbox,
                    consumer=consumer,
                    event_id=envelope.id,
                    event_type=envelope.type,
                    now=now,
                )
                if not claimed:
                    return  # redelivered: applied once already
                context = EventContext(
                    session=session,
                    now=now,
                    cause=Cause(envelope.id, envelope.correlationid),
                    envelope=envelope,
                    emitter=unit.emitter,
                )
                await route.handler(envelope.data, context)

        return handle
