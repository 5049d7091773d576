"""W3C trace context in Kafka record headers, the outbox and the log lines (services.tracing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from schemas.envelope import EventEnvelope, encode_event
from services.kafka.consumer import KafkaEventConsumer
from services.kafka.producer import KafkaEventPublisher
from services.outbox import OutboxRelay, stage_events
from services.tables import outbox_table
from services.tracing import (
    TRACEPARENT,
    configure_tracing,
    current_traceparent,
    extract_record_context,
    inject_record_headers,
    otlp_endpoint,
    span_continuing,
    tracer,
)
from tests.support.infra import ROOT
from tests.unit.test_envelope import submitted_envelope

REQUEST_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
REQUEST_SPAN = "00f067aa0ba902b7"
REQUEST_TRACEPARENT = f"00-{REQUEST_TRACE}-{REQUEST_SPAN}-01"
OTHER_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture(scope="module")
def exported() -> Iterator[InMemorySpanExporter]:
    """The process's tracer provider (no OTLP endpoint), with an in-memory exporter that
    stops keeping spans after this module (the provider is the process's for good)."""
    exporter = InMemorySpanExporter()
    configure_tracing(service="test").add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.clear()
    exporter.shutdown()


@pytest.fixture
def spans(exported: InMemorySpanExporter) -> InMemorySpanExporter:
    exported.clear()
    return exported


def _ids(traceparent: str) -> tuple[str, str]:
    _version, trace_id, span_id, _flags = traceparent.split("-")
    return trace_id, span_id


def test_a_stored_traceparent_goes_into_the_record_beside_the_cloudevents_headers(
    spans: InMemorySpanExporter,
) -> None:
    _key, _value, headers = encode_event(submitted_envelope())
    with tracer.start_as_current_span("the relay's own loop"):
        written = inject_record_headers(headers, REQUEST_TRACEPARENT)
    assert dict(written)[TRACEPARENT] == REQUEST_TRACEPARENT.encode()  # not the relay's span
    assert [h for h in written if h[0] != TRACEPARENT] == headers  # ce_* untouched
    assert {name for name, _ in written} >= {"ce_id", "ce_type", "content-type", TRACEPARENT}
    # Written again (a republished record): still one traceparent.
    again = inject_record_headers(written, OTHER_TRACEPARENT)
    assert [value for name, value in again if name == TRACEPARENT] == [OTHER_TRACEPARENT.encode()]


def test_without_a_stored_one_the_active_span_is_written_and_outside_any_nothing(
    spans: InMemorySpanExporter,
) -> None:
    _key, _value, headers = encode_event(submitted_envelope())
    assert inject_record_headers(headers, None) == headers
    with tracer.start_as_current_span("publishing") as span:
        written = dict(inject_record_headers(headers, None))
    trace_id, span_id = _ids(written[TRACEPARENT].decode())
    assert int(trace_id, 16) == span.get_span_context().trace_id
    assert int(span_id, 16) == span.get_span_context().span_id


def test_the_record_context_is_extracted_from_bytes_headers() -> None:
    headers = [("ce_id", b"e-1"), (TRACEPARENT, REQUEST_TRACEPARENT.encode())]
    extracted = trace.get_current_span(extract_record_context(headers)).get_span_context()
    assert extracted.is_valid
    assert extracted.is_remote
    assert format(extracted.trace_id, "032x") == REQUEST_TRACE
    assert format(extracted.span_id, "016x") == REQUEST_SPAN
    nothing = extract_record_context([("ce_id", b"e-1"), (TRACEPARENT, b"garbage")])
    assert not trace.get_current_span(nothing).get_span_context().is_valid


class _FakeProducer:
    def __init__(self) -> None:
        self.sent: list[list[tuple[str, bytes]]] = []

    async def send(self, topic: str, *, value: bytes, key: bytes, headers: Any) -> Any:
        self.sent.append(headers)

        async def delivered() -> None:
            return None

        return delivered()


async def test_the_publisher_writes_each_envelope_s_own_traceparent() -> None:
    publisher = KafkaEventPublisher(bootstrap_servers="unused:9092", client_id="test")
    fake = _FakeProducer()
    publisher._started = fake  # type: ignore[assignment]
    first = submitted_envelope()
    second = first.model_copy(update={"id": "e-2"})
    await publisher.publish(
        "registrations", [first, second], traceparents=[REQUEST_TRACEPARENT, OTHER_TRACEPARENT]
    )
    assert [dict(h)[TRACEPARENT] for h in fake.sent] == [
        REQUEST_TRACEPARENT.encode(),
        OTHER_TRACEPARENT.encode(),
    ]


def _record(headers: list[tuple[str, bytes]], value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="dealreg.registrations",
        partition=3,
        offset=42,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=value,
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=len(value),
        headers=headers,
    )


async def test_the_consumer_continues_the_record_s_trace(spans: InMemorySpanExporter) -> None:
    envelope = submitted_envelope()
    _key, value, headers = encode_event(envelope)
    seen: list[str | None] = []

    async def handler(_event: EventEnvelope[Any]) -> None:
        seen.append(current_traceparent())

    consumer = KafkaEventConsumer(
        group_id="test",
        topics=["registrations"],
        handlers={envelope.type: handler},
        bootstrap_servers="unused:9092",
        dead_letters=KafkaEventPublisher(bootstrap_servers="unused:9092", client_id="test"),
    )
    try:
        await consumer._process(_record(inject_record_headers(headers, REQUEST_TRACEPARENT), value))
    finally:
        await consumer._consumer.stop()  # never started: only closes what it made

    (process,) = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert format(process.context.trace_id, "032x") == REQUEST_TRACE
    assert process.parent is not None
    assert format(process.parent.span_id, "016x") == REQUEST_SPAN
    assert process.attributes is not None
    assert process.attributes["messaging.destination.name"] == "dealreg.registrations"
    assert process.attributes["messaging.message.id"] == envelope.id
    # What the handler stages carries the consumer span's context (same trace).
    assert seen
    assert seen[0] is not None
    assert _ids(seen[0]) == (REQUEST_TRACE, format(process.context.span_id, "016x"))


class _Publisher:
    def __init__(self) -> None:
        self.traceparents: list[str | None] = []

    async def publish(
        self,
        topic: str,
        envelopes: Sequence[EventEnvelope[Any]],
        *,
        traceparents: Sequence[str | None] = (),
    ) -> None:
        self.traceparents.extend(traceparents)


class _Clock:
    def now(self) -> datetime:
        return datetime(2026, 12, 2, tzinfo=UTC)


async def test_the_outbox_relays_the_staging_transaction_s_trace_not_its_own(
    spans: InMemorySpanExporter,
) -> None:
    metadata = MetaData()
    outbox = outbox_table(metadata)
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        with tracer.start_as_current_span("POST /v1/registrations", kind=SpanKind.SERVER):
            staged_by = current_traceparent()
            async with AsyncSession(engine) as session, session.begin():
                await stage_events(session, outbox, [submitted_envelope()], now=_Clock().now())
        async with AsyncSession(engine) as session, session.begin():
            await stage_events(
                session, outbox, [submitted_envelope().model_copy(update={"id": "e-9"})],
                now=_Clock().now(),
            )  # fmt: skip
        async with engine.connect() as connection:
            stored = (await connection.execute(select(outbox.c.traceparent))).scalars().all()
        assert stored == [staged_by, None]

        publisher = _Publisher()
        relay = OutboxRelay(
            engine=engine,
            outbox=outbox,
            publisher=publisher,
            clock=_Clock(),
            poll_interval_seconds=1,
            batch_size=10,
        )
        with tracer.start_as_current_span("relay loop"):
            assert await relay.relay_once() == 2
        assert publisher.traceparents == [staged_by, None]
    finally:
        await engine.dispose()


def test_a_batch_span_continues_the_first_trace_and_links_the_others(
    spans: InMemorySpanExporter,
) -> None:
    with span_continuing("crm push", [None, REQUEST_TRACEPARENT, OTHER_TRACEPARENT, "junk"]):
        pass
    (push,) = spans.get_finished_spans()
    assert format(push.context.trace_id, "032x") == REQUEST_TRACE
    assert push.parent is not None
    assert format(push.parent.span_id, "016x") == REQUEST_SPAN
    assert [format(link.context.trace_id, "032x") for link in push.links] == [
        _ids(OTHER_TRACEPARENT)[0]
    ]


_LOGGING_SCRIPT = """
import logging, structlog
from services.logging import configure_logging
from services.tracing import configure_tracing, tracer
configure_tracing(service="test")
configure_logging(service="test", level="INFO", as_json=True)
with tracer.start_as_current_span("work") as span:
    structlog.get_logger("test").info("from structlog")
    logging.getLogger("some.library").warning("from a library")
    context = span.get_span_context()
    print(format(context.trace_id, "032x"), format(context.span_id, "016x"))
structlog.get_logger("test").info("outside")
"""


def test_every_log_line_in_a_span_carries_its_trace_and_span_ids() -> None:
    # In a process of its own: configure_logging changes the process's logging for good.
    done = subprocess.run(
        [sys.executable, "-c", _LOGGING_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("OTEL_EXPORTER")},
    )
    trace_id, span_id = done.stdout.split()
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    inside = [line for line in lines if line["event"] in ("from structlog", "from a library")]
    assert len(inside) == 2
    assert all(line["trace_id"] == trace_id and line["span_id"] == span_id for line in inside)
    (outside,) = [line for line in lines if line["event"] == "outside"]
    assert "trace_id" not in outside


def test_the_endpoint_is_the_setting_else_the_standard_variables_else_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert otlp_endpoint(None) is None  # no exporter: spans are made for the ids, never sent
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    assert otlp_endpoint(None) == "http://collector:4318/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/custom")
    assert otlp_endpoint(None) == "http://traces:4318/custom"
    # DEALREG_OTLP_ENDPOINT (the setting) wins over both.
    assert otlp_endpoint("http://dealreg-collector:4318") == (
        "http://dealreg-collector:4318/v1/traces"
    )
