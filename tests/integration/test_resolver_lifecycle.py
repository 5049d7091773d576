"""The resolver's use cases on SQLite and PostgreSQL: decisions with evidence, expiry, the
waitlist, extension, withdrawal, won and lost, and the exclusivity invariant under races."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from conflict_resolver import handlers
from conflict_resolver.adapters import outcomes
from conflict_resolver.adapters.policy_store import default_policy
from conflict_resolver.adapters.tables import claim_keys, conflicts, protections
from conflict_resolver.adapters.tables import claims as claims_table
from conflict_resolver.domain.policy import Policy
from conflict_resolver.queue.tables import ops_keys
from schemas.crm import CrmDealClosed, DirectOpportunityClosed, DirectOpportunityOpened
from schemas.principals import OpsKeyIssued
from schemas.registration import CustomerData, ExtensionRequested, RegistrationWithdrawn
from services.db import create_engine
from services.kafka.sources import UntrustedSourceError
from services.migrations import upgrade
from tests.support.resolver import (
    START,
    HandClock,
    deliver,
    envelope_of,
    outbox_events,
    recorded,
    resolver_context,
    submitted,
    with_retries,
)

pytestmark = pytest.mark.integration
# Short windows; the default policy's rates kept (a change of rates is told to deal_registration
# as an event of its own, which these tests do not look for).
SHORT = Policy(
    protection_window=timedelta(seconds=5),
    review_sla=timedelta(seconds=2),
    exchange_rates=default_policy().exchange_rates,
)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await asyncio.to_thread(upgrade, "conflict_resolver", database_url)
    subject = create_engine(database_url)
    yield subject
    await subject.dispose()


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture
async def ctx(engine: AsyncEngine, clock: HandClock) -> handlers.Context:
    context = resolver_context(engine, clock)
    await handlers.publish_policy(context, SHORT, created_by="test")
    return context


def _event(payload: Any, registration: Any) -> Any:
    return envelope_of(payload, key=registration.data.account_key, subject=payload.registration_id)


def _withdrawn(registration: Any) -> Any:
    data = registration.data
    return _event(
        RegistrationWithdrawn(
            registration_id=data.registration_id,
            account_key=data.account_key,
            product_line=data.product_line,
            withdrawn_at=START,
            previous_status="approved",
        ),
        registration,
    )


def _closed(registration: Any, outcome: str) -> Any:
    data = registration.data
    return _event(
        CrmDealClosed(
            registration_id=data.registration_id,
            account_key=data.account_key,
            product_line=data.product_line,
            crm_system="hubspot",
            opportunity_id="opp-1",
            outcome=outcome,  # type: ignore[arg-type]
            closed_at=START,
        ),
        registration,
    )


def _extension(registration: Any) -> Any:
    data = registration.data
    return _event(
        ExtensionRequested(
            registration_id=data.registration_id,
            account_key=data.account_key,
            product_line=data.product_line,
            requested_at=START,
        ),
        registration,
    )


async def test_first_is_approved_second_waitlisted_with_evidence_and_policy_version(
    ctx: handlers.Context, engine: AsyncEngine
) -> None:
    first = submitted(partner="p1", seq=1)
    second = submitted(partner="p2", name="ACME Corp.", domain="https://www.acme.com/", seq=2)
    await deliver(ctx, first)
    await deliver(ctx, second)
    await deliver(ctx, second)  # redelivered: nothing twice

    claims = await recorded(engine)
    assert claims[first.data.registration_id].status == "approved"
    waiting = claims[second.data.registration_id]
    assert (waiting.status, waiting.reason_code) == ("rejected", "ALREADY_REGISTERED")
    assert waiting.evidence is not None
    match = waiting.evidence["matches"][0]
    assert match["registration_id"] == first.data.registration_id
    assert match["same_domain"]
    told = await outbox_events(engine)
    # The default (version 1) and the SHORT policy (version 2) were told as they were stored.
    assert [(e["type"], e["version"]) for e in told[:2]] == [
        ("dealreg.policy.published", 1),
        ("dealreg.policy.published", 2),
    ]
    events = told[2:]
    assert [e["type"] for e in events] == [
        "dealreg.registration.approved",
        "dealreg.registration.rejected",
    ]
    assert events[1]["waitlisted"] is True
    assert events[0]["policy_version"] == 2  # the SHORT policy, published after the default
    assert "p1" not in events[1]["reason"]
    assert events[1]["evidence"] == waiting.evidence  # the record travels with the decision


async def test_candidates_come_from_the_blocking_table(
    ctx: handlers.Context, engine: AsyncEngine
) -> None:
    await deliver(ctx, submitted(partner="p1", seq=1))
    async with engine.connect() as connection:
        keys = set((await connection.execute(select(claim_keys.c.blocking_key))).scalars())
    assert {"d:acme.com", "n:acme", "t:acme"} <= keys


async def test_a_fuzzy_match_on_another_account_key_competes_for_the_same_protection(
    ctx: handlers.Context, engine: AsyncEngine
) -> None:
    by_domain = submitted(partner="p1", seq=1)
    by_name = submitted(partner="p2", name="Acme Inc", domain=None, seq=2)
    assert by_name.data.account_key != by_domain.data.account_key  # another partition
    await deliver(ctx, by_domain)
    await deliver(ctx, by_name)
    claims = await recorded(engine)
    assert claims[by_name.data.registration_id].reason_code == "ALREADY_REGISTERED"
    assert claims[by_name.data.registration_id].protection_key == "d:acme.com"


async def test_an_earlier_registration_decided_after_a_later_one_goes_to_review(
    ctx: handlers.Context, engine: AsyncEngine
) -> None:
    earlier = submitted(partner="p1", name="Acme Inc", domain=None, seq=3)
    later = submitted(partner="p2", seq=5)
    await deliver(ctx, later)  # its partition was faster
    await deliver(ctx, earlier)
    claims = await recorded(engine)
    assert claims[later.data.registration_id].status == "approved"
    assert claims[earlier.data.registration_id].reason_code == "FIRST_TO_REGISTER_CONFLICT"
    async with engine.connect() as connection:
        case = (await connection.execute(select(conflicts))).mappings().one()
    assert case["registration_id"] == earlier.data.registration_id
    assert case["competing_registration_ids"] == [later.data.registration_id]
    assert case["due_at"] - case["opened_at"] == timedelta(seconds=2)
    sent = (await outbox_events(engine))[-1]
    assert sent["type"] == "dealreg.registration.sent_to_review"
    assert sent["conflict_id"] == case["id"]


async def test_withdrawing_a_registration_under_review_closes_its_case(
    ctx: handlers.Context, engine: AsyncEngine
) -> None:
    earlier = submitted(partner="p1", name="Acme Inc", domain=None, seq=3)
    later = submitted(partner="p2", seq=5)
    await deliver(ctx, later)
    await deliver(ctx, earlier)  # to review (FIRST_TO_REGISTER_CONFLICT)
    withdrawal = _withdrawn(earlier)
    await deliver(ctx, withdrawal)
    await deliver(ctx, withdrawal)  # redelivered: nothing changes twice
    claims = await recorded(engine)
    assert claims[earlier.data.registration_id].status == "withdrawn"
    async with engine.connect() as connection:
        case = (await connection.execute(select(conflicts))).mappings().one()
    assert (case["state"], case["decided_by"]) == ("decided", "partner")
    assert case["decision_reason"] == "The partner withdrew the registration."


async def test_a_direct_opportunity_in_the_crm_sends_a_registration_to_review(
    ctx: handlers.Context, engine: AsyncEngine
) -> None:
    opened = DirectOpportunityOpened(
        crm_system="salesforce",
        opportunity_id="006X",
        account_key="d:acme.com",
        customer=CustomerData(name="Acme", domain="acme.com", country="US"),
        product_line="network-security",
        opened_at=START,
    )
    await deliver(ctx, envelope_of(opened, key="d:acme.com", subject="x"))
    registration = submitted(partner="p1", seq=1)
    await deliver(ctx, registration)
    claim = (await recorded(engine))[registration.data.registration_id]
    assert claim.reason_code == "DIRECT_OPPORTUNITY_CONFLICT"
    assert claim.evidence is not None
    assert claim.evidence["direct_opportunity"]["opportunity_id"] == "006X"


async def test_protection_expires_by_itself_and_the_waitlist_is_promoted_in_order(
    ctx: handlers.Context, engine: AsyncEngine, clock: HandClock
) -> None:
    holder = submitted(partner="p1", seq=1)
    second = submitted(partner="p2", seq=2)
    third = submitted(partner="p3", seq=3)
    for registration in (holder, third, second):  # third decided before second: order is seq
        await deliver(ctx, registration)
    assert not await handlers.expire_one(ctx)  # nothing due yet

    clock.advance(seconds=6)
    assert await handlers.expire_one(ctx)
    assert not await handlers.expire_one(ctx)  # idempotent: the row is gone

    claims = await recorded(engine)
    assert claims[holder.data.registration_id].status == "expired"
    assert claims[second.data.registration_id].status == "approved"
    assert claims[third.data.registration_id].status == "rejected"
    events = await outbox_events(engine)
    expired = [e for e in events if e["type"] == "dealreg.registration.protection_expired"]
    assert [e["registration_id"] for e in expired] == [holder.data.registration_id]
    promoted = events[-1]
    assert promoted["type"] == "dealreg.registration.approved"
    assert promoted["registration_id"] == second.data.registration_id
    assert promoted["reason_code"] == "WAITLIST_PROMOTED"


async def test_withdrawal_and_lost_free_the_waitlist_and_won_sets_the_incumbent(
    ctx: handlers.Context, engine: AsyncEngine
) -> None:
    first, second, third = (submitted(partner=f"p{n}", seq=n) for n in (1, 2, 3))
    for registration in (first, second, third):
        await deliver(ctx, registration)
    await deliver(ctx, _withdrawn(first))
    await deliver(ctx, _closed(second, "lost"))
    claims = await recorded(engine)
    assert claims[first.data.registration_id].status == "withdrawn"
    assert claims[second.data.registration_id].status == "lost"
    assert claims[third.data.registration_id].status == "approved"

    await deliver(ctx, _closed(third, "won"))
    renewal = submitted(partner="p9", seq=4, deal_type="renewal")
    by_incumbent = submitted(partner="p3", seq=5, deal_type="upsell")
    await deliver(ctx, renewal)
    await deliver(ctx, by_incumbent)
    claims = await recorded(engine)
    assert claims[third.data.registration_id].status == "won"
    assert claims[renewal.data.registration_id].reason_code == "INCUMBENT_CONFLICT"
    assert claims[by_incumbent.data.registration_id].status == "approved"


async def test_a_win_is_credited_once_and_a_loss_credits_no_one(
    ctx: handlers.Context, engine: AsyncEngine
) -> None:
    winner = submitted(partner="p1", seq=1)
    loser = submitted(partner="p2", name="Globex", domain="globex.com", seq=2)
    for registration in (winner, loser):
        await deliver(ctx, registration)
    won = _closed(winner, "won")
    await deliver(ctx, won)
    await deliver(ctx, won)  # redelivered: nothing twice
    # The CRM reports the win again under a new event id (a second webhook): still once.
    await deliver(ctx, _closed(winner, "won"))
    await deliver(ctx, _closed(loser, "lost"))
    credited = [
        e
        for e in await outbox_events(engine)
        if e["type"] == "dealreg.registration.deal_attributed"
    ]
    assert len(credited) == 1
    (attributed,) = credited
    assert attributed["registration_id"] == winner.data.registration_id
    assert attributed["model"] == "sourced_only"
    assert attributed["amount"] == winner.data.amount.model_dump(mode="json")
    assert [
        (line["partner_id"], line["role"], line["amount"]["value"]) for line in attributed["lines"]
    ] == [("p1", "sourced", "25000.00")]  # in whole cents


async def test_an_extension_is_granted_once_and_then_denied(
    ctx: handlers.Context, engine: AsyncEngine
) -> None:
    registration = submitted(partner="p1", seq=1)
    await deliver(ctx, registration)
    await deliver(ctx, _extension(registration))
    await deliver(ctx, _extension(registration))
    events = await outbox_events(engine)
    extended, denied = events[-2:]
    assert extended["type"] == "dealreg.registration.protection_extended"
    assert denied["type"] == "dealreg.registration.extension_denied"
    assert denied["reason_code"] == "ALREADY_EXTENDED"
    async with engine.connect() as connection:
        expires = (await connection.execute(select(protections.c.expires_at))).scalar_one()
    assert expires == START + timedelta(seconds=5) + timedelta(days=30)


async def test_a_waitlisted_registration_whose_close_date_passed_leaves_the_waitlist(
    ctx: handlers.Context, engine: AsyncEngine
) -> None:
    holder = submitted(partner="p1", seq=1)
    stale = submitted(partner="p2", seq=2, expected_close_date=date(2026, 11, 1))
    fresh = submitted(partner="p3", seq=3)
    for registration in (holder, stale, fresh):
        await deliver(ctx, registration)
    await deliver(ctx, _withdrawn(holder))
    claims = await recorded(engine)
    assert claims[stale.data.registration_id].status == "rejected"
    assert claims[fresh.data.registration_id].status == "approved"
    left = [
        e for e in await outbox_events(engine) if e["type"] == "dealreg.registration.waitlist_left"
    ]
    assert [(e["registration_id"], e["reason_code"]) for e in left] == [
        (stale.data.registration_id, "WAITLIST_LEFT")
    ]


async def test_the_waitlist_job_takes_off_a_registration_past_its_close_date(
    ctx: handlers.Context, engine: AsyncEngine, clock: HandClock
) -> None:
    """The holder still holds: nothing ends the waitlist, so the job does it at the close date
    (keyset pages of the waitlisted claims, here one claim a page), and tells the partner."""
    holder = submitted(partner="p1", seq=1, name="Patient Co", domain="patient.com")
    later = submitted(
        partner="p2",
        seq=2,
        name="Patient Co",
        domain="patient.com",
        expected_close_date=date(2027, 6, 30),
    )
    due = submitted(
        partner="p3",
        seq=3,
        name="Patient Co",
        domain="patient.com",
        expected_close_date=START.date() + timedelta(days=1),
    )
    for registration in (holder, later, due):
        await deliver(ctx, registration)
    assert not await handlers.close_one_waitlisted(ctx)  # its close date has not passed yet
    clock.advance(days=2)
    async with ctx.transactions.transaction() as session:
        found = await outcomes.waitlisted_past_close(session, clock.now().date(), batch=1)
    assert found == due.data.registration_id
    assert await handlers.close_one_waitlisted(ctx)
    assert not await handlers.close_one_waitlisted(ctx)
    left = [
        e for e in await outbox_events(engine) if e["type"] == "dealreg.registration.waitlist_left"
    ]
    assert [e["registration_id"] for e in left] == [due.data.registration_id]
    query = select(claims_table.c.registration_id).where(claims_table.c.waitlisted)
    async with engine.connect() as connection:
        waiting = (await connection.execute(query)).scalars().all()
    assert later.data.registration_id in waiting
    assert due.data.registration_id not in waiting


@pytest.mark.parametrize("spelling", ["same_key", "fuzzy_keys"])
async def test_a_hundred_partners_at_the_same_instant_get_exactly_one_approval(
    engine: AsyncEngine, clock: HandClock, spelling: str
) -> None:
    """Repeated: each round is a new account; all 100 race in concurrent transactions."""
    ctx = resolver_context(engine, clock)
    for company in ("Quintessa", "Borealis", "Marigold"):
        domain = f"{company.lower()}.com"
        registrations = [
            submitted(
                partner=f"p{n}",
                name=company + (" Inc" if n % 2 else " Corporation"),
                domain=domain if spelling == "same_key" or n % 2 == 0 else None,
            )
            for n in range(100)
        ]
        await asyncio.gather(*(with_retries(lambda r=r: deliver(ctx, r)) for r in registrations))
        claims = await recorded(engine)
        mine = [claims[r.data.registration_id] for r in registrations]
        assert len(mine) == 100
        approved = [c for c in mine if c.status == "approved"]
        assert len(approved) == 1, [(c.status, c.reason_code) for c in mine]
        assert all(c.status in ("rejected", "pending_review") for c in mine if c not in approved)
    async with engine.connect() as connection:
        count = (await connection.execute(select(func.count()).select_from(protections))).scalar()
    assert count == 3


async def _ops_approve(ctx: handlers.Context, case: dict[str, Any]) -> bool:
    """What the conflict queue's decision does: write the protection under the case's key."""
    try:
        async with ctx.transactions.transaction() as session:
            await session.execute(
                insert(protections).values(
                    account_key=case["account_key"],
                    product_line=case["product_line"],
                    registration_id=case["registration_id"],
                    partner_id="p-reviewed",
                    expires_at=START + timedelta(days=90),
                )
            )
            await asyncio.sleep(0.05)  # a human's transaction, a little slower
        return True
    except IntegrityError:
        return False  # the queue answers 409: approving would break exclusivity


async def _expire_all_due(ctx: handlers.Context) -> None:
    while await handlers.expire_one(ctx):
        pass


async def test_an_ops_approval_racing_the_automatic_promotion_leaves_one_protection(
    ctx: handlers.Context, engine: AsyncEngine, clock: HandClock
) -> None:
    """The holder expires: the expiry job promotes the first waiting registration while sales
    ops approve the second one from the queue, at the same moment. One of them wins."""
    winners = []
    for attempt in range(6):
        domain = f"race{attempt}.com"
        holder, waiting, other = (
            submitted(partner=f"p{n}", name=f"Race{attempt}", domain=domain) for n in (1, 2, 3)
        )
        for registration in (holder, waiting, other):
            await deliver(ctx, registration)
        clock.advance(seconds=6)
        case = {
            "account_key": f"d:{domain}",
            "product_line": "network-security",
            "registration_id": other.data.registration_id,
        }
        automatic = with_retries(lambda: _expire_all_due(ctx))
        if attempt % 2:
            _expired, approved = await asyncio.gather(automatic, _ops_approve(ctx, case))
        else:
            approved, _expired = await asyncio.gather(_ops_approve(ctx, case), automatic)
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(protections).where(protections.c.account_key == f"d:{domain}")
                )
            ).all()
        assert len(rows) == 1
        winner = rows[0].registration_id
        assert winner in (waiting.data.registration_id, other.data.registration_id)
        assert approved == (winner == other.data.registration_id)
        winners.append("ops" if approved else "automatic")
    assert set(winners) <= {"ops", "automatic"}


async def test_the_review_deadline_decision_follows_the_policy(
    ctx: handlers.Context, engine: AsyncEngine
) -> None:
    holder = submitted(partner="p1", seq=5)
    reviewed = submitted(partner="p2", name="Acme Inc", domain=None, seq=3)
    await deliver(ctx, holder)
    await deliver(ctx, reviewed)
    arguments = {
        "registration_id": reviewed.data.registration_id,
        "account_key": "d:acme.com",
        "product_line": "network-security",
        "competing_registration_ids": [holder.data.registration_id],
        "now": START,
    }
    async with ctx.transactions.transaction() as session:
        assert await handlers.deadline_decision(session, **arguments) is None  # type: ignore[arg-type]
    await handlers.publish_policy(ctx, Policy(sla_auto_decision="approve_first"), created_by="t")
    async with ctx.transactions.transaction() as session:
        verdict = await handlers.deadline_decision(session, **arguments)  # type: ignore[arg-type]
    assert verdict is not None
    assert not verdict.approve  # the holder is protected: approving would break exclusivity


async def test_a_protection_written_by_an_ops_decision_blocks_like_any_other(
    ctx: handlers.Context, engine: AsyncEngine
) -> None:
    """The queue approves by inserting the protection row; the rules see that holder even
    before (or without) the claim's status changing."""
    reviewed = submitted(partner="p1", seq=1, deal_type="renewal")
    direct = DirectOpportunityOpened(
        crm_system="hubspot",
        opportunity_id="d-1",
        account_key="d:acme.com",
        customer=CustomerData(name="Acme", domain="acme.com", country="US"),
        product_line="network-security",
        opened_at=START,
    )
    await deliver(ctx, envelope_of(direct, key="d:acme.com", subject="d"))
    await deliver(ctx, reviewed)
    case = {
        "account_key": "d:acme.com",
        "product_line": "network-security",
        "registration_id": reviewed.data.registration_id,
    }
    assert await _ops_approve(ctx, case)
    closed = DirectOpportunityClosed(
        crm_system="hubspot",
        opportunity_id="d-1",
        account_key="d:acme.com",
        product_line="network-security",
        closed_at=START,
    )
    await deliver(ctx, envelope_of(closed, key="d:acme.com", subject="d"))
    later = submitted(partner="p2", seq=2)
    await deliver(ctx, later)
    claim = (await recorded(engine))[later.data.registration_id]
    assert (claim.status, claim.reason_code) == ("rejected", "ALREADY_REGISTERED")


async def test_a_crm_close_or_an_ops_key_from_another_source_is_poison_and_changes_nothing(
    ctx: handlers.Context, engine: AsyncEngine
) -> None:
    holder = submitted(partner="p1", seq=1)
    await deliver(ctx, holder)
    won = _closed(holder, "won")
    with pytest.raises(UntrustedSourceError):
        await deliver(ctx, won.model_copy(update={"source": "/dealreg/deal_registration"}))
    issued = OpsKeyIssued(
        key_id="k1", principal_id="u1", name="Ops", key_hash="0" * 64, issued_at=START
    )
    forged = envelope_of(issued, key="u1", subject="u1")
    with pytest.raises(UntrustedSourceError):
        await deliver(ctx, forged.model_copy(update={"source": "/dealreg/crm_sync"}))
    async with engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(ops_keys))).scalar() == 0
    assert (await recorded(engine))[holder.data.registration_id].status == "approved"

    await deliver(ctx, won)  # the same event id from crm_sync: the forgery claimed no inbox row
    assert (await recorded(engine))[holder.data.registration_id].status == "won"
