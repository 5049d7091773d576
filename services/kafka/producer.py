"""The idempotent Kafka producer (acks=all) that the outbox relay publishes through."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.envelope import EventEnvelope, encode_event
from services.kafka.clients import start_or_stop
from services.tracing import inject_record_headers


class KafkaEventPublisher:
    """Implements ``services.outbox.EventPublisher`` on aiokafka.

    Idempotence keeps per-partition order across the producer's own retries, so one account's
    events reach the topic in the order the outbox holds them.
    """

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        client_id: str,
        topic_prefix: str = "",
        security: Mapping[str, Any] | None = None,
    ) -> None:
        """``security``: :func:`services.kafka.security.client_options` (none: PLAINTEXT)."""
        self._topic_prefix = topic_prefix
        self._security = dict(security or {})
        self._bootstrap_servers = bootstrap_servers
        self._client_id = client_id
        self._started: AIOKafkaProducer | None = None

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap_servers,
            client_id=self._client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            request_timeout_ms=15_000,
            **self._security,
        )
        await start_or_stop(producer.start, producer.stop)
        self._started = producer

    async def stop(self) -> None:
        if self._started is not None:
            await self._started.stop()
            self._started = None

    @property
    def _producer(self) -> AIOKafkaProducer:
        if self._started is None:
            raise RuntimeError("the Kafka producer is not started")
        return self._started

    async def publish(
        self,
        topic: str,
        envelopes: Sequence[EventEnvelope[Any]],
        *,
        traceparents: Sequence[str | None] = (),
    ) -> None:
        """Send and wait for every acknowledgement. Each record carries W3C ``traceparent``
        (``traceparents[i]``, else the active span's) beside the CloudEvents headers."""
        deliveries = []
        for index, envelope in enumerate(envelopes):
            key, value, headers = encode_event(envelope)
            stored = traceparents[index] if index < len(traceparents) else None
            headers = inject_record_headers(headers, stored)
            deliveries.append(
                await self._producer.send(
                    self._topic_prefix + topic, value=value, key=key, headers=headers
                )
            )
        await asyncio.gather(*deliveries)

    async def send_raw(
        self,
        topic: str,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
    ) -> None:
        """Send a record as it is (dead letters keep the original bytes)."""
        await self._producer.send_and_wait(
            self._topic_prefix + topic, value=value, key=key, headers=headers
        )

    async def partitions_for(self, topic: str) -> set[int]:
        return set(await self._producer.partitions_for(self._topic_prefix + topic))
