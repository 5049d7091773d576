"""Roles on an opportunity as pure rules: influence claims (the resolver), co-sell invitations
and the partner's view (deal_registration), and the CRM deal's partner list (crm_sync)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from conflict_resolver.domain.influence import INFLUENCE_ACCEPTED, judge_influence
from conflict_resolver.domain.rules import HouseAccountHit, Submission
from crm_sync.domain.partners import DealPartner, parse_partner_roles, partner_roles
from deal_registration.domain import co_sell, lifecycle
from deal_registration.domain.co_sell import (
    InvitationRefusedError,
    InvitationStatus,
    InviteeRefusedError,
)
from deal_registration.domain.lifecycle import Current, Status
from schemas.cosell import InfluenceAccepted, InfluenceRejected

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
HOUSE = HouseAccountHit("Acme", "d:acme.com", 1.0)


def influence(**changes: object) -> Submission:
    values: dict[str, object] = {
        "registration_id": "c-1",
        "submission_seq": 7,
        "partner_id": "consultant",
        "partner_tier": "silver",
        "account_key": "d:acme.com",
        "product_line": "network-security",
        "partner_product_lines": ("network-security",),
    }
    return Submission(**(values | changes))  # type: ignore[arg-type]


# --- the resolver: influence claims -----------------------------------------------------------


def test_an_eligible_influence_claim_is_accepted_whatever_else_holds_the_account() -> None:
    verdict = judge_influence(influence(), house_account=None, house_account_action="reject")
    assert (verdict.outcome, verdict.reason_code) == ("accepted", INFLUENCE_ACCEPTED)
    assert "another partner" not in verdict.reason


def test_an_influence_claim_needs_no_minimum_amount() -> None:
    verdict = judge_influence(
        influence(amount=0), house_account=None, house_account_action="reject"
    )
    assert verdict.outcome == "accepted"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"partner_status": "suspended"}, "PARTNER_INELIGIBLE"),
        ({"partner_product_lines": ("endpoint",)}, "PRODUCT_NOT_AUTHORIZED"),
    ],
)
def test_an_ineligible_influence_claim_is_rejected(changes: dict[str, object], code: str) -> None:
    verdict = judge_influence(
        influence(**changes), house_account=None, house_account_action="reject"
    )
    assert (verdict.outcome, verdict.rule, verdict.reason_code) == ("rejected", "eligibility", code)


def test_influence_on_a_house_account_is_rejected_when_the_policy_rejects_house_accounts() -> None:
    verdict = judge_influence(influence(), house_account=HOUSE, house_account_action="reject")
    assert (verdict.outcome, verdict.reason_code) == ("rejected", "HOUSE_ACCOUNT")


def test_influence_on_a_house_account_never_waits_in_review() -> None:
    verdict = judge_influence(influence(), house_account=HOUSE, house_account_action="review")
    assert verdict.outcome == "accepted"


# --- deal_registration: an influence registration's status --------------------------------------

DECIDED = {
    "registration_id": "c-1",
    "account_key": "d:acme.com",
    "product_line": "network-security",
    "partner_id": "consultant",
    "decided_at": NOW,
    "policy_version": 1,
    "reason": "Recorded.",
}


def test_an_accepted_influence_claim_is_accepted_and_never_protected() -> None:
    event = InfluenceAccepted(**DECIDED, partner_name="Cobalt")  # type: ignore[arg-type]
    change = lifecycle.change_for(event, Current(Status.SUBMITTED), now=NOW)
    assert change is not None
    assert change.updates["status"] == "accepted"
    assert change.updates["protection_expires_at"] is None
    assert change.entry is not None
    assert change.entry.reason_code == INFLUENCE_ACCEPTED


def test_a_rejected_influence_claim_is_rejected_off_any_waitlist() -> None:
    event = InfluenceRejected(  # type: ignore[arg-type]
        **DECIDED, rule="house_account", reason_code="HOUSE_ACCOUNT"
    )
    change = lifecycle.change_for(event, Current(Status.SUBMITTED), now=NOW)
    assert change is not None
    assert (change.updates["status"], change.updates["reason_code"]) == (
        "rejected",
        "HOUSE_ACCOUNT",
    )


def test_an_influence_decision_arriving_twice_changes_nothing_the_second_time() -> None:
    event = InfluenceAccepted(**DECIDED, partner_name="Cobalt")  # type: ignore[arg-type]
    assert lifecycle.change_for(event, Current(Status.ACCEPTED), now=NOW) is None


def test_an_accepted_influence_claim_can_be_withdrawn_but_not_extended_or_amended() -> None:
    withdrawn = lifecycle.withdraw(Current(Status.ACCEPTED), now=NOW)
    assert withdrawn.updates["status"] == "withdrawn"
    assert "protection_expires_at" not in withdrawn.updates
    with pytest.raises(lifecycle.TransitionRefusedError):
        lifecycle.request_extension(Current(Status.ACCEPTED), now=NOW)
    with pytest.raises(lifecycle.TransitionRefusedError):
        lifecycle.edit(Current(Status.ACCEPTED), changed=("amount",), now=NOW)


# --- deal_registration: co-sell invitations -----------------------------------------------------


def invitable(**changes: object) -> co_sell.Invitable:
    values: dict[str, object] = {
        "registration_role": "sourced",
        "registration_status": "approved",
        "holder_partner_id": "reseller",
        "invitee_partner_id": "distributor",
        "invitee_active": True,
        "invitee_has_live_invitation": False,
    }
    return co_sell.Invitable(**(values | changes))  # type: ignore[arg-type]


def test_the_holder_of_an_approved_sourced_registration_may_invite() -> None:
    co_sell.check_invitation(invitable())


@pytest.mark.parametrize(
    "changes",
    [
        {"registration_status": "pending_review"},
        {"registration_status": "expired"},
        {"registration_role": "influence", "registration_status": "accepted"},
        {"invitee_has_live_invitation": True},
    ],
)
def test_an_invitation_the_registration_does_not_allow_is_refused(
    changes: dict[str, object],
) -> None:
    with pytest.raises(InvitationRefusedError):
        co_sell.check_invitation(invitable(**changes))


@pytest.mark.parametrize("changes", [{"invitee_partner_id": "reseller"}, {"invitee_active": False}])
def test_the_holder_itself_or_an_inactive_partner_cannot_be_invited(
    changes: dict[str, object],
) -> None:
    with pytest.raises(InviteeRefusedError):
        co_sell.check_invitation(invitable(**changes))


def test_an_invitation_is_answered_once() -> None:
    assert (
        co_sell.answer(InvitationStatus.INVITED, accept=True, registration_status="approved")
        is InvitationStatus.ACCEPTED
    )
    assert (
        co_sell.answer(InvitationStatus.INVITED, accept=False, registration_status="approved")
        is InvitationStatus.DECLINED
    )
    for answered in (InvitationStatus.ACCEPTED, InvitationStatus.DECLINED):
        with pytest.raises(InvitationRefusedError):
            co_sell.answer(answered, accept=False, registration_status="approved")


def test_an_invitation_on_a_deal_that_ended_can_be_declined_but_not_accepted() -> None:
    with pytest.raises(InvitationRefusedError):
        co_sell.answer(InvitationStatus.INVITED, accept=True, registration_status="expired")
    assert (
        co_sell.answer(InvitationStatus.INVITED, accept=False, registration_status="expired")
        is InvitationStatus.DECLINED
    )


# --- crm_sync: the deal's partner list --------------------------------------------------------

R = DealPartner("r-id", "Rook Resellers", "sourced")
D = DealPartner("d-id", "Delta Distribution", "distributor")
C = DealPartner("c-id", "Cobalt Consulting", "influence")


def test_the_partner_list_is_canonical_whatever_order_the_partners_came_in() -> None:
    assert (
        partner_roles([C, D, R])
        == partner_roles([R, C, D, R])
        == (
            "sourced: Rook Resellers [r-id]\n"
            "distributor: Delta Distribution [d-id]\n"
            "influence: Cobalt Consulting [c-id]"
        )
    )


def test_the_partner_list_reads_back_as_the_partners_it_was_made_of() -> None:
    odd = DealPartner("x-id", "Weird: Name [Ltd]", "referral")
    assert parse_partner_roles(partner_roles([R, D, C, odd])) == [R, D, odd, C]
