"""The typed event runtime: what a service consumes, declared in one block, and how it emits.

A service binds its source once (:class:`Emitter`) and declares its subscriptions::

    decisions = Subscriptions(consumer="deal_registration.decisions", unit=unit)
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
then poison, dead-lettered before anything is applied (``services.kafka.sources``). One consumer
group that reads a control topic beside others says so per payload type instead
(``.on(OpsKeyIssued, handler, trusted_senders_only=True)``).

The inbox records each event under the block's consumer name, unless a route names its own
(``inbox_consumer=...``): a group merged from several keeps their historical inbox names, so
events processed before the merge are still recognised. A handler that must act once its
effects are committed (wake a worker) registers that with ``EventContext.after_commit``.

A block declared with ``batched=True`` also hands the consumer a batch handler: a partition's
run of events is applied in one transaction (one inbox statement claims them all; each new
event goes to its handler in order, with its own :class:`EventContext` on the shared session;
then what the handlers left for ``before_commit``; one commit). The handlers are the same; a
batch that fails is retried by the consumer one event at a time through the per-event path
(``services.kafka.consumer``), so poison and transient faults mean what they mean without
batches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.envelope import EventEnvelope, EventPayload, new_envelope
from schemas.topics import topic_for
from services.clock import Clock, new_id
from services.inbox import claim_event, claim_events
from services.kafka.consumer import BatchHandler, EventHandler, PoisonEventError
from services.kafka.sources import check_source
from services.outbox import defer_staging, stage_events, write_deferred
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
    # The events of the batch this one is applied with, in the same transaction (empty when
    # applied alone): a handler may read what all of them need in one statement.
    batch: tuple[EventEnvelope[Any], ...] = ()
    _after_commit: list[Callable[[], None]] = field(default_factory=list, repr=False)
    _before_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list, repr=False)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the handler's transaction committed (not if it rolled back)."""
        self._after_commit.append(callback)

    def before_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Await ``callback`` in the handler's transaction once the handler (in a batch: every
        handler of the batch) has run, before the commit: writes gathered over a batch go in
        one statement."""
        self._before_commit.append(callback)

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
    inbox_consumer: str
    trusted_senders_only: bool


class Subscriptions:
    """One consumer group: which payload type goes to which handler."""

    def __init__(
        self,
        *,
        consumer: str,
        unit: UnitOfWork,
        trusted_senders_only: bool = False,
        batched: bool = False,
    ) -> None:
        self.consumer = consumer
        self._unit = unit
        self.trusted_senders_only = trusted_senders_only
        self.batched = batched
        self._routes: dict[str, _Route[Any]] = {}

    def on(
        self,
        payload_type: type[PayloadT],
        handler: TypedHandler[PayloadT],
        *,
        inbox_consumer: str | None = None,
        trusted_senders_only: bool = False,
    ) -> Subscriptions:
        """Route ``payload_type`` to ``handler``; its inbox rows go under ``inbox_consumer``
        (default: the block's consumer), and ``trusted_senders_only`` checks its sender even
        when the block does not."""
        if payload_type.event_type in self._routes:
            raise ValueError(f"{payload_type.event_type} already has a handler in {self.consumer}")
        topic_for(payload_type)  # every payload type lives on exactly one declared topic
        self._routes[payload_type.event_type] = _Route(
            payload_type,
            handler,
            inbox_consumer=inbox_consumer or self.consumer,
            trusted_senders_only=trusted_senders_only or self.trusted_senders_only,
        )
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

    def batch_handler(self) -> BatchHandler | None:
        """For a ``batched`` block: the handler that applies a run of events in one
        transaction (None otherwise)."""
        if not self.batched:
            return None
        unit, routes = self._unit, self._routes

        async def handle_batch(envelopes: list[EventEnvelope[Any]]) -> None:
            routed = [(envelope, routes[envelope.type]) for envelope in envelopes]
            for envelope, route in routed:
                _check(envelope, route)
            async with unit.transactions.transaction() as session:
                new = await claim_events(
                    session,
                    unit.inbox,
                    [
                        (route.inbox_consumer, envelope.id, envelope.type)
                        for envelope, route in routed
                    ],
                    now=unit.clock.now(),
                )
                defer_staging(session)  # the batch's events go to the outbox in one statement
                contexts: list[EventContext] = []
                batch = tuple(envelope for envelope, _ in routed)
                for envelope, route in routed:
                    claim = (route.inbox_consumer, envelope.id)
                    if claim not in new:
                        continue  # redelivered (applied once already), or twice in this batch
                    new.discard(claim)
                    context = EventContext(
                        session=session,
                        now=unit.clock.now(),
                        cause=Cause(envelope.id, envelope.correlationid),
                        envelope=envelope,
                        emitter=unit.emitter,
                        batch=batch,
                    )
                    with structlog.contextvars.bound_contextvars(
                        correlation_id=envelope.correlationid,
                        event_id=envelope.id,
                        event_type=envelope.type,
                    ):
                        await route.handler(envelope.data, context)
                    contexts.append(context)
                for context in contexts:
                    for flush in context._before_commit:
                        await flush()
                await write_deferred(session)  # after the flushes: they may stage events
            for context in contexts:
                for callback in context._after_commit:
                    callback()

        return handle_batch

    def _bind(self, route: _Route[Any]) -> EventHandler:
        unit = self._unit

        async def handle(envelope: EventEnvelope[Any]) -> None:
            _check(envelope, route)
            now = unit.clock.now()
            async with unit.transactions.transaction() as session:
                claimed = await claim_event(
                    session,
                    unit.inbox,
                    consumer=route.inbox_consumer,
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
                for flush in context._before_commit:
                    await flush()
            for callback in context._after_commit:
                callback()

        return handle


def _check(envelope: EventEnvelope[Any], route: _Route[Any]) -> None:
    """Poison unless the payload is of the route's type (and, where asked, from its sender)."""
    if not isinstance(envelope.data, route.payload_type):
        raise PoisonEventError(f"expected {route.payload_type.event_type}, got {envelope.type}")
    if route.trusted_senders_only:
        check_source(envelope, route.payload_type)
