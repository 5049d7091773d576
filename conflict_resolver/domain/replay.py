"""Policy what-if: replay past registrations through the rules under a draft policy.

Pure: an in-memory blocking index and protection table stand in for the database, so the
replay has no side effects. Registrations are replayed in submission order, each at the time
it was originally decided; protections end at their (simulated) expiry, or when the
registration was really withdrawn, won or lost. External facts (house account, direct
opportunity, incumbent, and the CRM company with its family) are taken from the original
decision's evidence; the draft's family policy says whether that family is one account.

When a protection ends without a win (expired, withdrawn, lost), the waitlist behind it moves
exactly as it does for real (``domain.protection.waitlist_move``): the next in line, by
submission order, is decided again at that moment, and its final decision is the one compared
with what was recorded (a promoted registration was recorded as approved).

Capacity caps count the live protections the replay itself has granted each partner, so a
tighter cap shows which later registrations it would have refused.

Known simplification: a case sent to review stays in review (the human's answer under the
draft policy is unknown).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import count
from typing import Any

from conflict_resolver.domain.families import AccountContext, protection_keys
from conflict_resolver.domain.matching import (
    CandidateIndex,
    CustomerProfile,
    NormalisedCustomer,
    normalise_customer,
    score,
)
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection import leaves_waitlist, waitlist_move
from conflict_resolver.domain.rules import (
    ClaimState,
    Decision,
    DirectOpportunity,
    Holdings,
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
    ended_as: str | None = None  # "withdrawn", "won" or "lost" (a win frees no waitlist)


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
    """The replay's claims, blocking index, pending endings and the decisions reached."""

    def __init__(self, ordered: list[PastRegistration], policy: Policy) -> None:
        self.policy = policy
        self.pasts = {past.submission.registration_id: past for past in ordered}
        self.indexes: dict[str, CandidateIndex] = {}
        self.claims: dict[str, _Claim] = {}
        self.waitlists: dict[tuple[str, str], dict[str, int]] = {}  # key, line -> id: seq
        self.final: dict[str, tuple[Decision, datetime | None]] = {}  # decision, promoted at
        self.held: dict[str, set[str]] = {}  # partner -> registrations holding protection
        self.keyed: dict[tuple[str, str], set[str]] = {}  # protection key, line -> claims
        # Endings and expiries by time, soonest first, so ending is O(log n) per protection
        # rather than a scan of every claim at every step (which made a long replay quadratic).
        self._order = count()
        self._due: list[tuple[datetime, int, str, str]] = []
        for past in ordered:
            if past.ended_at is not None:
                kind = past.ended_as or "withdrawn"
                self._push(past.ended_at, kind, past.submission.registration_id)

    def _push(self, at: datetime, kind: str, registration_id: str) -> None:
        heapq.heappush(self._due, (at, next(self._order), kind, registration_id))

    def matches(
        self,
        customer: NormalisedCustomer,
        product_line: str,
        company_keys: Iterable[str] = (),
    ) -> tuple[Match, ...]:
        """Claims blocking finds, and those held under the CRM company's (or family's) keys."""
        index = self.indexes.get(product_line)
        if index is None:
            return ()
        ids = set(index.candidates(customer))
        for key in company_keys:
            ids |= self.keyed.get((key, product_line), set())
        found = []
        for claim_id in sorted(ids):
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

    def end(self, registration_id: str) -> _Claim | None:
        claim = self.claims.pop(registration_id, None)
        if claim is not None:
            self.held.get(claim.partner_id, set()).discard(registration_id)
            self.indexes[claim.product_line].remove(registration_id)
            line = (claim.protection_key, claim.product_line)
            self.keyed.get(line, set()).discard(registration_id)
            self.waitlists.get(line, {}).pop(registration_id, None)
        return claim

    def advance(self, now: datetime) -> None:
        """Apply every ending and expiry due by ``now``, in time order, moving waitlists."""
        while self._due and self._due[0][0] <= now:
            at, _order, kind, registration_id = heapq.heappop(self._due)
            claim = self.claims.get(registration_id)
            if claim is None:
                continue
            if kind == "expired" and (claim.state != "protected" or claim.expires_at != at):
                continue
            self.end(registration_id)
            if claim.state == "protected" and kind != "won":
                self._move_waitlist(claim.protection_key, claim.product_line, at)

    def decide(self, past: PastRegistration, now: datetime) -> Decision:
        customer = _normalised(past)
        line = past.submission.product_line
        company = _company(past)
        company_keys: frozenset[str] = frozenset()
        if company is not None:
            mode = self.policy.company_families.mode_for(line)
            _, company_keys = protection_keys(
                company, mode, default_key=past.submission.account_key
            )
        matches = self.matches(customer, line, sorted(company_keys))
        situation = replace(
            _situation(past, matches), holdings=self.holdings(past, now), company=company
        )
        return decide(past.submission, situation, self.policy, now=now)

    def holdings(self, past: PastRegistration, now: datetime) -> Holdings:
        """The partner's live protections in the replay (counted only under a cap)."""
        if not self.policy.capacity.tiers:
            return Holdings()
        held = (self.claims[rid] for rid in self.held.get(past.submission.partner_id, ()))
        lines = [c.product_line for c in held if c.expires_at is None or c.expires_at > now]
        return Holdings(product_lines=tuple(sorted(lines)))

    def _move_waitlist(self, protection_key: str, product_line: str, now: datetime) -> None:
        line = self.waitlists.get((protection_key, product_line), {})
        waiting = [self.claims[rid] for rid in sorted(line, key=line.__getitem__)]
        for claim in waiting:
            past = self.pasts[claim.registration_id]
            decision = None
            if not leaves_waitlist(past.submission, now=now):
                decision = self.decide(past, now)
            move = waitlist_move(decision)
            if move.stays_waiting:
                return
            self.end(claim.registration_id)
            if decision is not None and move.recorded:
                self.final[claim.registration_id] = (decision, now)
                self.file(past, decision)
            if not move.moves_on:
                return

    def file(self, past: PastRegistration, decision: Decision) -> None:
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
            customer=_normalised(past),
            raw_customer=past.customer,
            expires_at=decision.protection_expires_at,
        )
        self.indexes.setdefault(sub.product_line, CandidateIndex()).add(
            sub.registration_id, _normalised(past)
        )
        keyed = (decision.protection_key, sub.product_line)
        self.keyed.setdefault(keyed, set()).add(sub.registration_id)
        if state == "waitlisted":
            line = (decision.protection_key, sub.product_line)
            self.waitlists.setdefault(line, {})[sub.registration_id] = sub.submission_seq
        if state == "protected":
            self.held.setdefault(sub.partner_id, set()).add(sub.registration_id)
        if state == "protected" and decision.protection_expires_at is not None:
            self._push(decision.protection_expires_at, "expired", sub.registration_id)


def _normalised(past: PastRegistration) -> NormalisedCustomer:
    customer = past.customer
    return normalise_customer(
        CustomerProfile(customer["name"], customer.get("domain"), customer.get("country"))
    )


def _company(past: PastRegistration) -> AccountContext | None:
    """The CRM company the original decision recognised (its family policy is the draft's)."""
    recorded = past.evidence.get("crm_company")
    return AccountContext.from_evidence(recorded) if recorded else None


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
    until: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> WhatIf:
    """Decide each registration again under ``policy`` and report the decisions that change.

    Endings and expiries up to ``until`` (default: the last recorded decision or ending) move
    the waitlists.
    """
    ordered = sorted(registrations, key=lambda past: past.submission.submission_seq)
    state = _State(ordered, policy)
    for number, past in enumerate(ordered, start=1):
        now = past.decided_at
        state.advance(now)
        decision = state.decide(past, now)
        state.final[past.submission.registration_id] = (decision, None)
        state.file(past, decision)
        if progress is not None:
            progress(number)
    moments = [past.decided_at for past in ordered] + [
        past.ended_at for past in ordered if past.ended_at is not None
    ]
    if until is not None or moments:
        state.advance(until or max(moments))
    changes: list[Change] = []
    transitions: dict[str, int] = {}
    for past in ordered:
        decision, promoted_at = state.final[past.submission.registration_id]
        change = _change(past, decision, promoted_at)
        if change is None:
            continue
        label = f"{change.before['outcome']} -> {change.after['outcome']}"
        transitions[label] = transitions.get(label, 0) + 1
        changes.append(change)
    return WhatIf(replayed=len(ordered), changed=tuple(changes), transitions=transitions)


def _change(
    past: PastRegistration, decision: Decision, promoted_at: datetime | None
) -> Change | None:
    if not past.reportable:
        return None
    before = {"outcome": past.outcome, "rule": past.rule, "reason_code": past.reason_code}
    after = {
        "outcome": decision.outcome,
        "rule": decision.rule,
        "reason_code": decision.reason_code,
    }
    if (before["outcome"], before["reason_code"]) == (after["outcome"], after["reason_code"]):
        return None
    why = _why(decision)
    if promoted_at is not None:
        why += f"; re-evaluated from the waitlist at {promoted_at.isoformat()}"
    return Change(
        registration_id=past.submission.registration_id,
        submission_seq=past.submission.submission_seq,
        before=before,
        after={**after, "reason": decision.reason},
        why=why,
    )


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
