"""Events are a versioned public API: old versions are upcast, incompatible changes fail here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from schemas.catalogue import PUBLISHED, breaking_changes, event_schema, published_name
from schemas.envelope import (
    EventPayload,
    UnsupportedVersionError,
    decode_event,
    register,
    registered_upcasters,
    upcaster,
)
from schemas.topics import TOPICS, events_on

PUBLISHED_DIR = Path(__file__).resolve().parents[2] / "docs" / "events" / PUBLISHED
ALL_EVENTS = [payload for topic in TOPICS for payload in events_on(topic)]


@pytest.mark.parametrize("payload", ALL_EVENTS, ids=lambda p: p.event_type)
def test_every_event_is_compatible_with_its_published_version(
    payload: type[EventPayload],
) -> None:
    path = PUBLISHED_DIR / published_name(payload)
    assert path.exists(), f"{path.name} was never published: run `make catalogue`"
    published = json.loads(path.read_text())
    assert breaking_changes(published, event_schema(payload)) == [], (
        f"{payload.event_type}: an incompatible change needs schema_version "
        f"{payload.schema_version + 1} and an upcaster beside the model"
    )


class _Before(BaseModel):
    name: str
    amount: int
    note: str | None = None


class _Widened(BaseModel):
    name: str
    amount: int
    note: str | None = None
    region: str | None = None


class _Renamed(BaseModel):
    full_name: str
    amount: int
    note: str | None = None


class _Retyped(BaseModel):
    name: str
    amount: str
    note: str | None = None


class _Stricter(BaseModel):
    name: str
    amount: int
    note: str


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(mode="serialization")


def test_adding_an_optional_field_is_compatible() -> None:
    assert breaking_changes(_schema(_Before), _schema(_Widened)) == []


@pytest.mark.parametrize(
    ("after", "problem"),
    [
        (_Renamed, "name: removed"),
        (_Retyped, "amount: changed"),
        (_Stricter, "note: newly required"),
    ],
)
def test_incompatible_changes_are_named(after: type[BaseModel], problem: str) -> None:
    assert problem in breaking_changes(_schema(_Before), _schema(after))


class _Inner(BaseModel):
    code: str


class _Outer(BaseModel):
    inner: _Inner


class _InnerRetyped(BaseModel):
    code: int


def test_a_change_inside_a_nested_type_is_incompatible() -> None:
    before = _schema(_Outer)
    after = json.loads(json.dumps(before))
    after["$defs"]["_Inner"] = _schema(_InnerRetyped)
    assert breaking_changes(before, after) == ["$defs._Inner.code: changed"]


@register
class _SampleV3(EventPayload):
    """A test-only event at version 3: v1 had ``customer``, v2 renamed it ``customer_name``,
    v3 added a required ``country``."""

    event_type: ClassVar[str] = "dealreg.test.sample_versioned"
    schema_version: ClassVar[int] = 3
    customer_name: str
    country: str


@upcaster(_SampleV3.event_type, from_version=1)
def _sample_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    renamed = {k: v for k, v in data.items() if k != "customer"}
    return {**renamed, "customer_name": data["customer"]}


@upcaster(_SampleV3.event_type, from_version=2)
def _sample_v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "country": "ZZ"}


def _headers(version: int) -> list[tuple[str, bytes]]:
    attributes = {
        "id": "e1",
        "source": "/test",
        "type": _SampleV3.event_type,
        "time": "2026-01-01T00:00:00+00:00",
        "subject": "r1",
        "schemaversion": str(version),
        "correlationid": "c1",
        "partitionkey": "acme.com",
    }
    return [(f"ce_{name}", value.encode()) for name, value in attributes.items()]


def test_an_old_version_is_upcast_step_by_step_before_validation() -> None:
    envelope = decode_event(json.dumps({"customer": "Acme"}).encode(), _headers(1))
    assert envelope.data == _SampleV3(customer_name="Acme", country="ZZ")
    assert envelope.schemaversion == 3


def test_the_current_version_is_read_as_it_is() -> None:
    value = json.dumps({"customer_name": "Acme", "country": "DE"}).encode()
    assert decode_event(value, _headers(3)).data.country == "DE"


def test_a_version_newer_than_the_model_is_poison() -> None:
    with pytest.raises(UnsupportedVersionError, match="newer"):
        decode_event(json.dumps({"customer_name": "Acme", "country": "DE"}).encode(), _headers(4))


def test_every_published_version_step_has_an_upcaster() -> None:
    steps = registered_upcasters()
    for payload in ALL_EVENTS:
        for version in range(1, payload.schema_version):
            assert (payload.event_type, version) in steps, payload.event_type
