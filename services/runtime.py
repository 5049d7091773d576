"""The composition of one service process: engine, outbox relay, producer and consumers.

A service's ``create_app`` builds a :class:`ServiceRuntime` inside the FastAPI lifespan, adds
its consumers, and starts it. Nothing here connects at import time. Background tasks are
supervised: one that fails is logged and restarted with backoff, and readiness reports it.

Starting never waits for the brokers: the HTTP server answers at once (``/healthz`` 200,
``/readyz`` 503 naming Kafka) while a background job creates the topics and starts the producer,
retrying for as long as it takes; the outbox relay and the consumers start once it succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import structlog
from sqlalchemy import Table, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import AsyncRetrying, RetryCallState, wait_exponential

from services.clock import Clock
from services.db import (
    DatabaseTimeouts,
    SessionFactory,
    create_engine,
    create_session_factory,
    read_only_connection,
)
from services.events import Subscriptions
from services.http.health import CheckResult, ReadinessCheck
from services.kafka.admin import ensure_topics
from services.kafka.consumer import BatchHandler, EventHandler, KafkaEventConsumer
from services.kafka.probe import BrokerProbe
from services.kafka.producer import KafkaEventPublisher
from services.kafka.security import client_options
from services.logging import configure_logging
from services.malloc_arenas import limit_malloc_arenas
from services.outbox import OutboxRelay
from services.retention import Pruner, PruneRule
from services.settings import DatabaseSettings, ServiceSettings
from services.tracing import configure_tracing, shutdown_tracing
from services.uow import TransactionRunner

log = structlog.get_logger(__name__)

# A background job that ran this long before failing starts again from the shortest backoff.
_HEALTHY_RUN_SECONDS = 60.0
# Restarts stay frequent enough that a job resumes within seconds of its dependency returning.
_MAX_RESTART_DELAY_SECONDS = 5.0


def database_timeouts(settings: DatabaseSettings) -> DatabaseTimeouts:
    return DatabaseTimeouts(
        connect=settings.connect_timeout_seconds,
        pool=settings.pool_timeout_seconds,
        statement=settings.statement_timeout_seconds,
        sqlite_busy=settings.sqlite_busy_timeout_seconds,
    )


class ServiceRuntime:
    def __init__(self, *, settings: ServiceSettings, outbox: Table, clock: Clock) -> None:
        # Before the first database connection starts its thread (and the tracing exporter
        # its own): each would otherwise get a malloc arena of its own (services.malloc_arenas).
        limit_malloc_arenas()
        self.settings = settings
        self.clock = clock
        configure_logging(
            service=settings.service_name, level=settings.log_level, as_json=settings.log_json
        )
        configure_tracing(service=settings.service_name, endpoint=settings.otlp_endpoint)
        self.engine: AsyncEngine = create_engine(
            settings.database.url,
            echo=settings.database.echo,
            timeouts=database_timeouts(settings.database),
        )
        self.sessions: SessionFactory = create_session_factory(self.engine)
        client_id = f"{settings.kafka.client_id_prefix}-{settings.service_name}"
        self.kafka_security = client_options(settings.kafka)
        self.publisher = KafkaEventPublisher(
            bootstrap_servers=settings.kafka.bootstrap_servers,
            client_id=client_id,
            topic_prefix=settings.kafka.topic_prefix,
            security=self.kafka_security,
        )
        self.broker_probe = BrokerProbe(
            bootstrap_servers=settings.kafka.bootstrap_servers,
            client_id=f"{client_id}-probe",
            timeout_seconds=settings.health.probe_timeout_seconds,
            cache_seconds=settings.health.kafka_cache_seconds,
            security=self.kafka_security,
        )
        self._outbox = outbox
        self.relay = OutboxRelay(
            engine=self.engine,
            outbox=outbox,
            publisher=self.publisher,
            clock=clock,
            poll_interval_seconds=settings.outbox.poll_interval_seconds,
            batch_size=settings.outbox.batch_size,
        )
        self.transactions = TransactionRunner(
            self.sessions,
            self.relay.wake,
            sqlite_writer_wait=settings.database.sqlite_busy_timeout_seconds,
        )
        self._consumer_specs: list[
            tuple[str, list[str], Mapping[str, EventHandler], BatchHandler | None]
        ] = []
        self.consumers: dict[str, KafkaEventConsumer] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.kafka_connected = False

    def add_consumer(
        self,
        *,
        group_id: str,
        topics: list[str],
        handlers: Mapping[str, EventHandler],
        batch_handler: BatchHandler | None = None,
    ) -> None:
        self._consumer_specs.append((group_id, topics, handlers, batch_handler))

    def subscribe(self, subscriptions: Subscriptions) -> None:
        """One consumer group for a typed subscription block (``services.events``)."""
        self.add_consumer(
            group_id=subscriptions.consumer,
            topics=subscriptions.topics,
            handlers=subscriptions.handlers(),
            batch_handler=subscriptions.batch_handler(),
        )

    def add_background(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run ``job`` for the life of the process, restarting it if it fails."""
        if self._stopping:
            return
        self._tasks.append(asyncio.create_task(self._supervise(name, job), name=name))

    def add_retention(self, rules: Sequence[PruneRule]) -> None:
        """Prune old bookkeeping rows on the ``DEALREG_RETENTION_*`` schedule."""
        retention = self.settings.retention
        pruner = Pruner(
            transactions=self.transactions,
            clock=self.clock,
            rules=rules,
            batch_size=retention.batch_size,
            interval_seconds=retention.interval_seconds,
        )
        self.add_background("retention", pruner.run)

    async def start(self) -> None:
        """Return at once; the brokers are reached in the background (see the module doc)."""
        self.add_background("kafka-connect", self._connect_then_relay_and_consume)

    async def _connect_then_relay_and_consume(self) -> None:
        kafka = self.settings.kafka
        async for attempt in AsyncRetrying(
            wait=wait_exponential(max=5), before_sleep=_log_broker_retry
        ):
            with attempt:
                if kafka.create_topics:
                    await ensure_topics(
                        kafka.bootstrap_servers,
                        prefix=kafka.topic_prefix,
                        replication_factor=kafka.replication_factor,
                        min_insync_replicas=kafka.min_insync_replicas,
                        security=self.kafka_security,
                    )
                await self.publisher.start()
        self.kafka_connected = True
        log.info("connected to the brokers; starting the outbox relay and the consumers")
        self.add_background("outbox-relay", self.relay.run)
        for group_id, topics, handlers, batch_handler in self._consumer_specs:
            self.add_background(
                f"consumer:{group_id}",
                self._consumer_job(group_id, topics, handlers, batch_handler),
            )

    def _consumer_job(
        self,
        group_id: str,
        topics: list[str],
        handlers: Mapping[str, EventHandler],
        batch_handler: BatchHandler | None = None,
    ) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            consumer = KafkaEventConsumer(
                group_id=group_id,
                topics=topics,
                handlers=handlers,
                batch_handler=batch_handler,
                bootstrap_servers=self.settings.kafka.bootstrap_servers,
                dead_letters=self.publisher,
                topic_prefix=self.settings.kafka.topic_prefix,
                retry_initial_seconds=self.settings.kafka.consumer_retry_initial_seconds,
                retry_max_seconds=self.settings.kafka.consumer_retry_max_seconds,
                security=self.kafka_security,
                group_instance_id=self.settings.kafka.group_instance_id,
            )
            self.consumers[group_id] = consumer
            await consumer.run()

        return job

    async def stop(self) -> None:
        self._stopping = True
        while self._tasks:
            tasks, self._tasks = self._tasks, []
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(Exception):
            await self.publisher.stop()
        await self.engine.dispose()
        await asyncio.to_thread(shutdown_tracing)

    async def _supervise(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        delay = 0.5
        while True:
            started = time.monotonic()
            try:
                await job()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                if time.monotonic() - started >= _HEALTHY_RUN_SECONDS:
                    delay = 0.5
                log.exception("background task failed; restarting", task=name, delay=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_RESTART_DELAY_SECONDS)

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        """What ``/readyz`` asks: each check answers ``ok`` and a detail for operators."""
        return {
            "database": self._database_ready,
            "kafka": self._kafka_ready,
            "outbox": self._outbox_ready,
            "consumers": self._consumers_ready,
        }

    async def _database_ready(self) -> CheckResult:
        async with asyncio.timeout(self.settings.health.probe_timeout_seconds):
            async with read_only_connection(self.engine) as connection:
                await connection.execute(text("SELECT 1"))
        return CheckResult(True, "SELECT 1 answered")

    async def _kafka_ready(self) -> CheckResult:
        reachable, detail = await self.broker_probe.reachable()
        if reachable and not self.kafka_connected:
            return CheckResult(False, f"{detail}; the producer is still starting")
        return CheckResult(reachable, detail)

    async def _outbox_ready(self) -> CheckResult:
        """Not ready when the oldest unpublished event waited past the threshold."""
        async with asyncio.timeout(self.settings.health.probe_timeout_seconds):
            async with read_only_connection(self.engine) as connection:
                oldest = (
                    await connection.execute(
                        select(self._outbox.c.created_at)
                        .where(self._outbox.c.published_at.is_(None))
                        .order_by(self._outbox.c.id)
                        .limit(1)
                    )
                ).scalar_one_or_none()
        age = 0.0 if oldest is None else (self.clock.now() - oldest).total_seconds()
        threshold = self.settings.outbox.max_unpublished_age_seconds
        return CheckResult(
            age <= threshold,
            {
                "oldest_unpublished_age_seconds": round(age, 3),
                "max_age_seconds": threshold,
                # False on a standby instance too (another instance's relay holds the lock).
                "relay_running": self.relay.running,
            },
        )

    async def _consumers_ready(self) -> CheckResult:
        """Every consumer running and no partition paused on a failing record."""
        details: dict[str, Any] = {}
        ready = True
        for group_id, *_rest in self._consumer_specs:
            consumer = self.consumers.get(group_id)
            running = consumer is not None and bool(consumer.running)
            paused = consumer.paused_partitions() if consumer is not None else {}
            details[group_id] = {"running": running, "paused": paused}
            ready = ready and running and not paused
        return CheckResult(ready, details)


def _log_broker_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    log.warning(
        "brokers not reachable yet; retrying", attempt=state.attempt_number, error=repr(error)
    )
