"""The rules applied in order to one registration: the first that fires decides."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.rules.engagement import RULES, approve
from conflict_resolver.domain.rules.evidence import build_evidence
from conflict_resolver.domain.rules.facts import Facts, canonical_protection_key, classify_match
from conflict_resolver.domain.situation import Decision, Situation, Submission


def decide(
    submission: Submission, situation: Situation, policy: Policy, *, now: datetime
) -> Decision:
    """Apply the rules in DOMAIN.md's order; the first that fires decides."""
    others = tuple(m for m in situation.matches if m.registration_id != submission.registration_id)
    classified = [(m, classify_match(m, policy)) for m in others]
    same = tuple(m for m, kind in classified if kind == "same")
    facts = Facts(
        submission=submission,
        situation=situation,
        policy=policy,
        now=now,
        same=same,
        possible=tuple(m for m, kind in classified if kind == "possible"),
        protection_key=canonical_protection_key(submission, same, now),
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
