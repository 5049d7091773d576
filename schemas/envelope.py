"""The CloudEvents 1.0 envelope and its Kafka protocol binding (binary content mode).

In binary mode the event's attributes travel as Kafka headers named ``ce_<attribute>``, the
event data is the record value (JSON), and ``content-type`` says how to read it. The record key
is the customer account's matching key (the CloudEvents ``partitionkey`` extension), so every
event about one account lands on one partition and keeps its order.

Extension attributes (lower-case alphanumerics, as CloudEvents requires):
``schemaversion`` (the payload's contract version), ``correlationid`` (follows one
registration through all services), ``causationid`` (the event that caused this one) and
``partitionkey``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
_HEADER_PREFIX = "ce_"


class EventPayload(BaseModel):
    """Base of every event's data. Subclasses set ``event_type`` and ``schema_version``.

    Consumers ignore unknown fields (``extra="ignore"``) so producers may add fields freely.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1


PayloadT = TypeVar("PayloadT", bound=EventPayload)


class EventEnvelope(BaseModel, Generic[PayloadT]):
    """One event: CloudEvents context attributes plus the typed payload."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Unique, stable across retries: consumers deduplicate on it.")
    source: str = Field(description="The producing service, e.g. `/dealreg/deal_registration`.")
    type: str = Field(description="Past-tense event type, e.g. `dealreg.registration.submitted`.")
    specversion: str = SPEC_VERSION
    time: AwareDatetime
    subject: str = Field(description="The registration (or other entity) the event concerns.")
    schemaversion: int = Field(ge=1)
    correlationid: str
    causationid: str | None = None
    partitionkey: str = Field(description="The customer account's matching key.")
    data: PayloadT


class UnknownEventError(ValueError):
    """The record names an event type or version this consumer has no model for."""


class MalformedEventError(ValueError):
    """The record cannot be read as a CloudEvent with a valid payload (a poison event)."""


_REGISTRY: dict[str, type[EventPayload]] = {}


def register(payload_type: type[PayloadT]) -> type[PayloadT]:
    """Class decorator: make an event type decodable by its ``type`` attribute."""
    _REGISTRY[payload_type.event_type] = payload_type
    return payload_type


def registered_event_types() -> dict[str, type[EventPayload]]:
    return dict(_REGISTRY)


Header = tuple[str, bytes]


def encode_event(envelope: EventEnvelope[Any]) -> tuple[bytes, bytes, list[Header]]:
    """Return (key, value, headers) for a Kafka record in CloudEvents binary mode."""
    attributes: dict[str, str | None] = {
        "id": envelope.id,
        "source": envelope.source,
        "type": envelope.type,
        "specversion": envelope.specversion,
        "time": envelope.time.isoformat(),
        "subject": envelope.subject,
        "schemaversion": str(envelope.schemaversion),
        "correlationid": envelope.correlationid,
        "causationid": envelope.causationid,
        "partitionkey": envelope.partitionkey,
    }
    headers: list[Header] = [
        (_HEADER_PREFIX + name, value.encode()) for name, value in attributes.items() if value
    ]
    headers.append(("content-type", CONTENT_TYPE.encode()))
    value = envelope.data.model_dump_json().encode()
    return envelope.partitionkey.encode(), value, headers


def decode_event(
    value: bytes | None, headers: list[Header] | tuple[Header, ...]
) -> EventEnvelope[Any]:
    """Read a Kafka record written by :func:`encode_event`.

    Raises :class:`UnknownEventError` for a type this code does not know and
    :class:`MalformedEventError` for anything unreadable; both are poison for the consumer.
    """
    attributes = {
        name[len(_HEADER_PREFIX) :]: raw.decode("utf-8", errors="replace")
        for name, raw in headers
        if name.startswith(_HEADER_PREFIX)
    }
    payload_type = _REGISTRY.get(attributes.get("type", ""))
    if payload_type is None:
        raise UnknownEventError(f"unknown event type {attributes.get('type')!r}")
    try:
        data = payload_type.model_validate_json(value or b"")
        return EventEnvelope[payload_type](  # type: ignore[valid-type]
            id=attributes["id"],
            source=attributes["source"],
            type=attributes["type"],
            specversion=attributes.get("specversion", SPEC_VERSION),
            time=datetime.fromisoformat(attributes["time"]),
            subject=attributes["subject"],
            schemaversion=int(attributes.get("schemaversion", "1")),
            correlationid=attributes["correlationid"],
            causationid=attributes.get("causationid"),
            partitionkey=attributes["partitionkey"],
            data=data,
        )
    except (KeyError, ValueError, ValidationError, json.JSONDecodeError) as error:
        raise MalformedEventError(f"{type(error).__name__}: {error}") from error


def new_envelope(
    payload: EventPayload,
    *,
    event_id: str,
    source: str,
    subject: str,
    time: datetime,
    correlation_id: str,
    causation_id: str | None,
    partition_key: str,
) -> EventEnvelope[Any]:
    """Wrap a payload in its envelope; type and schema version come from the payload's class."""
    envelope_type: Any = EventEnvelope[type(payload)]  # type: ignore[misc]
    envelope: EventEnvelope[Any] = envelope_type(
        id=event_id,
        source=source,
        type=payload.event_type,
        time=time,
        subject=subject,
        schemaversion=payload.schema_version,
        correlationid=correlation_id,
        causationid=causation_id,
        partitionkey=partition_key,
        data=payload,
    )
    return envelope
