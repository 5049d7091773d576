"""Policy what-if: replay past registrations through the rules under a draft policy.

Pure: an in-memory blocking index and protection table stand in for the database, so the
replay has no side effects. Registrations are replayed in submission order, each at the time
it was originally decided; protections end at their (simulated) expiry, or when the
registration was really withdrawn, won or lost. External facts (house account, direct
opportunity, incumbent) are taken from the original decision's evidence.

Known simplifications: a case sent to review stays in review (the human's answer under the
draft policy is unknown), and waitlisted registrations are not promoted inside the replay.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conflict_resolver.domain.matching import (
    CandidateIndex,
    CustomerProfile,
    NormalisedCustomer,
    normalise_customer,
    score,
)
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.rules import (
    ClaimState,
    Decision,
    DirectOpportunity,
    HouseAccountHit,
    Incumbent,
    Match,
    Situation,
    Submission,
    decide,
)


@dataclass(frozen=True)
class PastRegistration:
    """One registration as recorded: what was submitted and what happened to it."""

    submission: Submission
    customer: dict[str, Any]
    submitted_at: datetime
    decided_at: datetime
    outcome: str
    rule: str | None
    reason_code: str | None
    evidence: dict[str, Any]
    ended_at: datetime | None = None  # withdrawn, won or lost at this time
    reportable: bool = True  # inside the requested range


@dataclass(frozen=True)
class Change:
    registration_id: str
    submission_seq: int
    before: dict[str, Any]
    after: dict[str, Any]
    why: str


@dataclass(frozen=True)
class WhatIf:
    replayed: int
    changed: tuple[Change, ...]
    transitions: dict[str, int]


@dataclass
class _Claim:
    registration_id: str
    partner_id: str
    submission_seq: int
    protection_key: str
    product_line: str
    state: ClaimState
    customer: NormalisedCustomer
    raw_customer: dict[str, Any]
    expires_at: datetime | None


class _State:
    def __init__(self) -> None:
        self.indexes: dict[str, CandidateIndex] = {}
        self.claims: dict[str, _Claim] = {}
        # Protections by expiry, soonest first, so expiring is O(log n) per protection rather
        # than a scan of every claim at every step (which made a long replay quadratic).
        self._expiries: list[tuple[datetime, str]] = []

    def matches(self, customer: NormalisedCustomer, product_line: str) -> tuple[Match, ...]:
        index = self.indexes.get(product_line)
        if index is None:
            return ()
        found = []
        for claim_id in sorted(index.candidates(customer)):
            claim = self.claims[claim_id]
            found.append(
                Match(
                    registration_id=claim.registration_id,
                    partner_id=claim.partner_id,
                    submission_seq=claim.submission_seq,
                    protection_key=claim.protection_key,
                    state=claim.state,
                    evidence=score(customer, claim.customer),
                    customer=claim.raw_customer,
                    expires_at=claim.expires_at,
                )
            )
        return tuple(found)

    def end(self, registration_id: str) -> None:
        claim = self.claims.pop(registration_id, None)
        if claim is not None:
            self.indexes[claim.product_line].remove(registration_id)

    def expire(self, now: datetime) -> None:
        while self._expiries and self._expiries[0][0] <= now:
            _expires_at, registration_id = heapq.heappop(self._expiries)
            claim = self.claims.get(registration_id)
            if claim is not None and claim.state == "protected":
                self.end(registration_id)

    def file(
        self, past: PastRegistration, decision: Decision, customer: NormalisedCustomer
    ) -> None:
        state: ClaimState | None = {
            "approved": "protected",
            "pending_review": "in_review",
        }.get(decision.outcome)  # type: ignore[assignment]
        if decision.waitlisted:
            state = "waitlisted"
        if state is None:
            return
        sub = past.submission
        self.claims[sub.registration_id] = _Claim(
            registration_id=sub.registration_id,
            partner_id=sub.partner_id,
            submission_seq=sub.submission_seq,
            protection_key=decision.protection_key,
            product_line=sub.product_line,
            state=state,
            customer=customer,
            raw_customer=past.customer,
            expires_at=decision.protection_expires_at,
        )
        self.indexes.setdefault(sub.product_line, CandidateIndex()).add(
            sub.registration_id, customer
        )
        if state == "protected" and decision.protection_expires_at is not None:
            heapq.heappush(self._expiries, (decision.protection_expires_at, sub.registration_id))


def _situation(past: PastRegistration, matches: tuple[Match, ...]) -> Situation:
    evidence = past.evidence
    house = evidence.get("house_account")
    direct = evidence.get("direct_opportunity")
    incumbent = evidence.get("incumbent")
    return Situation(
        matches=matches,
        house_account=None
        if not house
        else HouseAccountHit(house["name"], house["account_key"], house["similarity"]),
        direct_opportunity=None
        if not direct
        else DirectOpportunity(
            direct["opportunity_id"],
            direct["crm_system"],
            direct["account_key"],
            datetime.fromisoformat(direct["opened_at"]),
        ),
        incumbent=None
        if not incumbent
        else Incumbent(
            incumbent["partner_id"],
            incumbent["registration_id"],
            datetime.fromisoformat(incumbent["won_at"]),
        ),
    )


def replay(
    registrations: Iterable[PastRegistration],
    policy: Policy,
    *,
    progress: Callable[[int], None] | None = None,
) -> WhatIf:
    """Decide each registration again under ``policy`` and report the decisions that change."""
    ordered = sorted(registrations, key=lambda past: past.submission.submission_seq)
    state = _State()
    endings = sorted(
        (past.ended_at, past.submission.registration_id)
        for past in ordered
        if past.ended_at is not None
    )
    changes: list[Change] = []
    transitions: dict[str, int] = {}
    for number, past in enumerate(ordered, start=1):
        now = past.decided_at
        while endings and endings[0][0] <= now:
            state.end(endings.pop(0)[1])
        state.expire(now)
        customer = normalise_customer(
            CustomerProfile(
                past.customer["name"], past.customer.get("domain"), past.customer.get("country")
            )
        )
        matches = state.matches(customer, past.submission.product_line)
        decision = decide(past.submission, _situation(past, matches), policy, now=now)
        state.file(past, decision, customer)
        if progress is not None:
            progress(number)
        if not past.reportable:
            continue
        before = {"outcome": past.outcome, "rule": past.rule, "reason_code": past.reason_code}
        after = {
            "outcome": decision.outcome,
            "rule": decision.rule,
            "reason_code": decision.reason_code,
        }
        if (before["outcome"], before["reason_code"]) == (after["outcome"], after["reason_code"]):
            continue
        label = f"{past.outcome} -> {decision.outcome}"
        transitions[label] = transitions.get(label, 0) + 1
        changes.append(
            Change(
                registration_id=past.submission.registration_id,
                submission_seq=past.submission.submission_seq,
                before=before,
                after={**after, "reason": decision.reason},
                why=_why(decision),
            )
        )
    return WhatIf(replayed=len(ordered), changed=tuple(changes), transitions=transitions)


def _why(decision: Decision) -> str:
    matches = decision.evidence.get("matches", [])
    detail = ""
    if matches:
        best = max(matches, key=lambda m: m["similarity"])
        detail = (
            f"; closest claim {best['registration_id']} ({best['classification']}, "
            f"similarity {best['similarity']:.2f}, {best['state']})"
        )
    return f"rule {decision.rule} fired" + detail
