"""Field ownership, echo and ordering rules, stage mapping, direct opportunities, the limiter."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from crm_sync.adapters.http import SlidingWindowLimiter
from crm_sync.domain.model import HUBSPOT_DEFAULT_STAGES, CrmDeal, SalesState
from crm_sync.domain.rules import (
    AppliedState,
    decide_direct,
    decide_inbound,
    outbound_changes,
    owned_drift,
)
from crm_sync.notices import hubspot_notices, salesforce_notices

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SEEDED = SalesState(
    stage="prospecting", amount=Decimal("100.00"), currency="USD", close_date=date(2026, 6, 1)
)


def deal(
    *,
    at: datetime = T0,
    sales: SalesState = SEEDED,
    by_us: bool = False,
    registration: str | None = "r1",
) -> CrmDeal:
    return CrmDeal(
        crm_id="1",
        registration_id=registration,
        owned={},
        sales=sales,
        modified_at=at,
        modified_by_us=by_us,
    )


def test_only_changed_owned_fields_are_sent() -> None:
    desired = {"registration_status": "expired", "partner_name": "Northwind", "stage": "won"}
    assert outbound_changes(
        desired, {"registration_status": "approved", "partner_name": "Northwind"}
    ) == {"registration_status": "expired"}


def test_sales_fields_are_never_written_back_to_the_crm() -> None:
    assert outbound_changes({"stage": "closed_won", "amount": "5", "owner": "u"}, None) == {}


def test_owned_fields_edited_in_the_crm_are_repaired_not_adopted() -> None:
    assert owned_drift({"partner_name": "Northwind"}, {"partner_name": "Someone else"}) == {
        "partner_name": "Northwind"
    }
    assert owned_drift({"partner_name": "Northwind"}, {"partner_name": "Northwind"}) == {}


def test_our_own_write_coming_back_is_an_echo() -> None:
    applied = AppliedState(modified_at=T0, sales=SEEDED)
    decision = decide_inbound(deal(at=T0 + timedelta(seconds=1), by_us=True), applied)
    assert not decision.apply
    assert decision.is_echo


def test_an_older_or_repeated_change_is_ignored() -> None:
    applied = AppliedState(modified_at=T0, sales=SEEDED)
    moved = replace(SEEDED, stage="negotiation")
    assert decide_inbound(deal(at=T0, sales=moved), applied).reason == "stale"
    assert (
        decide_inbound(deal(at=T0 - timedelta(seconds=1), sales=moved), applied).reason == "stale"
    )


def test_a_newer_stage_move_is_applied() -> None:
    applied = AppliedState(modified_at=T0, sales=SEEDED)
    decision = decide_inbound(
        deal(at=T0 + timedelta(seconds=1), sales=replace(SEEDED, stage="negotiation")), applied
    )
    assert decision.apply
    assert decision.changed == {"stage": "negotiation"}
    assert decision.closed is None


def test_closed_won_closes_once() -> None:
    won = replace(SEEDED, stage="closed_won", outcome="won")
    applied = AppliedState(modified_at=T0, sales=SEEDED)
    first = decide_inbound(deal(at=T0 + timedelta(seconds=1), sales=won), applied)
    assert first.closed == "won"
    again = decide_inbound(
        deal(at=T0 + timedelta(seconds=2), sales=won), AppliedState(T0 + timedelta(seconds=1), won)
    )
    assert not again.apply


def test_stage_table_maps_stages_and_outcomes() -> None:
    assert HUBSPOT_DEFAULT_STAGES.name_of("closedwon") == "closed_won"
    assert HUBSPOT_DEFAULT_STAGES.outcome_of("closedwon") == "won"
    assert HUBSPOT_DEFAULT_STAGES.outcome_of("closedlost") == "lost"
    assert HUBSPOT_DEFAULT_STAGES.outcome_of("qualifiedtobuy") is None
    assert HUBSPOT_DEFAULT_STAGES.name_of("custom-stage-7") == "custom-stage-7"


def test_direct_opportunity_opens_once_and_closes_once() -> None:
    open_deal = deal(registration=None)
    assert decide_direct(open_deal, None).opened
    assert not decide_direct(open_deal, "open").opened
    won = deal(registration=None, sales=replace(SEEDED, outcome="won"))
    assert decide_direct(won, "open").closed
    assert not decide_direct(won, "closed").closed
    assert decide_direct(replace(open_deal, archived=True), "open").closed


def test_hubspot_events_from_our_app_are_echoes_and_dedupe_on_a_composite_key() -> None:
    ours = {
        "eventId": 5,
        "subscriptionType": "deal.propertyChange",
        "objectId": 1,
        "propertyName": "amount",
        "propertyValue": "5",
        "occurredAt": 1,
        "changeSource": "INTEGRATION",
        "sourceId": "1001",
    }
    sales = {**ours, "changeSource": "CRM_UI", "sourceId": "9001", "propertyValue": "6"}
    same_event_id = {**sales, "objectId": 2}
    notices = hubspot_notices([ours, sales, sales, same_event_id], app_id="1001")
    assert [n.echo for n in notices] == [True, False, False, False]
    assert notices[1].key == notices[2].key  # a duplicate delivery
    assert notices[1].key != notices[3].key  # eventId alone is not unique


def test_hubspot_merge_remaps_to_the_survivor() -> None:
    (notice,) = hubspot_notices(
        [
            {
                "subscriptionType": "deal.merge",
                "objectId": 1,
                "primaryObjectId": 1,
                "mergedObjectIds": [2],
                "newObjectId": 1,
            }
        ],
        app_id="1001",
    )
    assert (notice.kind, notice.object_id, notice.merged_ids) == ("merged", "1", ["2"])


def test_salesforce_changes_by_the_integration_user_are_echoes() -> None:
    notices = salesforce_notices(
        [
            {"id": "006A", "lastModifiedById": "005US"},
            {"id": "006A", "lastModifiedById": "005SALES"},
        ],
        integration_user="005US",
    )
    assert [n.echo for n in notices] == [True, False]


def test_limiter_keeps_every_window() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = SlidingWindowLimiter([(2, 10.0), (3, 100.0)], clock=lambda: now[0], sleep=sleep)

    async def run() -> None:
        for _ in range(4):
            await limiter.acquire()

    asyncio.run(run())
    assert slept == [10.0, 90.0]
