"""Feed approvals straight to Kafka and read crm_sync's events back, for the CRM tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.envelope import EventEnvelope, decode_event, new_envelope
from schemas.registration import (
    AmountData,
    CustomerData,
    RegistrationApproved,
    RegistrationSummary,
    RegistrationWithdrawn,
)
from schemas.review import RegistrationAmended
from services.kafka.producer import KafkaEventPublisher


def approval(index: int, *, domain: str | None = None) -> EventEnvelope[Any]:
    registration_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    domain = domain or f"customer{index}.example"
    payload = RegistrationApproved(
        registration_id=registration_id,
        account_key=f"d:{domain}",
        product_line="network-security",
        decided_at=now,
        protection_expires_at=now + timedelta(days=90),
        policy_version=1,
        rule="FIRST_TO_REGISTER",
        reason="approved",
        registration=RegistrationSummary(
            partner_id="partner-1",
            partner_name="Northwind Networks",
            customer=CustomerData(name=f"Customer {index}", domain=domain, country="US"),
            product_line="network-security",
            deal_type="new",
            amount=AmountData(value=Decimal("125000.00"), currency="USD"),
            expected_close_date=date.today() + timedelta(days=120),  # noqa: DTZ011
            submitted_at=now,
        ),
    )
    return new_envelope(
        payload,
        event_id=str(uuid.uuid4()),
        source="/tests",
        subject=registration_id,
        time=now,
        correlation_id=registration_id,
        causation_id=None,
        partition_key=payload.account_key,
    )


def withdrawal(approved: EventEnvelope[Any]) -> EventEnvelope[Any]:
    """The partner withdraws the registration ``approved`` approved (on dealreg.registrations)."""
    now = datetime.now(UTC)
    payload = RegistrationWithdrawn(
        registration_id=approved.data.registration_id,
        account_key=approved.data.account_key,
        product_line=approved.data.product_line,
        withdrawn_at=now,
        previous_status="approved",
    )
    return new_envelope(
        payload,
        event_id=str(uuid.uuid4()),
        source="/tests",
        subject=approved.subject,
        time=now,
        correlation_id=approved.correlationid,
        causation_id=None,
        partition_key=payload.account_key,
    )


def amendment(approved: EventEnvelope[Any], value: str) -> EventEnvelope[Any]:
    """The partner amended ``approved``'s amount and close date (on dealreg.registrations)."""
    now = datetime.now(UTC)
    payload = RegistrationAmended(
        registration_id=approved.data.registration_id,
        account_key=approved.data.account_key,
        product_line=approved.data.product_line,
        amended_at=now,
        changed_fields=("amount", "expected_close_date"),
        amount=AmountData(value=Decimal(value), currency="EUR"),
        expected_close_date=date(2027, 3, 31),
    )
    return new_envelope(
        payload,
        event_id=str(uuid.uuid4()),
        source="/tests",
        subject=payload.registration_id,
        time=now,
        correlation_id=payload.registration_id,
        causation_id=None,
        partition_key=payload.account_key,
    )


async def publish(
    bootstrap: str, prefix: str, topic: str, envelopes: list[EventEnvelope[Any]]
) -> None:
    publisher = KafkaEventPublisher(
        bootstrap_servers=bootstrap, client_id="tests", topic_prefix=prefix
    )
    await publisher.start()
    try:
        for start in range(0, len(envelopes), 200):
            await publisher.publish(topic, envelopes[start : start + 200])
    finally:
        await publisher.stop()


class EventTail:
    """Reads a topic from the beginning and keeps every decoded event."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self.events: list[EventEnvelope[Any]] = []

    async def __aenter__(self) -> EventTail:
        await self._consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()

    async def poll(self) -> None:
        batches = await self._consumer.getmany(timeout_ms=100)
        for records in batches.values():
            for record in records:
                self.events.append(decode_event(record.value, list(record.headers)))

    async def wait_for(self, predicate: Any, timeout: float) -> EventEnvelope[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if predicate(event):
                    return event
            await self.poll()
        raise TimeoutError("no matching event")

    def of_type(self, event_type: str) -> list[EventEnvelope[Any]]:
        return [e for e in self.events if e.type == event_type]


async def wait_until(check: Any, timeout: float, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(interval)


async def consumed_by_some_group(bootstrap: str, topic: str, group_prefix: str) -> bool:
    """Whether some consumer group named ``group_prefix...`` has committed the whole topic.

    What a test waits for before publishing the next event, when it needs the service to have
    *processed* an event first (not merely received it).
    """
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await reader.start()
    await admin.start()
    try:
        await reader.topics()  # fetches the cluster's metadata
        partitions = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic) or []]
        ends = await reader.end_offsets(partitions)
        for group in await admin.list_consumer_groups():
            if not str(group[0]).startswith(group_prefix):
                continue
            committed = await admin.list_consumer_group_offsets(group[0], partitions=partitions)
            if all(
                committed.get(tp) is not None and committed[tp].offset >= end
                for tp, end in ends.items()
            ):
                return True
        return False
    finally:
        await admin.close()
        await reader.stop()


async def wait_until_async(check: Any, timeout: float, interval: float = 0.2) -> Any:
    """``wait_until`` for a check that is a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(interval)
