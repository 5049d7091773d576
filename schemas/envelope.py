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

import functools
import json
from collections.abc import Callable
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
    """The record names an event type this code has no model for (another consumer's event)."""


class MalformedEventError(ValueError):
    """The record cannot be read as a CloudEvent with a valid payload (a poison event)."""


class UnsupportedVersionError(MalformedEventError):
    """The record's ``schemaversion`` is newer than this code's model, or no upcaster leads
    from it to the model: poison for this consumer until it is upgraded (then replayed)."""


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

_REGISTRY: dict[str, type[EventPayload]] = {}
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def register(payload_type: type[PayloadT]) -> type[PayloadT]:
    """Class decorator: make an event type decodable by its ``type`` attribute."""
    _REGISTRY[payload_type.event_type] = payload_type
    return payload_type


def upcaster(event_type: str, *, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Decorator: turn the JSON data of ``event_type`` at ``from_version`` into the data of
    ``from_version + 1``. Upcasters are chained, one step at a time, up to the model's
    ``schema_version``, before validation; they live beside the model they serve.

    ::

        @upcaster(RegistrationSubmitted.event_type, from_version=1)
        def _submitted_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
            return {**data, "channel": "portal"}
    """

    def add(step: Upcaster) -> Upcaster:
        _UPCASTERS[(event_type, from_version)] = step
        return step

    return add


def registered_event_types() -> dict[str, type[EventPayload]]:
    return dict(_REGISTRY)


def registered_upcasters() -> set[tuple[str, int]]:
    """The (event type, from version) steps an upcaster exists for."""
    return set(_UPCASTERS)


def upcast(event_type: str, version: int, data: dict[str, Any], *, to_version: int) -> Any:
    """The data of ``event_type`` written at ``version``, brought up to ``to_version``."""
    if version > to_version:
        raise UnsupportedVersionError(
            f"{event_type} v{version} is newer than this consumer's v{to_version}"
        )
    for step_from in range(version, to_version):
        step = _UPCASTERS.get((event_type, step_from))
        if step is None:
            raise UnsupportedVersionError(f"no upcaster for {event_type} v{step_from}")
        data = step(data)
    return data


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

    Data written at an older ``schemaversion`` is upcast to the model's version before it is
    validated. Raises :class:`UnknownEventError` for a type this code does not know (a consumer
    ignores it) and :class:`MalformedEventError` for anything unreadable, a payload failing
    validation or a version it cannot read (poison: the dead-letter topic).
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
        version = int(attributes.get("schemaversion", "1"))
        if version == payload_type.schema_version:
            data = payload_type.model_validate_json(value or b"")
        else:
            raw = upcast(
                payload_type.event_type,
                version,
                json.loads(value or b""),
                to_version=payload_type.schema_version,
            )
            data = payload_type.model_validate(raw)
        return EventEnvelope[payload_type](  # type: ignore[valid-type]
            id=attributes["id"],
            source=attributes["source"],
            type=attributes["type"],
            specversion=attributes.get("specversion", SPEC_VERSION),
            time=datetime.fromisoformat(attributes["time"]),
            subject=attributes["subject"],
            schemaversion=payload_type.schema_version,
            correlationid=attributes["correlationid"],
            causationid=attributes.get("causationid"),
            partitionkey=attributes["partitionkey"],
            data=data,
        )
    except UnsupportedVersionError:
        raise
    except (KeyError, ValueError, TypeError, ValidationError, json.JSONDecodeError) as error:
        raise MalformedEventError(f"{type(error).__name__}: {error}") from error


@functools.cache
def _envelope_class(payload_type: type[EventPayload]) -> Any:
    """``EventEnvelope[payload_type]``, made once a type (pydantic's own look-up of a
    parametrised model costs about as much as validating a small one)."""
    return EventEnvelope[payload_type]  # type: ignore[valid-type]


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
    envelope_type = _envelope_class(type(payload))
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
