"""Hostile text through the parsers that face the outside: no crash, no hang, a clear answer.

Arbitrary Unicode and bytes (hypothesis) through the CRM webhook signature checks (reached
before any authentication), the company-name, domain and country normalisers, and the
matcher's normalisation (everything a partner types reaches them).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from conflict_resolver.domain.matching import CustomerProfile, normalise_customer
from crm_sync.domain.signatures import (
    timestamp_fresh,
    verify_dealreg_signature,
    verify_hubspot_v3,
)
from deal_registration.domain import validation
from schemas.accounts import (
    account_domain,
    account_key,
    normalise_company_name,
    normalise_country,
    registrable_domain,
)

NOW_MS = 1_790_000_000_000
text = st.text(max_size=300)
digits_of_any_script = st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1)


@given(timestamp=st.one_of(text, digits_of_any_script))
def test_a_timestamp_header_is_fresh_only_in_ascii_digits(timestamp: str) -> None:
    fresh = timestamp_fresh(timestamp, NOW_MS)
    assert fresh is False or (timestamp.isascii() and timestamp.isdigit())


def test_a_unicode_digit_timestamp_is_not_fresh() -> None:
    assert timestamp_fresh("²", NOW_MS) is False
    assert timestamp_fresh("١٧٩٠٠٠٠٠٠٠٠٠٠", NOW_MS) is False  # Arabic-Indic digits


@given(
    secret=text,
    method=text,
    uri=text,
    body=st.binary(max_size=2000),
    timestamp=st.one_of(text, digits_of_any_script),
    signature=text,
)
def test_hubspot_v3_verification_answers_true_or_false(
    secret: str, method: str, uri: str, body: bytes, timestamp: str, signature: str
) -> None:
    verified = verify_hubspot_v3(
        secret=secret,
        method=method,
        uri=uri,
        body=body,
        timestamp=timestamp,
        signature=signature,
        now_ms=NOW_MS,
    )
    assert verified in (True, False)


@given(
    secret=text,
    timestamp=st.one_of(text, digits_of_any_script),
    body=st.binary(max_size=2000),
    signature=text,
)
def test_dealreg_signature_verification_answers_true_or_false(
    secret: str, timestamp: str, body: bytes, signature: str
) -> None:
    verified = verify_dealreg_signature(
        secret=secret, timestamp=timestamp, body=body, signature=signature, now_ms=NOW_MS
    )
    assert verified in (True, False)


@settings(max_examples=300)
@given(name=text, domain=st.one_of(st.none(), text), country=st.one_of(st.none(), text))
def test_normalisers_never_crash(name: str, domain: str | None, country: str | None) -> None:
    normalise_company_name(name)
    normalise_country(country)
    account_domain(domain)
    if domain is not None:
        registrable_domain(domain)
        validation.normalise_domain(domain)
    try:
        key = account_key(name=name, domain=domain, country=country)
    except ValueError:
        return  # documented: nothing identifies the customer (intake answers 422)
    assert key


@settings(max_examples=300)
@given(name=text, domain=st.one_of(st.none(), text), country=text)
def test_matcher_normalisation_never_crashes(name: str, domain: str | None, country: str) -> None:
    normalise_customer(CustomerProfile(name=name, domain=domain, country=country))


@given(value=text)
def test_free_text_and_url_checks_answer_a_sentence_or_none(value: str) -> None:
    for problem in (
        validation.text_problem(value, single_line=True),
        validation.webhook_url_problem(value),
        validation.normalise_country(value)[1],
        validation.normalise_currency(value)[1],
    ):
        assert problem is None or isinstance(problem, str)
