"""The composition of one service process: engine, outbox relay, producer and consumers.

A service's ``create_app`` builds a :class:`ServiceRuntime` inside the FastAPI lifespan, adds
its consumers, and starts it. Nothing here connects at import time. Background tasks are
supervised: one that fails is logged and restarted with backoff, and readiness reports it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping

import structlog
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import AsyncRetrying, stop_after_delay, wait_exponential

from services.clock import Clock
from services.db import SessionFactory, create_engine, create_session_factory
from services.http.health import ReadinessCheck
from services.kafka.admin import ensure_topics
from services.kafka.consumer import EventHandler, KafkaEventConsumer
from services.kafka.producer import KafkaEventPublisher
from services.logging import configure_logging
from services.outbox import OutboxRelay
from services.settings import ServiceSettings
from services.uow import TransactionRunner

log = structlog.get_logger(__name__)


class ServiceRuntime:
    def __init__(self, *, settings: ServiceSettings, outbox: Table, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        configure_logging(
            service=settings.service_name, level=settings.log_level, as_json=settings.log_json
        )
        self.engine: AsyncEngine = create_engine(settings.database.url, echo=settings.database.echo)
        self.sessions: SessionFactory = create_session_factory(self.engine)
        self.publisher = KafkaEventPublisher(
            bootstrap_servers=settings.kafka.bootstrap_servers,
            client_id=f"{settings.kafka.client_id_prefix}-{settings.service_name}",
            topic_prefix=settings.kafka.topic_prefix,
        )
        self.relay = OutboxRelay(
            engine=self.engine,
            outbox=outbox,
            publisher=self.publisher,
            clock=clock,
            poll_interval_seconds=settings.outbox.poll_interval_seconds,
            batch_size=settings.outbox.batch_size,
        )
        self.transactions = TransactionRunner(self.sessions, self.relay.wake)
        self._consumer_specs: list[tuple[str, list[str], Mapping[str, EventHandler]]] = []
        self.consumers: dict[str, KafkaEventConsumer] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def add_consumer(
        self, *, group_id: str, topics: list[str], handlers: Mapping[str, EventHandler]
    ) -> None:
        self._consumer_specs.append((group_id, topics, handlers))

    def add_background(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run ``job`` for the life of the process, restarting it if it fails."""
        self._tasks.append(asyncio.create_task(self._supervise(name, job), name=name))

    async def start(self) -> None:
        kafka = self.settings.kafka
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(60), wait=wait_exponential(max=5), reraise=True
        ):
            with attempt:
                if kafka.create_topics:
                    await ensure_topics(kafka.bootstrap_servers, prefix=kafka.topic_prefix)
                await self.publisher.start()
        self.add_background("outbox-relay", self.relay.run)
        for group_id, topics, handlers in self._consumer_specs:
            self.add_background(
                f"consumer:{group_id}", self._consumer_job(group_id, topics, handlers)
            )

    def _consumer_job(
        self, group_id: str, topics: list[str], handlers: Mapping[str, EventHandler]
    ) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            consumer = KafkaEventConsumer(
                group_id=group_id,
                topics=topics,
                handlers=handlers,
                bootstrap_servers=self.settings.kafka.bootstrap_servers,
                dead_letters=self.publisher,
                topic_prefix=self.settings.kafka.topic_prefix,
                retry_initial_seconds=self.settings.kafka.consumer_retry_initial_seconds,
                retry_max_seconds=self.settings.kafka.consumer_retry_max_seconds,
            )
            self.consumers[group_id] = consumer
            await consumer.run()

        return job

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.publisher.stop()
        await self.engine.dispose()

    async def _supervise(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        delay = 0.5
        while True:
            try:
                await job()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task failed; restarting", task=name, delay=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        async def database() -> bool:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            return True

        async def kafka() -> bool:
            return bool(await self.publisher.partitions_for("dealreg.registrations"))

        async def consumers() -> bool:
            return len(self.consumers) == len(self._consumer_specs) and all(
                consumer.running for consumer in self.consumers.values()
            )

        return {"database": database, "kafka": kafka, "consumers": consumers}
