"""The rules applied in order to one registration: the first that fires decides."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from conflict_resolver.domain.families import protection_keys
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.rules.engagement import RULES, approve
from conflict_resolver.domain.rules.evidence import build_evidence
from conflict_resolver.domain.rules.facts import Facts, canonical_protection_key, classify_match
from conflict_resolver.domain.situation import Decision, Situation, Submission


def decide(
    submission: Submission, situation: Situation, policy: Policy, *, now: datetime
) -> Decision:
    """Apply the rules in DOMAIN.md's order; the first that fires decides."""
    # The CRM company's (or family's) key, when the CRM knows the customer (``families``):
    # a claim held under any key of the company (or family) is the same account.
    own_key, company_keys = protection_keys(
        situation.company,
        policy.company_families.mode_for(submission.product_line),
        default_key=submission.account_key,
    )
    others = tuple(
        replace(m, linked=True)
        if situation.company is not None and m.protection_key in company_keys
        else m
        for m in situation.matches
        if m.registration_id != submission.registration_id
    )
    classified = [(m, classify_match(m, policy)) for m in others]
    key = canonical_protection_key(
        replace(submission, account_key=own_key),
        tuple(m for m, kind in classified if kind == "same"),
        now,
    )
    # Matching is not transitive: the key may be adopted from a claim whose account's holder
    # scores too low against this spelling to match it directly. Holding that key makes the
    # holder the same account by construction, as a linked holder is.
    classified = [
        (replace(m, linked=True), "same")
        if kind != "same" and m.state == "protected" and m.protection_key == key
        else (m, kind)
        for m, kind in classified
    ]
    facts = Facts(
        submission=submission,
        situation=situation,
        policy=policy,
        now=now,
        same=tuple(m for m, kind in classified if kind == "same"),
        possible=tuple(m for m, kind in classified if kind == "possible"),
        protection_key=key,
    )
    evidence = build_evidence(facts)
    for rule in RULES:
        decision = rule(facts)
        if decision is not None:
            return _with(decision, facts, evidence)
    return _with(approve(facts), facts, evidence)


def _with(decision: Decision, facts: Facts, evidence: dict[str, Any]) -> Decision:
    return replace(
        decision,
        protection_key=facts.protection_key,
        evidence={**evidence, **decision.evidence},
    )
