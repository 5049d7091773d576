"""The chaos run's checker on small recorded histories: it must see each broken invariant
(and stay quiet on a clean history), or a green chaos run would prove nothing."""

from __future__ import annotations

import itertools
from typing import Any

from tests.chaos.checks import (
    APPROVED,
    CLOSED,
    EXPIRED,
    EXTENDED,
    REVIEW,
    SUBMITTED,
    WITHDRAWN,
    Findings,
    check_all,
)
from tests.chaos.history import Event, History

_ids = itertools.count()
KEY = {"account_key": "acme.com", "product_line": "network-security"}


def event(kind: str, registration_id: str, at: str, **data: Any) -> Event:
    number = next(_ids)
    return Event(
        topic="t",
        partition=0,
        offset=number,
        id=data.pop("event_id", f"e{number}"),
        type=kind,
        time=f"2026-12-02T10:00:{at}+00:00",
        subject=registration_id,
        data={"registration_id": registration_id, **KEY, **data},
        headers={},
    )


def approved(registration_id: str, at: str, **data: Any) -> Event:
    summary = {"partner_id": f"p-{registration_id}"}
    return event(
        APPROVED,
        registration_id,
        at,
        decided_at=f"2026-12-02T10:00:{at}+00:00",
        registration=summary,
        **data,
    )


def deal(registration_id: str, **properties: str) -> dict[str, Any]:
    return {
        "id": f"d-{registration_id}-{next(_ids)}",
        "archived": False,
        "properties": {
            "dealreg_registration_id": registration_id,
            "dealreg_partner_id": f"p-{registration_id}",
            "dealreg_product_line": "network-security",
            "dealreg_registration_status": "approved",
            **properties,
        },
    }


def check(
    events: list[Event],
    *,
    accepted: set[str] = frozenset(),  # type: ignore[assignment]
    deals: list[dict[str, Any]] | None = None,
    dead: list[Event] | None = None,
    status: dict[str, str] | None = None,
    open_cases: set[str] = frozenset(),  # type: ignore[assignment]
    lag: dict[str, int] | None = None,
    after_crm: list[Event] | None = None,
) -> Findings:
    history = History(events=events, dead_letters=dead or [], lag=lag or {}, replication={})
    later = None if after_crm is None else History(after_crm, [], {}, {})
    return check_all(
        history,
        after_crm=later,
        accepted=set(accepted),
        final_status=status or {},
        open_case_registrations=set(open_cases),
        crm_deals=deals if deals is not None else [],
        crm_stage_set={},
    )


def test_a_clean_history_passes() -> None:
    events = [
        event(SUBMITTED, "a", "01"),
        approved("a", "02"),
        event(WITHDRAWN, "a", "03", withdrawn_at="2026-12-02T10:00:03+00:00"),
        event(SUBMITTED, "b", "04"),
        approved("b", "05"),
    ]
    findings = check(
        events,
        accepted={"a", "b"},
        deals=[deal("a", dealreg_registration_status="withdrawn"), deal("b")],
    )
    assert findings.failures() == {}


def test_a_202_without_a_submitted_event_or_a_decision_is_lost() -> None:
    findings = check([event(SUBMITTED, "b", "01")], accepted={"a", "b"})
    assert findings.lost == ["a", "b"]
    assert findings.lost_at_intake == ["a"]


def test_a_registration_left_in_review_needs_an_open_case() -> None:
    events = [event(SUBMITTED, "a", "01"), event(REVIEW, "a", "02")]
    assert check(events, accepted={"a"}, status={"a": "pending_review"}).lost == ["a"]
    passed = check(events, accepted={"a"}, status={"a": "pending_review"}, open_cases={"a"})
    assert passed.lost == []


def test_two_live_approvals_for_one_account_and_line_are_found() -> None:
    events = [approved("a", "01"), approved("b", "05")]
    findings = check(events, deals=[deal("a"), deal("b")])
    assert [(d["holder"], d["second"]) for d in findings.double_approvals] == [("a", "b")]


def test_an_approval_after_the_holder_closed_is_not_double() -> None:
    events = [
        approved("a", "01"),
        event(CLOSED, "a", "03", closed_at="2026-12-02T10:00:03+00:00", outcome="lost"),
        approved("b", "05"),
    ]
    assert check(events, deals=[deal("a"), deal("b")]).double_approvals == []


def test_an_approval_published_after_its_withdrawal_holds_nothing() -> None:
    events = [
        event(WITHDRAWN, "a", "01", withdrawn_at="2026-12-02T10:00:01+00:00"),
        approved("a", "02"),
        approved("b", "05"),
    ]
    findings = check(events, deals=[deal("a", dealreg_registration_status="approved"), deal("b")])
    assert findings.double_approvals == []
    assert findings.info["approved after its withdrawal"] == 1


def test_one_event_redelivered_counts_once_but_two_approvals_count_twice() -> None:
    first = approved("a", "01", event_id="same")
    redelivered = approved("a", "01", event_id="same")
    assert check([first, redelivered], deals=[deal("a")]).duplicate_effects == []
    twice = check([first, approved("a", "02")], deals=[deal("a")])
    assert twice.duplicate_effects == [{"registration_id": "a", "event": APPROVED, "count": 2}]


def test_a_second_extension_is_a_duplicate_effect() -> None:
    extended = {"extended_at": "2026-12-02T10:00:03+00:00"}
    events = [approved("a", "01"), event(EXTENDED, "a", "03", **extended)]
    assert check(events, deals=[deal("a")]).duplicate_effects == []
    events.append(event(EXTENDED, "a", "04", extended_at="2026-12-02T10:00:04+00:00"))
    assert len(check(events, deals=[deal("a")]).duplicate_effects) == 1


def test_crm_deals_missing_duplicated_wrong_or_never_approved_are_found() -> None:
    events = [
        approved("a", "01"),
        approved("b", "02", account_key="other.com"),
        approved("c", "03", account_key="third.com"),
    ]
    findings = check(
        events,
        deals=[
            deal("b"),
            deal("b"),
            deal("c", dealreg_partner_id="someone-else"),
            deal("z"),
        ],
    )
    assert findings.crm_missing == ["a"]
    assert findings.crm_duplicates == ["b"]
    assert [w["registration_id"] for w in findings.crm_wrong] == ["c"]
    assert findings.crm_unapproved == ["z"]


def test_the_crm_status_follows_the_last_lifecycle_event() -> None:
    events = [
        approved("a", "01"),
        event(WITHDRAWN, "a", "02", withdrawn_at="2026-12-02T10:00:02+00:00"),
    ]
    findings = check(events, deals=[deal("a", dealreg_registration_status="approved")])
    assert findings.crm_wrong[0]["want"]["dealreg_registration_status"] == "withdrawn"


def test_a_crm_status_ahead_of_the_history_needs_the_event_in_the_history_read_after_it() -> None:
    """The system keeps moving at the end (short windows expire and promote the waitlist): the
    CRM, read after the history, may already show an expiry the history has not got. It is
    right when the history read after the CRM has that expiry, and wrong otherwise."""
    before = [approved("a", "01"), approved("b", "02", account_key="other.com")]
    expired_a = event(EXPIRED, "a", "03", expired_at="2026-12-02T10:00:03+00:00")
    deals = [
        deal("a", dealreg_registration_status="expired"),
        deal("b", dealreg_registration_status="expired"),
    ]
    findings = check(before, deals=deals, after_crm=[*before, expired_a])
    assert [w["registration_id"] for w in findings.crm_wrong] == ["b"]


def test_a_crm_status_behind_the_history_read_before_it_is_wrong() -> None:
    events = [
        approved("a", "01"),
        event(EXPIRED, "a", "02", expired_at="2026-12-02T10:00:02+00:00"),
    ]
    findings = check(events, deals=[deal("a")], after_crm=events)
    assert findings.crm_wrong[0]["want"]["dealreg_registration_status"] == "expired"


def test_a_deal_for_an_approval_published_after_the_first_read_is_not_unapproved() -> None:
    late = approved("late", "05")
    findings = check([], deals=[deal("late")], after_crm=[late])
    assert findings.crm_unapproved == []


def test_only_poison_may_be_dead_lettered_and_every_group_must_catch_up() -> None:
    def dead(reason: str) -> Event:
        return Event("dlq", 0, 0, "x", "t", "", "", {}, {"dlq_reason": reason})

    findings = check(
        [],
        dead=[dead("MalformedEventError: bad json"), dead("OperationalError: connection refused")],
        lag={"g1": 0, "g2": 3},
    )
    assert findings.non_poison_dead_letters == 1
    assert findings.lagging_groups == {"g2": 3}
    assert set(findings.failures()) == {"non-poison dead letters", "consumer groups behind"}


def test_a_registration_withdrawn_before_its_approval_was_published_shows_withdrawn() -> None:
    events = [
        event(WITHDRAWN, "a", "01", withdrawn_at="2026-12-02T10:00:01+00:00"),
        approved("a", "02"),
    ]
    right = check(events, deals=[deal("a", dealreg_registration_status="withdrawn")])
    assert right.crm_wrong == []
    wrong = check(events, deals=[deal("a", dealreg_registration_status="approved")])
    assert wrong.crm_wrong[0]["want"]["dealreg_registration_status"] == "withdrawn"
