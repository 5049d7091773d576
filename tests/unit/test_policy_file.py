"""The checked-in default policy: valid, the defaults of DOMAIN.md, and documented."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

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
