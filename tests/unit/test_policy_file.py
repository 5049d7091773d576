"""The checked-in default policy: valid, the defaults of DOMAIN.md, and documented."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from conflict_resolver.adapters.policy_store import default_policy
from conflict_resolver.domain.policy import Policy
from conflict_resolver.policy_doc import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules-of-engagement.md"


def test_the_default_policy_file_holds_the_defaults_of_the_domain() -> None:
    policy = default_policy()
    assert policy.version == 1
    assert policy.protection_window == timedelta(days=90)
    assert policy.minimum_amount == Decimal(5000)
    assert (policy.matching.same_account, policy.matching.review) == (0.92, 0.80)
    assert policy.extension.max_extensions == 1
    assert policy.extension.duration == timedelta(days=30)
    assert policy.incumbency_period == timedelta(days=365)
    assert policy.review_sla == timedelta(hours=48)
    assert policy.house_account_action == "reject"
    assert policy.sla_auto_decision == "none"


def test_a_stored_policy_document_reads_back_as_the_same_policy() -> None:
    policy = default_policy()
    assert Policy.model_validate({**policy.document(), "version": 1}) == policy


def test_rules_of_engagement_page_is_generated_from_the_policy_file() -> None:
    assert DOC.read_text() == render(default_policy()), (
        "docs/rules-of-engagement.md is stale: "
        "python -m conflict_resolver.policy_doc > docs/rules-of-engagement.md"
    )


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"protection_window": "P3000000D"}, "protection_window"),  # overflows a date
        ({"protection_window": "-P5D"}, "protection_window"),  # would shorten live windows
        ({"protection_window": "PT0S"}, "protection_window"),
        ({"review_sla": "-PT1H"}, "review_sla"),
        ({"extension": {"duration": "PT0S"}}, "extension.duration"),
        ({"extension": {"max_extensions": 1000}}, "extension.max_extensions"),
        ({"tier_protection_windows": {"gold": "P99999D"}}, "tier_protection_windows.gold"),
        ({"tier_protection_windows": {"diamond": "P10D"}}, "tier_protection_windows.diamond"),
        ({"product_lines": {"edge": {"protection_window": "-P1D"}}}, "product_lines.edge"),
        ({"exchange_rates": {"EUR": "Infinity"}}, "exchange_rates.EUR"),
        ({"exchange_rates": {"EUR": "0"}}, "exchange_rates.EUR"),
        ({"minimum_amount": "1e400"}, "minimum_amount"),
        ({"base_currency": "usd!"}, "base_currency"),
    ],
)
def test_policy_values_are_bounded_and_the_error_names_the_field(
    document: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Policy.model_validate(document)
    locations = [".".join(str(part) for part in error["loc"]) for error in refused.value.errors()]
    assert any(location.startswith(field) for location in locations), locations


def test_short_windows_for_tests_are_still_allowed() -> None:
    assert Policy.model_validate({"protection_window": "PT5S"}).protection_window.seconds == 5


@pytest.mark.parametrize("value", [False, True, 0, 3600, 1.5, None, [], {}])
def test_a_duration_is_iso_8601_text_never_a_number_read_as_seconds(value: object) -> None:
    for field in ("protection_window", "incumbency_period", "review_sla"):
        with pytest.raises(ValidationError) as raised:
            Policy.model_validate({field: value})
        assert raised.value.errors()[0]["loc"] == (field,)
    with pytest.raises(ValidationError):
        Policy.model_validate({"extension": {"duration": value}})
    assert Policy.model_validate({"review_sla": "PT5S"}).review_sla == timedelta(seconds=5)


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"version": True}, ("version",)),
        ({"extension": {"max_extensions": False}}, ("extension", "max_extensions")),
        ({"extension": {"max_extensions": "2"}}, ("extension", "max_extensions")),
        ({"extension": {"max_extensions": 1.0}}, ("extension", "max_extensions")),
        ({"matching": {"same_account": True}}, ("matching", "same_account")),
        ({"matching": {"review": "0.8"}}, ("matching", "review")),
    ],
)
def test_counts_and_thresholds_are_json_numbers_not_booleans_or_text(
    document: dict[str, object], field: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as raised:
        Policy.model_validate(document)
    assert raised.value.errors()[0]["loc"] == field
