"""The field rules of a registration, and one property: valid in, accepted; one bad field, named."""

from __future__ import annotations

import string
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pycountry
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from deal_registration.api.models import RegistrationCreate
from deal_registration.domain import validation as rules
from deal_registration.handlers import registration_problems
from services.http.problems import validation_errors

TODAY = date(2026, 11, 27)
AUTHORISED = ["network-security", "cloud-backup"]


def problems_of(payload: dict[str, Any]) -> list[dict[str, str]]:
    """What the API answers for a body: the model's errors, then the partner/date checks."""
    try:
        body = RegistrationCreate.model_validate(payload)
    except ValidationError as error:
        return validation_errors(error.errors())
    return registration_problems(body, AUTHORISED, today=TODAY)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("acme.com", "acme.com"),
        ("WWW.Acme.COM", "acme.com"),
        ("https://www.acme.com/about?x=1", "acme.com"),
        ("http://shop.acme.co.uk:8080/", "acme.co.uk"),
        ("dana.lee@sales.acme.de", "acme.de"),
        ("acme.com.", "acme.com"),
        ("bücher.de", "xn--bcher-kva.de"),  # stored in its canonical ASCII (IDNA) form
    ],
)
def test_domains_urls_and_e_mail_addresses_are_normalised(raw: str, expected: str) -> None:
    assert rules.normalise_domain(raw) == (expected, None)


@pytest.mark.parametrize(
    "raw",
    [
        "acme",
        "not a domain",
        "acme.notatld",
        "ftp://acme.com",
        "-acme.com",
        "acme..com",
        "1.2.3.4",
        "@",
    ],
)
def test_nonsense_domains_are_refused(raw: str) -> None:
    assert rules.normalise_domain(raw)[1] is not None


@pytest.mark.parametrize(
    ("raw", "ok"), [("us", True), ("GB", True), ("XX", False), ("USA", False), ("ÜS", False)]
)
def test_countries_are_iso_3166_alpha_2(raw: str, ok: bool) -> None:
    assert (rules.normalise_country(raw)[1] is None) is ok


@pytest.mark.parametrize(
    ("raw", "ok"), [("usd", True), ("JPY", True), ("XAU", False), ("XXX", False), ("EURO", False)]
)
def test_currencies_are_iso_4217_money(raw: str, ok: bool) -> None:
    assert (rules.normalise_currency(raw)[1] is None) is ok


@pytest.mark.parametrize(
    ("value", "currency", "ok"),
    [
        ("0.01", "USD", True),
        ("10.5", "EUR", True),
        ("10.505", "EUR", False),
        ("1000", "JPY", True),
        ("1000.5", "JPY", False),
        ("10.50", "BHD", True),  # three minor units, stored with two
        ("10.505", "BHD", False),
        ("0", "USD", False),
        ("-1", "USD", False),
        ("1E+3", "USD", True),
    ],
)
def test_amounts_are_positive_with_the_currencys_decimals(
    value: str, currency: str, ok: bool
) -> None:
    assert (rules.amount_problem(Decimal(value), currency) is None) is ok


def test_close_dates_are_neither_past_nor_absurdly_far() -> None:
    assert rules.close_date_problem(TODAY, today=TODAY) is None
    assert rules.close_date_problem(TODAY + timedelta(days=730), today=TODAY) is None
    assert rules.close_date_problem(TODAY - timedelta(days=1), today=TODAY) == "is in the past"
    assert "2 years" in str(rules.close_date_problem(TODAY + timedelta(days=800), today=TODAY))


@pytest.mark.parametrize(
    ("text", "single_line", "ok"),
    [
        ("Acme", True, True),
        ("a\nb", False, True),
        ("a\nb", True, False),
        ("a\x00b", False, False),
        ("\ud800", False, False),
    ],
)
def test_text_refuses_control_characters_and_surrogates(
    text: str, single_line: bool, ok: bool
) -> None:
    assert (rules.text_problem(text, single_line=single_line) is None) is ok


# --- the property -----------------------------------------------------------------------

_SAFE = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
names = st.text(_SAFE, min_size=1, max_size=200).filter(lambda s: s.strip() == s and s != "")
labels = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=20)
# A company's label, never a bare short one: "eu.com", "uk.com" or "jpn.com" are public
# suffixes themselves (the list's private section) and rightly refused as a customer domain.
domains = st.builds(
    lambda label, suffix, form: form.format(f"acme-{label}.{suffix}"),
    labels,
    st.sampled_from(["com", "de", "co.uk", "io", "com.au", "fr"]),
    st.sampled_from(["{}", "www.{}", "https://www.{}/about", "sales@{}", "HTTP://{}"]),
)
countries = st.sampled_from([country.alpha_2 for country in pycountry.countries])
currencies = st.sampled_from(["USD", "EUR", "GBP", "JPY", "CHF", "BHD", "KRW", "INR", "AUD"])


@st.composite
def amounts(draw: st.DrawFn) -> dict[str, str]:
    currency = draw(currencies)
    decimals = rules.allowed_decimals(currency)
    cents = draw(st.integers(min_value=1, max_value=10**12))
    value = Decimal(cents).scaleb(-decimals)
    return {"value": str(value), "currency": currency.lower() if cents % 2 else currency}


@st.composite
def registrations(draw: st.DrawFn) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "customer": {"name": draw(names), "country": draw(countries)},
        "product_line": draw(st.sampled_from(AUTHORISED)),
        "deal_type": draw(st.sampled_from(["new", "renewal", "upsell"])),
        "amount": draw(amounts()),
        "expected_close_date": (TODAY + timedelta(days=draw(st.integers(0, 730)))).isoformat(),
    }
    if draw(st.booleans()):
        payload["customer"]["domain"] = draw(domains)
    if draw(st.booleans()):
        payload["contact"] = {"name": draw(names), "email": f"{draw(labels)}@example.com"}
    if draw(st.booleans()):
        payload["description"] = draw(
            st.text(max_size=2000).filter(
                lambda s: rules.text_problem(s, single_line=False) is None
            )
        )
    if draw(st.booleans()):
        payload["partner_reference"] = draw(names.filter(lambda s: len(s) <= 100))
    return payload


CORRUPTIONS: dict[str, list[Any]] = {
    "customer.name": ["", "   ", "x" * 201, "Acme\x00", "Acme\nCorp"],
    "customer.domain": ["acme", "not a domain", "acme.invalidtld", "ftp://acme.com"],
    "customer.country": ["XX", "USA", "", 42],
    "amount.value": ["-1", "0", "1.001", "abc", "Infinity", "1" * 20],
    "amount.currency": ["EURO", "XAU", "ZZZ", ""],
    "product_line": ["not-authorised", "Network Security", ""],
    "deal_type": ["barter", "", None],
    "expected_close_date": [
        (TODAY - timedelta(days=1)).isoformat(),
        (TODAY + timedelta(days=800)).isoformat(),
        "31/03/2027",
    ],
    "contact.email": ["nope", "a@", "@acme.com"],
    "contact.name": ["", "x" * 201],
    "description": ["x" * 2001, "nul\x00"],
    "partner_reference": ["x" * 101, ""],
    "colour": ["blue"],  # an unknown field
}


def _set(payload: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    target = payload
    for parent in parents:
        target = target.setdefault(parent, {"name": "Dana Lee", "email": "dana@example.com"})
    target[leaf] = value


@settings(max_examples=150, deadline=None)
@given(registrations())
def test_any_valid_registration_is_accepted(payload: dict[str, Any]) -> None:
    assert problems_of(payload) == []


@settings(max_examples=300, deadline=None)
@given(registrations(), st.sampled_from(sorted(CORRUPTIONS)), st.data())
def test_any_single_corrupt_field_is_rejected_by_name(
    payload: dict[str, Any], field: str, data: st.DataObject
) -> None:
    _set(payload, field, data.draw(st.sampled_from(CORRUPTIONS[field])))
    assert [error["field"] for error in problems_of(payload)] == [field]


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("::1", False),
        ("fe80::1%eth0", False),
        ("224.0.0.1", False),
        ("not an address", False),
    ],
)
def test_only_public_addresses_receive_webhooks(address: str, public: bool) -> None:
    assert rules.is_public_address(address) is public


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("169.254.169.254", False),  # cloud metadata
        ("::1", False),
        ("fe80::1", False),
        ("64:ff9b::a01:203", False),  # NAT64 of 10.1.2.3
        ("64:ff9b:1::a01:203", False),  # local-use NAT64
        ("2002:a01:203::1", False),  # 6to4 of 10.1.2.3
        ("2001:0:4136:e378::1", False),  # Teredo
        ("::ffff:10.1.2.3", False),  # IPv4-mapped
        ("::a01:203", False),  # IPv4-compatible
        ("not an address", False),
    ],
)
def test_only_public_addresses_may_receive_webhooks(address: str, public: bool) -> None:
    assert rules.is_public_address(address) is public
