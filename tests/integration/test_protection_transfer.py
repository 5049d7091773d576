"""Protection transfer against the real database (SQLite and PostgreSQL): after a
cross-partition race, and racing the expiry job, a new decision, an ops approval and another
transfer. The invariant holds: never two protections for one account and product line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from conflict_resolver import handlers
from conflict_resolver.adapters.tables import conflicts, protections
from conflict_resolver.domain.policy import AttributionPolicy, Policy
from conflict_resolver.domain.protection import ProtectionConflictError
from conflict_resolver.handlers import transfers
from conflict_resolver.queue.domain import QueueError
from conflict_resolver.queue.handlers import QueueContext
from conflict_resolver.queue.handlers.deciding import decide
from schemas.accounts import account_key
from schemas.cosell import CoSellAccepted
from schemas.crm import CrmDealClosed
from services.db import create_engine
from services.migrations import upgrade
from services.principals import OpsCaller
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
POLICY = Policy(protection_window=timedelta(seconds=5), review_sla=timedelta(hours=1))
OPS = OpsCaller(id="u1", role="ops", name="Sam Ortiz")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await asyncio.to_thread(upgrade, "conflict_resolver", database_url)
    subject = create_engine(database_url)
    yield subject
    await subject.dispose()


@pytest.fixture
async def ctx(engine: AsyncEngine) -> handlers.Context:
    context = resolver_context(engine, HandClock())
    await handlers.publish_policy(context, POLICY, created_by="test")
    return context


async def raced(ctx: handlers.Context) -> tuple[str, str]:
    """A later registration decided first (its partition was faster) holds the protection;
    the earlier one waits in review (FIRST_TO_REGISTER_CONFLICT). Returns (later, earlier)."""
    earlier = submitted(partner="p1", name="Acme Inc", domain=None, seq=3)
    later = submitted(partner="p2", seq=5)
    await deliver(ctx, later)
    await deliver(ctx, earlier)
    return later.data.registration_id, earlier.data.registration_id


async def move(ctx: handlers.Context, source: str, target: str) -> dict[str, Any]:
    return await transfers.transfer(
        ctx,
        from_registration_id=source,
        to_registration_id=target,
        reason="first_to_register_conflict",
        note="Accepted first; the customer confirms.",
        actor=OPS.actor,
    )


async def holders(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = (await connection.execute(select(protections))).mappings().all()
    return [row["registration_id"] for row in rows]


async def test_a_transfer_gives_the_protection_to_the_earlier_registrant_after_a_race(
    ctx: handlers.Context, engine: AsyncEngine
) -> None:
    later, earlier = await raced(ctx)
    answer = await move(ctx, later, earlier)
    assert (answer["from_status"], answer["to_status"]) == ("transferred", "approved")
    claims = await recorded(engine)
    assert claims[later].status == "transferred"
    assert (claims[earlier].status, claims[earlier].reason_code) == (
        "approved",
        "PROTECTION_TRANSFERRED",
    )
    assert await holders(engine) == [earlier]
    async with engine.connect() as connection:
        case = (await connection.execute(select(conflicts))).mappings().one()
    assert (case["state"], case["decided_by"], case["approved_registration_id"]) == (
        "decided",
        "ops:u1",
        earlier,
    )
    told = [e for e in await outbox_events(engine) if "registration_id" in e]
    sent = [(e["type"], e["registration_id"]) for e in told][-2:]
    assert sent == [
        ("dealreg.registration.protection_transferred", later),
        ("dealreg.registration.approved", earlier),
    ]
    with pytest.raises(ProtectionConflictError):  # done once; the old holder holds nothing
        await move(ctx, later, earlier)


async def test_a_transfer_racing_the_expiry_job_keeps_one_holder(
    ctx: handlers.Context, engine: AsyncEngine
) -> None:
    later, earlier = await raced(ctx)
    # Two instances whose clocks straddle the expiry: the expiry job sees it due, the
    # transfer sees it live. Whichever takes the account's locks first wins; the other finds
    # nothing to do (or is refused).
    expiring = resolver_context(engine, HandClock(START + timedelta(seconds=6)))
    moving = resolver_context(engine, HandClock(START + timedelta(seconds=4)))
    results = await asyncio.gather(
        retried(lambda: handlers.expire_one(expiring)),
        retried(lambda: move(moving, later, earlier)),
        return_exceptions=True,
    )
    claims = await recorded(engine)
    if isinstance(results[1], ProtectionConflictError):
        assert claims[later].status == "expired"
        assert await holders(engine) == []
        assert claims[earlier].status == "pending_review"
    else:
        assert not isinstance(results[1], BaseException), results
        assert claims[later].status == "transferred"
        assert await holders(engine) == [earlier]
    assert not isinstance(results[0], BaseException), results


async def test_a_transfer_racing_a_new_decision_an_ops_approval_and_a_second_transfer(
    ctx: handlers.Context, engine: AsyncEngine
) -> None:
    later, earlier = await raced(ctx)
    third = submitted(partner="p3", name="ACME Corp.", domain="www.acme.com", seq=7)
    async with engine.connect() as connection:
        case_id = (await connection.execute(select(conflicts.c.id))).scalar_one()
    queue = QueueContext(
        transactions=ctx.transactions, clock=ctx.clock, policy=POLICY, admin_token="x" * 32
    )

    async def approve_from_queue() -> None:
        await decide(queue, OPS, case_id, approve=earlier, reason="Registered first.")

    results = await asyncio.gather(
        retried(lambda: move(ctx, later, earlier)),
        retried(lambda: with_retries(lambda: deliver(ctx, third))),
        retried(approve_from_queue),
        retried(lambda: move(ctx, later, third.data.registration_id)),
        return_exceptions=True,
    )
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, Refused)]
    assert unexpected == []
    owners = await holders(engine)
    assert len(owners) == 1, (owners, results)
    claims = await recorded(engine)
    approved = [rid for rid, claim in claims.items() if claim.status == "approved"]
    assert approved == owners
    assert owners[0] in (earlier, later)
    if owners[0] == earlier:
        assert claims[later].status == "transferred"


# Refusals are answers: the protection moved or ended first, the case was decided first, or
# the third registration was not decided yet when the second transfer asked for it.
Refused = (ProtectionConflictError, QueueError, transfers.UnknownRegistrationError)


async def retried(call: Any, attempts: int = 20) -> Any:
    """A transaction that lost a lock race (deadlock, SQLite busy) is retried, as the API's
    caller or the consumer would; a refusal is the answer."""
    for attempt in range(attempts):
        try:
            return await call()
        except DBAPIError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.05)
    return None


async def test_after_a_transfer_the_new_holders_win_credits_no_co_seller_of_the_old_one(
    ctx: handlers.Context, engine: AsyncEngine
) -> None:
    """Co-sell partners are the holder's (docs/rules-of-engagement.md, "After a transfer"):
    the distributor that accepted the old holder's invitation is not credited on the new
    holder's win; an influence claim on the new holder's customer is."""
    even = POLICY.model_copy(update={"attribution": AttributionPolicy(model="even_split")})
    await handlers.publish_policy(ctx, even, created_by="test")
    later, earlier = await raced(ctx)
    old_key = account_key(name="Acme Corporation", domain="acme.com", country="US")
    new_key = account_key(name="Acme Inc", domain=None, country="US")
    line = "network-security"
    invited = CoSellAccepted(
        invitation_id="inv-transfer",
        registration_id=later,
        account_key=old_key,
        product_line=line,
        holder_partner_id="p2",
        partner_id="delta",
        partner_name="Delta",
        role="distributor",
        accepted_at=START,
    )
    await deliver(ctx, envelope_of(invited, key=old_key, subject=later))
    await deliver(ctx, submitted(partner="cobalt", name="Acme Inc", domain=None, role="influence"))
    await move(ctx, later, earlier)
    closed = CrmDealClosed(
        registration_id=earlier,
        account_key=new_key,
        product_line=line,
        crm_system="hubspot",
        opportunity_id="opp-transferred",
        outcome="won",
        closed_at=START,
    )
    await deliver(ctx, envelope_of(closed, key=new_key, subject=earlier))
    [attributed] = [e for e in await outbox_events(engine) if e["type"].endswith("deal_attributed")]
    assert {(row["partner_id"], row["role"]) for row in attributed["lines"]} == {
        ("p1", "sourced"),
        ("cobalt", "influence"),
    }
