"""What partners see change: their own actions and the other services' events, as pure rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from deal_registration.adapters.rate_limit import RateLimiter
from deal_registration.domain import lifecycle
from deal_registration.domain.lifecycle import Current, Extension, Status
from deal_registration.domain.rate_limit import TokenBucket
from schemas.crm import CrmDealClosed, CrmOpportunityChanged
from schemas.registration import (
    AmountData,
    CustomerData,
    ExtensionDenied,
    ProtectionExpired,
    RegistrationApproved,
    RegistrationRejected,
    RegistrationSentToReview,
    RegistrationSummary,
    WaitlistLeft,
)

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
IDS = {"registration_id": "r-1", "account_key": "d:acme.com", "product_line": "network-security"}


def approval(reason_code: str | None = None) -> RegistrationApproved:
    return RegistrationApproved(
        **IDS,
        decided_at=NOW,
        protection_expires_at=NOW + timedelta(days=90),
        policy_version=1,
        rule="approve",
        reason="Approved.",
        reason_code=reason_code,
        registration=RegistrationSummary(
            partner_id="p",
            partner_name="P",
            customer=CustomerData(name="Acme", country="US"),
            product_line="network-security",
            deal_type="new",
            amount=AmountData(value="1", currency="USD"),
            expected_close_date=date(2027, 1, 1),
            submitted_at=NOW,
        ),
    )


@pytest.mark.parametrize("status", [Status.SUBMITTED, Status.PENDING_REVIEW, Status.APPROVED])
def test_live_registrations_can_be_withdrawn(status: Status) -> None:
    change = lifecycle.withdraw(Current(status), now=NOW)
    assert change.updates["status"] == "withdrawn"
    assert change.entry is not None
    assert change.entry.webhook_type == "registration.withdrawn"
    assert ("protection_expires_at" in change.updates) is (status is Status.APPROVED)


@pytest.mark.parametrize(
    "status", [Status.REJECTED, Status.WON, Status.LOST, Status.EXPIRED, Status.WITHDRAWN]
)
def test_closed_registrations_cannot_be_withdrawn(status: Status) -> None:
    with pytest.raises(lifecycle.TransitionRefusedError, match="cannot be withdrawn"):
        lifecycle.withdraw(Current(status), now=NOW)


def test_an_extension_is_asked_while_approved_and_protected_one_request_at_a_time() -> None:
    protected = Current(Status.APPROVED, protection_expires_at=NOW + timedelta(days=1))
    assert lifecycle.request_extension(protected, now=NOW).updates["extension_state"] == "requested"
    for current in (
        Current(Status.SUBMITTED),
        Current(Status.APPROVED, extension=Extension.REQUESTED),
        Current(Status.APPROVED, protection_expires_at=NOW),
    ):
        with pytest.raises(lifecycle.TransitionRefusedError):
            lifecycle.request_extension(current, now=NOW)


@pytest.mark.parametrize("answered", [Extension.GRANTED, Extension.DENIED])
def test_after_an_answer_the_partner_may_ask_again_and_the_resolver_s_policy_decides(
    answered: Extension,
) -> None:
    """The policy's ``max_extensions`` is the resolver's to enforce (it answers
    ``ExtensionDenied`` with the reason); intake does not second-guess it."""
    extended = Current(
        Status.APPROVED, extension=answered, protection_expires_at=NOW + timedelta(days=30)
    )
    change = lifecycle.request_extension(extended, now=NOW)
    assert change.updates["extension_state"] == "requested"


def test_a_waitlisted_rejection_is_promoted_but_a_late_approval_is_ignored() -> None:
    promoted = lifecycle.change_for(approval("WAITLIST_PROMOTED"), WAITLISTED, now=NOW)
    assert promoted is not None
    assert promoted.updates["reason_code"] == "WAITLIST_PROMOTED"
    assert lifecycle.change_for(approval(), Current(Status.WITHDRAWN), now=NOW) is None


WAITLISTED = Current(Status.REJECTED, reason_code="ALREADY_REGISTERED")


def sent_to_review() -> RegistrationSentToReview:
    return RegistrationSentToReview(
        **IDS,
        decided_at=NOW,
        policy_version=1,
        rule="possible_duplicate",
        reason_code="POSSIBLE_DUPLICATE",
        reason="Sent to review.",
        conflict_id="c-1",
        due_at=NOW + timedelta(hours=48),
    )


def test_a_waitlisted_registration_promoted_into_review_shows_pending_review() -> None:
    change = lifecycle.change_for(sent_to_review(), WAITLISTED, now=NOW)
    assert change is not None
    assert change.updates["status"] == "pending_review"
    assert change.entry is not None
    assert change.entry.webhook_type == "registration.pending_review"


def test_only_a_waitlisted_rejection_is_decided_again() -> None:
    reviewed_out = Current(Status.REJECTED, reason_code="REVIEW_REJECTED")
    assert lifecycle.change_for(sent_to_review(), reviewed_out, now=NOW) is None
    assert lifecycle.change_for(approval("WAITLIST_PROMOTED"), reviewed_out, now=NOW) is None


def test_an_ops_rejection_after_a_promotion_into_review_is_shown_with_its_actor() -> None:
    rejected = RegistrationRejected(
        **IDS,
        decided_at=NOW,
        policy_version=1,
        rule="manual_review",
        reason_code="REVIEW_REJECTED",
        reason="Not approved.",
        decided_by="ops:user-7",
    )
    change = lifecycle.change_for(rejected, Current(Status.PENDING_REVIEW), now=NOW)
    assert change is not None
    assert change.updates["status"] == "rejected"
    assert lifecycle.actor_of(rejected) == "ops:user-7"
    assert lifecycle.actor_for_partner("ops:user-7") == "ops"


def test_a_waitlisted_registration_rejected_again_for_another_reason_is_told() -> None:
    ineligible = RegistrationRejected(
        **IDS,
        decided_at=NOW,
        policy_version=1,
        rule="eligibility",
        reason_code="PARTNER_INELIGIBLE",
        reason="The partner is not active.",
    )
    change = lifecycle.change_for(ineligible, WAITLISTED, now=NOW)
    assert change is not None
    assert (change.updates["status"], change.updates["reason_code"]) == (
        "rejected",
        "PARTNER_INELIGIBLE",
    )
    still_waiting = ineligible.model_copy(
        update={"reason_code": "ALREADY_REGISTERED", "waitlisted": True}
    )
    assert lifecycle.change_for(still_waiting, WAITLISTED, now=NOW) is None
    reviewed_out = Current(Status.REJECTED, reason_code="REVIEW_REJECTED")
    assert lifecycle.change_for(ineligible, reviewed_out, now=NOW) is None


def left(at: datetime = NOW) -> WaitlistLeft:
    return WaitlistLeft(
        **IDS,
        left_at=at,
        expected_close_date=date(2026, 11, 26),
        reason="Your expected close date passed: it left the waitlist.",
    )


def test_leaving_the_waitlist_keeps_it_rejected_with_its_own_reason() -> None:
    change = lifecycle.change_for(left(), WAITLISTED, now=NOW)
    assert change is not None
    assert "status" not in change.updates
    assert change.updates["reason_code"] == "WAITLIST_LEFT"
    assert change.entry is not None
    assert (change.entry.status, change.entry.webhook_type) == (
        Status.REJECTED,
        "registration.waitlist_left",
    )
    assert lifecycle.change_for(left(), Current(Status.APPROVED), now=NOW) is None
    gone = Current(Status.REJECTED, reason_code="WAITLIST_LEFT")
    assert lifecycle.change_for(left(), gone, now=NOW) is None


def test_a_deal_won_after_its_protection_expired_shows_won() -> None:
    won = CrmDealClosed(
        **IDS, crm_system="hubspot", opportunity_id="o", outcome="won", closed_at=NOW
    )
    change = lifecycle.change_for(won, Current(Status.EXPIRED), now=NOW)
    assert change is not None
    assert (change.updates["status"], change.updates["reason_code"]) == ("won", "WON")
    assert lifecycle.actor_of(won) == "crm"
    lost = CrmDealClosed(
        **IDS, crm_system="hubspot", opportunity_id="o", outcome="lost", closed_at=NOW
    )
    assert lifecycle.change_for(lost, Current(Status.EXPIRED), now=NOW) is None


@pytest.mark.parametrize(
    ("stored", "ops_read", "partner_read"),
    [
        ("rules", "rules", "rules"),
        ("conflict_resolver", "rules", "rules"),
        ("crm_sync", "crm", "crm"),
        ("ops:user-7", "ops:user-7", "ops"),
        ("policy:sla", "policy:sla", "rules"),
        ("partner:p-1", "partner:p-1", "partner"),
        ("admin", "admin", "admin"),
    ],
)
def test_ops_read_every_actor_and_partners_only_its_kind(
    stored: str, ops_read: str, partner_read: str
) -> None:
    assert lifecycle.actor_for_ops(stored) == ops_read
    assert lifecycle.actor_for_partner(stored) == partner_read


def test_expiry_and_crm_outcomes_close_an_approved_registration() -> None:
    expired = lifecycle.change_for(
        ProtectionExpired(**IDS, expired_at=NOW), Current(Status.APPROVED), now=NOW
    )
    assert expired is not None
    assert expired.updates["status"] == "expired"
    lost = CrmDealClosed(
        **IDS, crm_system="hubspot", opportunity_id="o", outcome="lost", closed_at=NOW
    )
    change = lifecycle.change_for(lost, Current(Status.APPROVED), now=NOW)
    assert change is not None
    assert (change.updates["status"], change.updates["reason_code"]) == ("lost", "LOST")


def test_a_crm_change_older_than_the_last_one_is_ignored() -> None:
    base = {k: v for k, v in IDS.items() if k != "product_line"}
    old = CrmOpportunityChanged(
        **base, crm_system="hubspot", opportunity_id="o", stage="a", changed_at=NOW
    )
    assert lifecycle.change_for(old, Current(Status.APPROVED, crm_changed_at=NOW), now=NOW) is None
    new = old.model_copy(update={"changed_at": NOW + timedelta(seconds=1)})
    change = lifecycle.change_for(new, Current(Status.APPROVED, crm_changed_at=NOW), now=NOW)
    assert change is not None
    assert change.entry is None  # a stage move is not a status step


def test_the_crm_s_amount_and_close_date_update_the_registration() -> None:
    base = {k: v for k, v in IDS.items() if k != "product_line"}
    changed = CrmOpportunityChanged(
        **base,
        crm_system="salesforce",
        opportunity_id="006A",
        stage="negotiation",
        amount=AmountData(value=Decimal("140000.00"), currency="EUR"),
        close_date=date(2027, 5, 31),
        changed_at=NOW,
    )
    change = lifecycle.change_for(changed, Current(Status.APPROVED), now=NOW)
    assert change is not None
    assert change.updates["crm_stage"] == "negotiation"
    assert (change.updates["amount_value"], change.updates["amount_currency"]) == (
        Decimal("140000.00"),
        "EUR",
    )
    assert change.updates["expected_close_date"] == date(2027, 5, 31)
    assert "status" not in change.updates  # a sales change is not a status step


def test_a_denied_extension_is_shown_once() -> None:
    denied = ExtensionDenied(**IDS, decided_at=NOW, reason_code="TOO_LATE", reason="Too late.")
    change = lifecycle.change_for(
        denied, Current(Status.APPROVED, extension=Extension.REQUESTED), now=NOW
    )
    assert change is not None
    assert change.updates["extension_state"] == "denied"
    assert (
        lifecycle.change_for(denied, Current(Status.APPROVED, extension=Extension.DENIED), now=NOW)
        is None
    )


def test_the_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket.full(rate=20, burst=40, now=0)
    assert [bucket.take(0) for _ in range(40)] == [0.0] * 40
    assert bucket.take(0) == pytest.approx(0.05)
    assert bucket.take(0.05) == 0.0
    assert bucket.take(0.05) > 0


def test_the_limiter_keeps_one_bucket_per_key_and_says_when_to_retry() -> None:
    clock = [0.0]
    limiter = RateLimiter(rate=1, burst=2, monotonic=lambda: clock[0])
    assert [limiter.check("a"), limiter.check("a"), limiter.check("a")] == [None, None, 1]
    assert limiter.check("b") is None
    clock[0] = 1.0
    assert limiter.check("a") is None
