"""Coded rejections, one appeal and return for edit, pure: the resolver's outcomes (claims,
cases, events) and the partner's lifecycle (what it may do, what it is told)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conflict_resolver.domain import protection
from conflict_resolver.domain.policy import ExtensionPolicy, Policy, ReviewPolicy
from conflict_resolver.domain.protection import CaseToReopen, Cause
from deal_registration.domain import lifecycle
from deal_registration.domain.lifecycle import Current, Status
from schemas.registration import (
    ExtensionDenied,
    ExtensionRequested,
    ProtectionExtended,
    RegistrationRejected,
    RegistrationSentToReview,
)
from schemas.review import RegistrationAppealed, RegistrationReturnedForEdit
from schemas.review_reasons import REJECTION_REASONS, rejection_sentence
from tests.unit.test_protection import NOW, claim

CAUSE = Cause("event-1", "corr-1")

# --- the resolver: a coded rejection ---------------------------------------------------------


def test_a_coded_rejection_tells_the_partner_the_code_and_its_published_sentence() -> None:
    reviewed = claim("r2", 2, status="pending_review")
    outcome = protection.reject_from_review(
        reviewed, Policy(), kept="r1", actor="ops:u1", now=NOW, reason_code="INSUFFICIENT_DETAILS"
    )
    [rejected] = [e.payload for e in outcome.events]
    assert isinstance(rejected, RegistrationRejected)
    assert rejected.reason_code == "INSUFFICIENT_DETAILS"
    assert rejected.reason == rejection_sentence("INSUFFICIENT_DETAILS")
    assert outcome.claim_updates[0].values["reason_code"] == "INSUFFICIENT_DETAILS"


def test_every_published_sentence_names_no_one() -> None:
    for code, sentence in REJECTION_REASONS.items():
        assert code.isupper()
        assert sentence.endswith(".")
        assert "Partner " not in sentence  # never "Partner Foo", only "your partner account"


# --- the resolver: an appeal -----------------------------------------------------------------


def appeal(rid: str = "r2", code: str = "OTHER") -> RegistrationAppealed:
    return RegistrationAppealed(
        registration_id=rid,
        account_key="d:acme.com",
        product_line="network-security",
        appealed_at=NOW,
        note="The customer signed a letter of intent with us.",
        rejection_code=code,
    )


def test_an_appeal_reopens_the_case_with_its_own_sla_and_puts_the_claim_back_in_review() -> None:
    rejected = claim("r2", 2, status="rejected")
    policy = Policy(reviews=ReviewPolicy(appeal_sla=timedelta(hours=24)))
    outcome = protection.reopen_on_appeal(
        appeal(), rejected, policy, case_id="case-1", by_review=True, now=NOW, cause=CAUSE
    )
    [reopened] = outcome.cases_to_reopen
    assert reopened == CaseToReopen(
        case_id="case-1",
        registration_id="r2",
        reopened_at=NOW,
        due_at=NOW + timedelta(hours=24),
        actor="partner:partner-r2",
        note=appeal().note,
    )
    assert outcome.claim_updates[0].values["status"] == "pending_review"
    assert outcome.key_filings[0].keys  # live again: others see it while it is reviewed
    [sent] = [e.payload for e in outcome.events]
    assert isinstance(sent, RegistrationSentToReview)
    assert (sent.reason_code, sent.conflict_id) == ("APPEALED", "case-1")
    assert sent.due_at == NOW + timedelta(hours=24)
    assert "note" not in sent.reason.lower()


def test_an_appeal_of_anything_but_a_reviewers_rejection_changes_nothing() -> None:
    approved = claim("r2", 2, status="approved")
    rejected = claim("r2", 2, status="rejected")
    for current, by_review in ((approved, True), (rejected, False), (None, True)):
        outcome = protection.reopen_on_appeal(
            appeal(), current, Policy(), case_id="c", by_review=by_review, now=NOW, cause=CAUSE
        )
        assert outcome.empty


# --- the resolver: return for edit -----------------------------------------------------------


def test_a_return_for_edit_asks_the_partner_and_counts_the_round_trip() -> None:
    reviewed = claim("r2", 2, status="pending_review")
    outcome = protection.return_for_edit(
        reviewed,
        Policy(),
        comments="Please add the customer's web domain.",
        fields=("customer.domain",),
        round_trips_so_far=0,
        actor="ops:u1",
        now=NOW,
    )
    values = outcome.claim_updates[0].values
    assert (values["status"], values["edit_round_trips"]) == ("action_required", 1)
    assert outcome.key_filings[0].keys == ()
    [returned] = [e.payload for e in outcome.events]
    assert isinstance(returned, RegistrationReturnedForEdit)
    assert returned.editable_fields == ("customer.domain",)
    assert (returned.round_trip, returned.max_round_trips) == (1, 2)


def test_past_the_policys_round_trips_the_reviewer_must_decide() -> None:
    reviewed = claim("r2", 2, status="pending_review")
    with pytest.raises(protection.ProtectionConflictError, match="round trips"):
        protection.return_for_edit(
            reviewed,
            Policy(reviews=ReviewPolicy(max_edit_round_trips=2)),
            comments="Again.",
            fields=("amount",),
            round_trips_so_far=2,
            actor="ops:u1",
            now=NOW,
        )


# --- the partner's lifecycle -----------------------------------------------------------------


def rejected_by_review(code: str = "OTHER", *, appealed: bool = False) -> Current:
    return Current(status=Status.REJECTED, reason_code=code, appealed=appealed)


def test_a_reviewers_rejection_may_be_appealed_once() -> None:
    change = lifecycle.appeal(rejected_by_review("INSUFFICIENT_DETAILS"), now=NOW)
    assert change.updates["appealed_at"] == NOW
    assert change.entry is not None
    assert (change.entry.status, change.entry.reason_code, change.entry.webhook_type) == (
        Status.REJECTED,
        "APPEALED",
        "registration.appealed",
    )
    with pytest.raises(lifecycle.TransitionRefusedError, match="once"):
        lifecycle.appeal(rejected_by_review(appealed=True), now=NOW)


def test_only_a_reviewers_rejection_may_be_appealed() -> None:
    for current in (
        Current(status=Status.REJECTED, reason_code="BELOW_MINIMUM"),
        Current(status=Status.REJECTED, reason_code="ALREADY_REGISTERED"),
        Current(status=Status.APPROVED),
    ):
        with pytest.raises(lifecycle.TransitionRefusedError):
            lifecycle.appeal(current, now=NOW)


def sent_back_to_review() -> RegistrationSentToReview:
    return RegistrationSentToReview(
        registration_id="r2",
        account_key="d:acme.com",
        product_line="network-security",
        decided_at=NOW,
        policy_version=1,
        rule="appeal",
        reason_code="APPEALED",
        reason="Your appeal is under review.",
        conflict_id="case-1",
        due_at=NOW + timedelta(days=2),
    )


def test_an_appealed_rejection_goes_back_to_review_but_a_plain_one_does_not() -> None:
    appealed = lifecycle.change_for(
        sent_back_to_review(), rejected_by_review(appealed=True), now=NOW
    )
    assert appealed is not None
    assert appealed.updates["status"] == "pending_review"
    assert lifecycle.change_for(sent_back_to_review(), rejected_by_review(), now=NOW) is None


def returned(fields: tuple[str, ...] = ("customer.domain",)) -> RegistrationReturnedForEdit:
    return RegistrationReturnedForEdit(
        registration_id="r2",
        account_key="d:acme.com",
        product_line="network-security",
        returned_at=NOW,
        comments="Please add the customer's web domain.",
        editable_fields=fields,
        round_trip=1,
        max_round_trips=2,
        decided_by="ops:u1",
    )


def test_a_return_for_edit_asks_the_partner_with_the_comments() -> None:
    change = lifecycle.change_for(returned(), Current(status=Status.PENDING_REVIEW), now=NOW)
    assert change is not None
    assert change.updates["status"] == "action_required"
    assert change.updates["editable_fields"] == ["customer.domain"]
    assert change.entry is not None
    assert change.entry.reason == "Please add the customer's web domain."
    assert change.entry.reason_code == "RETURNED_FOR_EDIT"
    assert lifecycle.change_for(returned(), Current(status=Status.APPROVED), now=NOW) is None


def action_required(fields: tuple[str, ...] = ("customer.domain",)) -> Current:
    return Current(status=Status.ACTION_REQUIRED, editable_fields=fields)


def test_an_edit_may_change_only_the_fields_returned() -> None:
    with pytest.raises(lifecycle.FieldsRefusedError) as refused:
        lifecycle.edit(action_required(), changed=("customer.domain", "product_line"), now=NOW)
    assert refused.value.fields == ("product_line",)
    change = lifecycle.edit(action_required(), changed=("customer.domain",), now=NOW)
    assert change.updates["status"] == "submitted"
    assert change.entry is not None
    assert (change.entry.status, change.entry.reason_code) == (Status.SUBMITTED, "EDITED")


def test_an_approved_registration_amends_only_its_sales_fields() -> None:
    approved = Current(status=Status.APPROVED, protection_expires_at=NOW + timedelta(days=9))
    change = lifecycle.edit(approved, changed=("amount", "expected_close_date"), now=NOW)
    assert "status" not in change.updates
    assert change.entry is not None
    assert change.entry.webhook_type == "registration.amended"
    with pytest.raises(lifecycle.FieldsRefusedError) as refused:
        lifecycle.edit(approved, changed=("amount", "customer.name"), now=NOW)
    assert refused.value.fields == ("customer.name",)


def test_nothing_else_may_be_edited() -> None:
    for status in (Status.SUBMITTED, Status.PENDING_REVIEW, Status.REJECTED, Status.WON):
        with pytest.raises(lifecycle.TransitionRefusedError):
            lifecycle.edit(Current(status=status), changed=("amount",), now=NOW)
    with pytest.raises(lifecycle.TransitionRefusedError, match="nothing"):
        lifecycle.edit(action_required(), changed=(), now=NOW)


def test_the_action_required_transitions_are_the_domains() -> None:
    assert lifecycle.can_transition(Status.PENDING_REVIEW, Status.ACTION_REQUIRED)
    assert lifecycle.can_transition(Status.ACTION_REQUIRED, Status.SUBMITTED)
    assert lifecycle.can_transition(Status.ACTION_REQUIRED, Status.WITHDRAWN)


# --- the extension limit is the policy's, on both sides ----------------------------------------


def test_an_approval_and_an_extension_say_how_many_extensions_the_policy_allows() -> None:
    from schemas.registration import RegistrationApproved

    policy = Policy(extension=ExtensionPolicy(max_extensions=2))
    reviewed = claim("r2", 2, status="pending_review")
    situation = protection.ReviewSituation(reviewed=reviewed)
    approved = protection.approve_from_review(situation, policy, actor="ops:u1", now=NOW)
    [event] = [e.payload for e in approved.events]
    assert isinstance(event, RegistrationApproved)
    assert event.extensions_allowed == 2
    holder = claim("r2", 2, holds_until=NOW + timedelta(days=5), extension_count=1)
    requested = ExtensionRequested(
        registration_id="r2",
        account_key="d:acme.com",
        product_line="network-security",
        requested_at=NOW,
    )
    extended = protection.extend(requested, holder, policy, now=NOW, cause=CAUSE)
    [granted] = [e.payload for e in extended.events]
    assert isinstance(granted, ProtectionExtended)
    assert granted.extensions_left == 0


def test_intake_refuses_an_extension_the_policy_does_not_allow() -> None:
    spent = Current(
        status=Status.APPROVED,
        protection_expires_at=NOW + timedelta(days=5),
        extension=lifecycle.Extension.GRANTED,
        extensions_left=0,
    )
    with pytest.raises(lifecycle.TransitionRefusedError, match="policy allows"):
        lifecycle.request_extension(spent, now=NOW)
    one_more = Current(
        status=Status.APPROVED,
        protection_expires_at=NOW + timedelta(days=5),
        extension=lifecycle.Extension.GRANTED,
        extensions_left=1,
    )
    assert lifecycle.request_extension(one_more, now=NOW).updates["extension_state"] == "requested"


# --- the policy may send extension requests to review ------------------------------------------


def extension_request() -> ExtensionRequested:
    return ExtensionRequested(
        registration_id="r2",
        account_key="d:acme.com",
        product_line="network-security",
        requested_at=NOW,
    )


def test_the_policy_may_send_an_extension_request_to_review() -> None:
    policy = Policy(extension=ExtensionPolicy(review=True))
    holder = claim("r2", 2, holds_until=NOW + timedelta(days=5))
    outcome = protection.extend(
        extension_request(), holder, policy, now=NOW, cause=CAUSE, case_id="case-x"
    )
    [case] = outcome.cases_to_open
    assert (case.case_id, case.reason_code) == ("case-x", protection.EXTENSION_REVIEW)
    assert case.due_at == NOW + policy.review_sla
    assert outcome.events == ()
    assert outcome.protection_moves == ()
    # A request the policy refuses anyway is denied at once, not reviewed.
    spent = claim("r2", 2, holds_until=NOW + timedelta(days=5), extension_count=1)
    denied = protection.extend(
        extension_request(), spent, policy, now=NOW, cause=CAUSE, case_id="case-y"
    )
    assert denied.cases_to_open == ()
    assert [type(e.payload).__name__ for e in denied.events] == ["ExtensionDenied"]


def test_a_reviewer_grants_or_refuses_an_extension() -> None:
    policy = Policy(extension=ExtensionPolicy(review=True))
    holder = claim("r2", 2, holds_until=NOW + timedelta(days=5))
    granted = protection.extension_from_review(holder, policy, grant=True, actor="ops:u1", now=NOW)
    [extended] = [e.payload for e in granted.events]
    assert isinstance(extended, ProtectionExtended)
    assert extended.decided_by == "ops:u1"
    assert extended.protection_expires_at == NOW + timedelta(days=35)
    refused = protection.extension_from_review(holder, policy, grant=False, actor="ops:u1", now=NOW)
    [denied] = [e.payload for e in refused.events]
    assert isinstance(denied, ExtensionDenied)
    assert denied.reason_code == "EXTENSION_REJECTED"
    assert refused.protection_moves == ()
