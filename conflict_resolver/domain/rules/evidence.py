"""The evidence a decision carries for sales ops: each same or possible match with its scores
and matched fields, and the direct opportunity, incumbent or house account that weighed."""

from __future__ import annotations

from typing import Any

from conflict_resolver.domain.rules.facts import Facts, is_live
from conflict_resolver.domain.situation import Match


def build_evidence(facts: Facts) -> dict[str, Any]:
    """What sales ops see: each same or possible match with its scores and matched fields."""
    direct = facts.situation.direct_opportunity
    incumbent = facts.situation.incumbent
    house = facts.situation.house_account
    return {
        "matches": [_match_evidence(m, "same", facts) for m in facts.same]
        + [_match_evidence(m, "possible", facts) for m in facts.possible],
        "direct_opportunity": None
        if direct is None
        else {
            "opportunity_id": direct.opportunity_id,
            "crm_system": direct.crm_system,
            "account_key": direct.account_key,
            "opened_at": direct.opened_at.isoformat(),
        },
        "incumbent": None
        if incumbent is None
        else {
            "partner_id": incumbent.partner_id,
            "registration_id": incumbent.registration_id,
            "won_at": incumbent.won_at.isoformat(),
        },
        "house_account": None
        if house is None
        else {"name": house.name, "account_key": house.account_key, "similarity": house.similarity},
        "protection_key": facts.protection_key,
        **_company_evidence(facts),
    }


def _company_evidence(facts: Facts) -> dict[str, Any]:
    """The CRM company the customer is, how it was recognised ("former name", "alias
    domain") and its family ("subsidiary of X"), with the family policy that applied."""
    company = facts.situation.company
    if company is None:
        return {}
    mode = facts.policy.company_families.mode_for(facts.submission.product_line)
    return {"crm_company": {**company.as_evidence(), "family_policy": mode}}


def _match_evidence(match: Match, classification: str, facts: Facts) -> dict[str, Any]:
    """One match as ops see it; ``calibrated_probability`` is the policy's calibrated chance
    that it is the same account, from past review decisions (None until one is published)."""
    now = facts.now
    return {
        "registration_id": match.registration_id,
        "partner_id": match.partner_id,
        "submission_seq": match.submission_seq,
        "protection_key": match.protection_key,
        "customer": match.customer,
        "similarity": match.evidence.similarity,
        "name_score": match.evidence.name_score,
        "same_domain": match.evidence.same_domain,
        "calibrated_probability": facts.policy.matching.calibrated_probability(
            match.evidence.similarity
        ),
        "matched_fields": list(match.evidence.matched_fields),
        "classification": classification,
        "state": match.state if is_live(match, now) or match.state == "won" else "ended",
        "protection_expires_at": None if match.expires_at is None else match.expires_at.isoformat(),
    }
