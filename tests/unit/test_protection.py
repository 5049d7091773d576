"""Every change to a protection, pure: what approving, ending, extending and promoting do to
claims, protections, keys, cases and events, whichever path (rules, queue, SLA) asks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from conflict_resolver.domain import protection
from conflict_resolver.domain.policy import ExtensionPolicy, Policy, ProductLinePolicy
from conflict_resolver.domain.protection import Cause, Claim, Outcome, ReviewSituation
from conflict_resolver.domain.rules import Decision
from schemas.registration import (
    AmountData,
    CustomerData,
    ExtensionDenied,
    ExtensionRequested,
    PartnerSnapshot,
    ProtectionExpired,
    ProtectionExtended,
    RegistrationApproved,
    RegistrationRejected,
    RegistrationSentToReview,
    RegistrationSubmitted,
    WaitlistReevaluated,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LINE = "network-security"
CAUSE = Cause("event-1", "corr-1")


def registration(rid: str, seq: int, *, tier: str = "silver", close: date | None = None) -> Any:
    return RegistrationSubmitted(
        registration_id=rid,
        submission_seq=seq,
        submitted_at=NOW - timedelta(days=1),
        partner=PartnerSnapshot(
            id=f"partner-{rid}",
            name=f"Partner {rid}",
            tier=tier,  # type: ignore[arg-type]
            status="active",
            product_lines=(LINE,),
        ),
        customer=CustomerData(name="Acme Corporation", domain="acme.com", country="US"),
        account_key="d:acme.com",
        product_line=LINE,
        deal_type="new",
        amount=AmountData(value=Decimal(25000), currency="USD"),
        expected_close_date=close or date(2027, 6, 30),
    )


def claim(
    rid: str,
    seq: int,
    *,
    status: str = "approved",
    holds_until: datetime | None = None,
    waitlisted: bool = False,
    extension_count: int = 0,
    tier: str = "silver",
) -> Claim:
    return Claim(
        submitted=registration(rid, seq, tier=tier),
        status=status,
        protection_key="d:acme.com",
        correlation_id=f"corr-{rid}",
        holds_until=holds_until,
        waitlisted=waitlisted,
        extension_count=extension_count,
    )


def event_types(outcome: Outcome) -> list[str]:
    return [type(emission.payload).__name__ for emission in outcome.events]


def status_of(outcome: Outcome, rid: str) -> Any:
    updates = [u.values for u in outcome.claim_updates if u.registration_id == rid]
    return updates[-1].get("status") if updates else None


# --- Approving from the queue ------------------------------------------------------------------


def test_an_approval_from_the_queue_gets_the_product_line_window_like_the_rules() -> None:
    policy = Policy(
        tier_protection_windows={"gold": timedelta(days=120)},
        product_lines={LINE: ProductLinePolicy(protection_window=timedelta(days=14))},
    )
    reviewed = claim("r2", 2, status="pending_review", tier="gold")
    outcome = protection.approve_from_review(
        ReviewSituation(reviewed), policy, actor="ops:o1", now=NOW
    )
    [write] = outcome.protection_writes
    assert write.expires_at == NOW + timedelta(days=14)
    [approved] = [e.payload for e in outcome.events]
    assert isinstance(approved, RegistrationApproved)
    assert approved.protection_expires_at == NOW + timedelta(days=14)
    assert (approved.decided_by, approved.rule) == ("ops:o1", "manual_review")


def test_without_a_line_window_the_queue_uses_the_tier_window() -> None:
    policy = Policy(tier_protection_windows={"gold": timedelta(days=120)})
    reviewed = claim("r2", 2, status="pending_review", tier="gold")
    outcome = protection.approve_from_review(ReviewSituation(reviewed), policy, actor="a", now=NOW)
    assert outcome.protection_writes[0].expires_at == NOW + timedelta(days=120)


def test_an_approval_over_a_live_holder_is_refused() -> None:
    holder = claim("r1", 1, holds_until=NOW + timedelta(days=1))
    reviewed = claim("r2", 2, status="pending_review")
    with pytest.raises(protection.ProtectionConflictError, match="exclusivity"):
        protection.approve_from_review(
            ReviewSituation(reviewed, holder=holder), Policy(), actor="a", now=NOW
        )


def test_an_approval_over_a_stale_holder_ends_it_properly_first() -> None:
    holder = claim("r1", 1, holds_until=NOW - timedelta(seconds=1))
    reviewed = claim("r2", 2, status="pending_review")
    later = claim("r3", 3, status="rejected", waitlisted=True)
    situation = ReviewSituation(reviewed, holder=holder, waitlisted=(later,))
    outcome = protection.approve_from_review(situation, Policy(), actor="a", now=NOW)
    assert status_of(outcome, "r1") == "expired"
    assert status_of(outcome, "r2") == "approved"
    assert outcome.protection_deletes == ("r1",)
    assert [w.registration_id for w in outcome.protection_writes] == ["r2"]
    assert event_types(outcome) == ["ProtectionExpired", "RegistrationApproved"]
    expired = outcome.events[0]
    assert expired.cause.correlation_id == "corr-r1"  # the holder's own history
    # The reviewed registration takes the protection: the later one stays in line behind it.
    assert outcome.waitlists_to_move == ()
    assert status_of(outcome, "r3") is None


def test_an_approval_is_refused_while_an_earlier_registration_waits() -> None:
    """First-to-register: a waitlisted registration accepted before the one under review is
    entitled first; ending the stale holder promotes it, not the reviewed one."""
    holder = claim("r1", 1, holds_until=NOW - timedelta(seconds=1))
    earlier = claim("r2", 2, status="rejected", waitlisted=True)
    reviewed = claim("r3", 3, status="pending_review")
    situation = ReviewSituation(reviewed, holder=holder, waitlisted=(earlier,))
    assert "first-to-register" in (protection.approval_refusal(situation, now=NOW) or "")
    with pytest.raises(protection.ProtectionConflictError):
        protection.approve_from_review(situation, Policy(), actor="a", now=NOW)


def test_a_rejection_from_the_queue_names_no_one_and_drops_the_keys() -> None:
    reviewed = claim("r2", 2, status="pending_review")
    outcome = protection.reject_from_review(reviewed, Policy(), kept="r1", actor="a", now=NOW)
    [rejected] = [e.payload for e in outcome.events]
    assert isinstance(rejected, RegistrationRejected)
    assert rejected.reason_code == "REVIEW_REJECTED"
    assert "r1" not in rejected.reason
    assert "Partner" not in rejected.reason
    assert outcome.key_filings[0].keys == ()


def test_a_rejection_from_the_queue_says_whether_another_registration_was_kept() -> None:
    reviewed = claim("r2", 2, status="pending_review")
    kept = protection.reject_from_review(reviewed, Policy(), kept="r1", actor="a", now=NOW)
    none = protection.reject_from_review(reviewed, Policy(), kept=None, actor="a", now=NOW)
    [kept_event] = [e.payload for e in kept.events]
    [none_event] = [e.payload for e in none.events]
    assert "kept the other one" in kept_event.reason  # type: ignore[attr-defined]
    assert none_event.reason == protection.PARTNER_SENTENCE_REJECTED  # type: ignore[attr-defined]


# --- The SLA deadline ------------------------------------------------------------------------


def deadline(situation: ReviewSituation, mode: str = "approve_first") -> Any:
    return protection.decision_at_deadline(
        situation,
        Policy(sla_auto_decision=mode),  # type: ignore[arg-type]
        now=NOW,
    )


def test_at_the_deadline_a_stale_holder_does_not_block_approve_first() -> None:
    reviewed = claim("r2", 2, status="pending_review")
    stale = claim("r1", 1, holds_until=NOW - timedelta(seconds=1))
    verdict = deadline(ReviewSituation(reviewed, holder=stale, competing=(stale,)))
    assert verdict is not None
    assert verdict.approve


def test_at_the_deadline_a_live_holder_or_an_earlier_waiting_claim_wins() -> None:
    reviewed = claim("r3", 3, status="pending_review")
    live = claim("r1", 1, holds_until=NOW + timedelta(days=1))
    assert not deadline(ReviewSituation(reviewed, holder=live)).approve
    earlier = claim("r2", 2, status="rejected", waitlisted=True)
    assert not deadline(ReviewSituation(reviewed, waitlisted=(earlier,))).approve
    assert deadline(ReviewSituation(reviewed), "none") is None


# --- Endings ---------------------------------------------------------------------------------


def test_expiry_re_checks_the_window_under_the_lock() -> None:
    extended = claim("r1", 1, holds_until=NOW + timedelta(days=30))
    assert protection.expire(extended, now=NOW).empty
    already_ended = claim("r1", 1, status="expired", holds_until=None)
    assert protection.expire(already_ended, now=NOW).empty
    due = claim("r1", 1, holds_until=NOW)
    outcome = protection.expire(due, now=NOW)
    assert status_of(outcome, "r1") == "expired"
    [expired] = [e.payload for e in outcome.events]
    assert isinstance(expired, ProtectionExpired)
    assert [w.protection_key for w in outcome.waitlists_to_move] == ["d:acme.com"]


@pytest.mark.parametrize("ending", ["withdrawn", "lost"])
def test_ending_without_a_win_drops_the_keys_and_moves_the_waitlist(ending: str) -> None:
    holder = claim("r1", 1, holds_until=NOW + timedelta(days=1))
    outcome = protection.end(holder, ending, now=NOW, cause=CAUSE)  # type: ignore[arg-type]
    assert status_of(outcome, "r1") == ending
    assert outcome.events == ()
    assert outcome.key_filings[0].keys == ()
    assert len(outcome.waitlists_to_move) == 1


def test_a_win_makes_the_incumbent_and_keeps_the_waitlist_waiting() -> None:
    holder = claim("r1", 1, holds_until=NOW + timedelta(days=1))
    outcome = protection.close_deal(holder, "won", now=NOW, cause=CAUSE)
    assert status_of(outcome, "r1") == "won"
    assert [i.partner_id for i in outcome.incumbents] == ["partner-r1"]
    assert outcome.waitlists_to_move == ()
    late_win = claim("r1", 1, status="expired")
    assert status_of(protection.close_deal(late_win, "won", now=NOW, cause=CAUSE), "r1") == "won"
    assert protection.close_deal(late_win, "lost", now=NOW, cause=CAUSE).empty


def test_withdrawing_a_claim_in_review_closes_its_case() -> None:
    reviewed = claim("r2", 2, status="pending_review")
    outcome = protection.withdraw(reviewed, now=NOW, cause=CAUSE)
    assert status_of(outcome, "r2") == "withdrawn"
    assert [c.registration_id for c in outcome.cases_to_close] == ["r2"]
    assert protection.withdraw(claim("r2", 2, status="won"), now=NOW, cause=CAUSE).empty


# --- Extensions ------------------------------------------------------------------------------


def request(rid: str = "r1") -> ExtensionRequested:
    return ExtensionRequested(
        registration_id=rid, account_key="d:acme.com", product_line=LINE, requested_at=NOW
    )


def test_extensions_follow_the_policy_s_max_extensions() -> None:
    policy = Policy(extension=ExtensionPolicy(max_extensions=2, duration=timedelta(days=10)))
    until = NOW + timedelta(days=1)
    second = protection.extend(
        request(),
        claim("r1", 1, holds_until=until, extension_count=1),
        policy,
        now=NOW,
        cause=CAUSE,
    )
    [granted] = [e.payload for e in second.events]
    assert isinstance(granted, ProtectionExtended)
    assert granted.protection_expires_at == until + timedelta(days=10)
    assert second.protection_moves[0].expires_at == until + timedelta(days=10)
    assert second.claim_updates[0].values["extension_count"] == 2
    third = protection.extend(
        request(),
        claim("r1", 1, holds_until=until, extension_count=2),
        policy,
        now=NOW,
        cause=CAUSE,
    )
    [denied] = [e.payload for e in third.events]
    assert isinstance(denied, ExtensionDenied)
    assert denied.reason_code == "ALREADY_EXTENDED"
    assert third.protection_moves == ()


def test_an_unknown_or_unprotected_registration_is_denied() -> None:
    outcome = protection.extend(request("nobody"), None, Policy(), now=NOW, cause=CAUSE)
    [denied] = [e.payload for e in outcome.events]
    assert isinstance(denied, ExtensionDenied)
    assert denied.reason_code == "NOT_PROTECTED"


# --- Decisions and the waitlist --------------------------------------------------------------


def decision(outcome: str, *, waitlisted: bool = False, **extra: Any) -> Decision:
    return Decision(
        outcome=outcome,  # type: ignore[arg-type]
        rule="r",
        reason="why",
        protection_key="d:acme.com",
        waitlisted=waitlisted,
        **extra,
    )


def test_a_decision_files_keys_only_while_the_claim_is_live() -> None:
    submitted = registration("r1", 1)
    approved = decision("approved", protection_expires_at=NOW + timedelta(days=90))
    outcome = protection.record_decision(
        submitted, approved, Policy(), now=NOW, cause=CAUSE, case_id="c"
    )
    assert outcome.key_filings[0].keys
    assert event_types(outcome) == ["RegistrationApproved"]
    plain = protection.record_decision(
        submitted, decision("rejected"), Policy(), now=NOW, cause=CAUSE, case_id="c"
    )
    assert plain.key_filings[0].keys == ()
    review = protection.record_decision(
        submitted, decision("pending_review"), Policy(), now=NOW, cause=CAUSE, case_id="c-9"
    )
    [sent] = [e.payload for e in review.events]
    assert isinstance(sent, RegistrationSentToReview)
    assert sent.conflict_id == review.cases_to_open[0].case_id == "c-9"


@pytest.mark.parametrize("outcome", ["approved", "rejected", "pending_review"])
def test_a_decision_event_carries_what_the_resolver_records_of_it(outcome: str) -> None:
    """The claim's canonical key and evidence (and a case's competing claims) travel on the
    decision event, so the record can be rebuilt from the topics without deciding again."""
    evidence = {"matches": [{"registration_id": "r0", "score": 0.93}], "house_account": None}
    decided = decision(
        outcome,
        protection_expires_at=NOW + timedelta(days=90) if outcome == "approved" else None,
        evidence=evidence,
        competing_registration_ids=("r0",),
    )
    recorded = protection.record_decision(
        registration("r1", 1), decided, Policy(), now=NOW, cause=CAUSE, case_id="c-1"
    )
    [event] = [e.payload for e in recorded.events]
    [claim_update] = recorded.claim_updates
    assert event.protection_key == claim_update.values["protection_key"] == "d:acme.com"  # type: ignore[attr-defined]
    assert event.evidence == claim_update.values["evidence"] == evidence  # type: ignore[attr-defined]
    if outcome == "pending_review":
        [case] = recorded.cases_to_open
        assert isinstance(event, RegistrationSentToReview)
        assert event.evidence == case.evidence
        assert event.competing_registration_ids == tuple(case.competing_registration_ids)
    again = type(event).model_validate_json(event.model_dump_json())
    assert again == event  # JSON on the topic, the same record back


def test_the_waitlist_head_is_promoted_stays_or_leaves() -> None:
    waiting = registration("r2", 2)
    approved = decision("approved", protection_expires_at=NOW + timedelta(days=90))
    promoted = protection.waitlist_step(
        waiting, approved, Policy(), now=NOW, cause=CAUSE, case_id="c"
    )
    assert not promoted.moves_on
    [event] = [e.payload for e in promoted.outcome.events]
    assert isinstance(event, RegistrationApproved)
    assert event.reason_code == "WAITLIST_PROMOTED"
    still = protection.waitlist_step(
        waiting, decision("rejected", waitlisted=True), Policy(), now=NOW, cause=CAUSE, case_id="c"
    )
    assert not still.moves_on
    # Nothing partners are told; the resolver's record of the key it waits on is on the topics.
    [kept] = [e.payload for e in still.outcome.events]
    assert isinstance(kept, WaitlistReevaluated)
    assert kept.protection_key == still.outcome.claim_updates[0].values["protection_key"]
    other = protection.waitlist_step(
        waiting, decision("rejected"), Policy(), now=NOW, cause=CAUSE, case_id="c"
    )
    assert other.moves_on
    left = protection.waitlist_step(waiting, None, Policy(), now=NOW, cause=CAUSE, case_id="c")
    assert left.moves_on
    assert left.outcome.claim_updates[0].values == {"waitlisted": False}


def test_a_waitlisted_registration_leaves_when_its_close_date_passed() -> None:
    stale = protection.submission_of(registration("r2", 2, close=date(2026, 11, 1)))
    fresh = protection.submission_of(registration("r3", 3))
    assert protection.leaves_waitlist(stale, now=NOW)
    assert not protection.leaves_waitlist(fresh, now=NOW)


# --- Leaving the waitlist ----------------------------------------------------------------------


def waiting(rid: str, seq: int, close: date) -> Claim:
    return Claim(
        submitted=registration(rid, seq, close=close),
        status="rejected",
        protection_key="d:acme.com",
        correlation_id=f"corr-{rid}",
        waitlisted=True,
    )


def test_a_waitlisted_claim_leaves_at_its_close_date_and_the_partner_is_told() -> None:
    past = waiting("r2", 2, close=NOW.date() - timedelta(days=1))
    outcome = protection.close_waitlist(past, now=NOW)
    assert event_types(outcome) == ["WaitlistLeft"]
    left = outcome.events[0].payload
    assert left.reason_code == "WAITLIST_LEFT"  # type: ignore[attr-defined]
    assert "Partner" not in left.reason  # type: ignore[attr-defined]
    assert outcome.claim_updates[0].values == {"waitlisted": False}
    assert outcome.key_filings[0].keys == ()  # its keys are dropped
    assert outcome.events[0].cause.correlation_id == "corr-r2"


def test_a_waitlisted_claim_stays_until_its_close_date_has_passed() -> None:
    assert protection.close_waitlist(waiting("r2", 2, close=NOW.date()), now=NOW).empty
    promoted = claim("r2", 2, status="approved", holds_until=NOW + timedelta(days=1))
    assert protection.close_waitlist(promoted, now=NOW).empty


def test_the_waitlist_walk_tells_a_head_whose_close_date_passed() -> None:
    head = registration("r2", 2, close=NOW.date() - timedelta(days=3))
    step = protection.waitlist_step(
        head, None, Policy(), now=NOW, cause=Cause(None, "corr-r2"), case_id="case-1"
    )
    assert step.moves_on
    assert event_types(step.outcome) == ["WaitlistLeft"]
