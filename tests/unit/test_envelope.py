"""The CloudEvents envelope and its Kafka binary binding."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from schemas.envelope import (
    EventEnvelope,
    MalformedEventError,
    UnknownEventError,
    decode_event,
    encode_event,
    new_envelope,
)
from schemas.registration import (
    AmountData,
    CustomerData,
    PartnerSnapshot,
    RegistrationSubmitted,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def submitted_envelope() -> EventEnvelope[Any]:
    payload = RegistrationSubmitted(
        registration_id="r-1",
        submission_seq=7,
        submitted_at=NOW,
        partner=PartnerSnapshot(
            id="p-1", name="Northwind", tier="gold", status="active", product_lines=("fw",)
        ),
        customer=CustomerData(name="Acme", domain="acme.com", country="US"),
        account_key="d:acme.com",
        product_line="fw",
        deal_type="new",
        amount=AmountData(value=Decimal("125000.00"), currency="USD"),
        expected_close_date=date(2027, 3, 31),
    )
    return new_envelope(
        payload,
        event_id="e-1",
        source="/dealreg/test",
        subject="r-1",
        time=NOW,
        correlation_id="c-1",
        causation_id=None,
        partition_key="d:acme.com",
    )


def test_binary_mode_puts_attributes_in_ce_headers_and_account_key_in_the_key() -> None:
    key, value, headers = encode_event(submitted_envelope())
    names = dict(headers)
    assert key == b"d:acme.com"
    assert names["ce_id"] == b"e-1"
    assert names["ce_type"] == b"dealreg.registration.submitted"
    assert names["ce_specversion"] == b"1.0"
    assert names["ce_schemaversion"] == b"1"
    assert names["ce_correlationid"] == b"c-1"
    assert "ce_causationid" not in names  # absent attributes are left out, not empty
    assert names["content-type"] == b"application/json"
    assert json.loads(value)["amount"] == {"value": "125000.00", "currency": "USD"}


def test_encoded_event_decodes_to_the_same_envelope() -> None:
    original = submitted_envelope()
    _key, value, headers = encode_event(original)
    decoded = decode_event(value, headers)
    assert decoded == original
    assert isinstance(decoded.data, RegistrationSubmitted)


def test_consumers_ignore_fields_they_do_not_know() -> None:
    _key, value, headers = encode_event(submitted_envelope())
    newer = json.loads(value) | {"added_in_a_later_version": {"x": 1}}
    decoded = decode_event(json.dumps(newer).encode(), headers)
    assert decoded.data.registration_id == "r-1"


def test_unknown_event_type_is_reported_as_unknown() -> None:
    _key, value, headers = encode_event(submitted_envelope())
    other = [(n, b"dealreg.something.new") if n == "ce_type" else (n, v) for n, v in headers]
    with pytest.raises(UnknownEventError):
        decode_event(value, other)


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda v, h: (b"{not json", h), id="malformed-json"),
        pytest.param(lambda v, h: (b'{"registration_id": 1}', h), id="missing-fields"),
        pytest.param(lambda v, h: (v, [x for x in h if x[0] != "ce_id"]), id="missing-id"),
        pytest.param(
            lambda v, h: (v, [(n, b"yesterday") if n == "ce_time" else (n, b) for n, b in h]),
            id="bad-time",
        ),
    ],
)
def test_unreadable_records_are_malformed(corrupt: Any) -> None:
    _key, value, headers = encode_event(submitted_envelope())
    bad_value, bad_headers = corrupt(value, headers)
    with pytest.raises(MalformedEventError):
        decode_event(bad_value, bad_headers)
