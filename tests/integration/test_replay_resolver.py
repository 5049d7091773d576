"""``dealreg replay conflict_resolver`` on both databases: a history made by the real resolver
over Kafka (a policy and house accounts published, approvals, a rejection, a registration
waitlisted then promoted when the holder withdrew, an extension, a case sent to review and
rejected by ops, an influence claim accepted, a deal won and credited to both, a deal lost,
an extension sent to review and granted by ops, a possible duplicate judged by ops, a direct
opportunity encroaching on a protection with its case resolved by ops, one opened and closed)
rebuilt from the topics into an empty database, table by table as the live one, without
deciding again; and the next registration decided alike on both. A second history (a transfer, an
appeal decided again, returns for edit edited and decided again) rebuilt alike."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from conflict_resolver.adapters import policy_store
from conflict_resolver.adapters.tables import (
    claims,
    conflicts,
    direct_opportunities,
    influence_claims,
    outbox,
)
from conflict_resolver.domain.policy import DEFAULT_POLICY, ExtensionPolicy
from conflict_resolver.domain.protection import EXTENSION_REVIEW
from conflict_resolver.handlers import transfers
from conflict_resolver.queue import store as queue_store
from conflict_resolver.queue.handlers import deciding, returning
from conflict_resolver.queue.handlers.context import QueueContext
from conflict_resolver.queue.handlers.deciding import decide_locked
from conflict_resolver.queue.handlers.encroachment import resolve_encroachment
from conflict_resolver.queue.handlers.reading import get_case
from conflict_resolver.queue.tables import conflict_history
from conflict_resolver.replay import PLAN
from schemas.accounts import account_key
from schemas.crm import CrmDealClosed, DirectOpportunityClosed, DirectOpportunityOpened
from schemas.encroachment import DirectEncroachmentRaised
from schemas.envelope import EventEnvelope, EventPayload, new_envelope
from schemas.flows import sender_source
from schemas.registration import (
    AmountData,
    ConflictCaseRecorded,
    CustomerData,
    ExtensionRequested,
    RegistrationWithdrawn,
)
from schemas.review import RegistrationAppealed, RegistrationEdited
from schemas.topics import topic_for
from services import migrations
from services.clock import SystemClock, new_id
from services.db import create_engine
from services.kafka.admin import ensure_topics
from services.kafka.producer import KafkaEventPublisher
from services.principals import ADMIN as OPS_ADMIN
from services.principals import OpsCaller
from services.replay import UnsupportedHistoryError, replay
from tests.support.databases import Databases
from tests.support.resolver import (
    HandClock,
    ResolverInstance,
    deliver,
    recorded,
    resolver_context,
    submitted,
    wait_decided,
)

pytestmark = pytest.mark.integration
ADMIN = "test-admin-token-0123456789abcdef"
OPS = OpsCaller(id="ana", role="ops", name="Ana")


def told(payload: EventPayload, registration: EventEnvelope[Any]) -> EventEnvelope[Any]:
    """As deal_registration sends it about ``registration``: at the time it happens."""
    return new_envelope(
        payload,
        event_id=new_id(),
        source=sender_source(type(payload)),
        subject=registration.data.registration_id,
        time=datetime.now(UTC),
        correlation_id=registration.correlationid,
        causation_id=None,
        partition_key=registration.data.account_key,
    )


async def publish(bootstrap: str, prefix: str, events: list[EventEnvelope[Any]]) -> None:
    publisher = KafkaEventPublisher(
        bootstrap_servers=bootstrap, client_id="test", topic_prefix=prefix
    )
    await publisher.start()
    try:
        for event in events:
            await publisher.publish(topic_for(type(event.data)).name, [event])
    finally:
        await publisher.stop()


async def rows_of(engine: AsyncEngine, table: Table) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        rows = (await connection.execute(select(table))).mappings().all()
    return sorted((dict(row) for row in rows), key=repr)


async def until(check: Any, *, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("the resolver never got there")
        await asyncio.sleep(0.2)


async def test_the_resolver_is_rebuilt_from_the_topics_without_deciding_again(
    databases: Databases, kafka_bootstrap: str, topic_prefix: str
) -> None:
    await ensure_topics(kafka_bootstrap, prefix=topic_prefix)
    holder = submitted(partner="p1", name="Quintessa Holdings", domain="quintessa.example")
    waiting = submitted(partner="p2", name="Quintessa Holdings", domain="quintessa.example")
    extended = submitted(partner="p3", name="Borealis Systems", domain="borealis.example")
    house = submitted(partner="p4", name="Housely Group", domain="housely.example")
    first = [holder, waiting, extended, house]
    # Influence on the deal won below: accepted, then credited with the holder.
    influencer = submitted(
        partner="p8", name="Borealis Systems", domain="borealis.example", role="influence"
    )
    # Registered first, decided after a later registration of the same company (another
    # spelling, so another partition): sent to review, then rejected by ops.
    later = submitted(partner="p6", name="Acme Corporation", domain="acme.com", seq=10**6)
    earlier = submitted(partner="p7", name="Acme Inc", domain=None, seq=10**6 - 1)
    async with databases.fresh() as live_url, databases.fresh() as rebuilt_url:
        await asyncio.to_thread(migrations.upgrade, "conflict_resolver", live_url)
        live = create_engine(live_url)
        rebuilt = create_engine(rebuilt_url)
        try:
            async with AsyncSession(live) as session, session.begin():
                now = datetime.now(UTC)
                await policy_store.publish_policy(
                    session, policy_store.default_policy(), created_by="ops:ana", now=now
                )
                accounts = policy_store.HouseAccountList(
                    accounts=(
                        policy_store.HouseAccount(name="Housely Group", domain="housely.example"),
                    )
                )
                await policy_store.publish_house_accounts(
                    session, accounts, created_by="ops:ana", now=now
                )
            async with ResolverInstance(
                database_url=live_url,
                bootstrap=kafka_bootstrap,
                topic_prefix=topic_prefix,
                admin_token=ADMIN,
            ):
                await publish(kafka_bootstrap, topic_prefix, [*first, influencer])
                decided = await wait_decided(live, {e.data.registration_id for e in first})
                assert decided[holder.data.registration_id].decision == "approved"
                assert decided[waiting.data.registration_id].decision == "rejected"
                assert decided[extended.data.registration_id].decision == "approved"
                assert decided[house.data.registration_id].reason_code == "HOUSE_ACCOUNT"
                await publish(kafka_bootstrap, topic_prefix, [later])
                await wait_decided(live, {later.data.registration_id})
                await publish(kafka_bootstrap, topic_prefix, [earlier])
                reviewed = await wait_decided(live, {earlier.data.registration_id})
                assert reviewed[earlier.data.registration_id].decision == "pending_review"
                async with AsyncSession(live) as session, session.begin():
                    case = (await session.execute(select(conflicts))).mappings().one()
                    row = await queue_store.get_case(session, case["id"], lock=True)
                    assert row is not None
                    await decide_locked(
                        session,
                        row,
                        approve=None,
                        actor="ops:ana",
                        reason="The other registration is the customer's choice.",
                        now=datetime.now(UTC),
                    )
                afterwards = [
                    told(
                        ExtensionRequested(
                            registration_id=extended.data.registration_id,
                            account_key=extended.data.account_key,
                            product_line=extended.data.product_line,
                            requested_at=datetime.now(UTC),
                        ),
                        extended,
                    ),
                    told(
                        RegistrationWithdrawn(
                            registration_id=holder.data.registration_id,
                            account_key=holder.data.account_key,
                            product_line=holder.data.product_line,
                            withdrawn_at=datetime.now(UTC),
                            previous_status="approved",
                        ),
                        holder,
                    ),
                ]
                await publish(kafka_bootstrap, topic_prefix, afterwards)

                async def settled() -> bool:
                    async with live.connect() as connection:
                        rows = {
                            row.registration_id: row
                            for row in await connection.execute(select(claims))
                        }
                        unsent = (
                            await connection.execute(
                                select(outbox).where(outbox.c.published_at.is_(None))
                            )
                        ).all()
                    return (
                        rows[waiting.data.registration_id].status == "approved"
                        and rows[extended.data.registration_id].extension_count == 1
                        and rows[earlier.data.registration_id].status == "rejected"
                        and await _influence_recorded(connection_of=live)
                        and not unsent
                    )

                await until(settled)
                closed = [
                    told(
                        CrmDealClosed(
                            registration_id=registration.data.registration_id,
                            account_key=registration.data.account_key,
                            product_line=registration.data.product_line,
                            crm_system="hubspot",
                            opportunity_id=f"opp-{outcome}",
                            outcome=outcome,
                            closed_at=datetime.now(UTC),
                            amount=AmountData(value=Decimal("30000"), currency="USD"),
                        ),
                        registration,
                    )
                    for registration, outcome in ((extended, "won"), (waiting, "lost"))
                ]
                await publish(kafka_bootstrap, topic_prefix, closed)

                async def closed_all() -> bool:
                    statuses = {rid: claim.status for rid, claim in (await recorded(live)).items()}
                    async with live.connect() as connection:
                        unsent = (
                            await connection.execute(
                                select(outbox).where(outbox.c.published_at.is_(None))
                            )
                        ).all()
                    return (
                        statuses[extended.data.registration_id] == "won"
                        and statuses[waiting.data.registration_id] == "lost"
                        and not unsent
                    )

                await until(closed_all)
                await _review_an_extension_and_meet_direct_sales(
                    live, kafka_bootstrap, topic_prefix, holder=later
                )
                await _a_possible_duplicate_judged_by_ops(live, kafka_bootstrap, topic_prefix)

            summary = await replay(
                PLAN,
                database_url=rebuilt_url,
                bootstrap=kafka_bootstrap,
                topic_prefix=topic_prefix,
                migrate=migrations.upgrade,
            )
            assert summary.poison == 0
            counts = {
                "claims": 8,
                "protections": 2,  # approved after the review, and the duplicate's original
                "incumbents": 1,
                "deal_attributions": 1,
                "influence_claims": 1,
                # Reviews (first to register, a possible duplicate), the extension sent to
                # review, the encroachment; each decided.
                "conflicts": 4,
                "conflict_history": 4,
                "direct_opportunities": 2,
                "match_decisions": 1,  # ops' reading of the possible duplicate
                "policies": 3,
                "house_account_lists": 1,
            }
            assert {name: summary.rows[name] for name in counts} == counts
            assert summary.outbox_suppressed > 0  # staged by the writes: told already
            for table in PLAN.state_tables:
                expected, got = await rows_of(live, table), await rows_of(rebuilt, table)
                assert _comparable(table, got) == _comparable(table, expected), table.name
                if table is claims:
                    _ended_alike(expected, got)
            assert await rows_of(rebuilt, claims)  # not vacuous

            # The next registration, through the rules on each: decided alike.
            nxt = submitted(partner="p5", name="Acme Corporation", domain="acme.com", seq=2 * 10**6)
            clock = HandClock(datetime.now(UTC) + timedelta(minutes=1))
            for engine in (live, rebuilt):
                await deliver(resolver_context(engine, clock), nxt)
            rid = nxt.data.registration_id
            assert (await recorded(live))[rid] == (await recorded(rebuilt))[rid]
            # Direct sales' opportunity on the account, still open: rule 4 finds it on both.
            assert (await recorded(rebuilt))[rid].reason_code == "DIRECT_OPPORTUNITY_CONFLICT"
        finally:
            await live.dispose()
            await rebuilt.dispose()


async def test_transfers_appeals_and_returns_for_edit_are_rebuilt_as_the_resolver_applied_them(
    databases: Databases, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """A history with sales ops' transfer of a protection, an appeal of a reviewer's
    rejection decided again, and a registration returned for edit, edited by its partner and
    decided again by the rules: rebuilt table by table as the live one."""
    await ensure_topics(kafka_bootstrap, prefix=topic_prefix)
    # Each pair: the later registration decided first holds the protection, the earlier one
    # (another spelling, so another partition) is sent to review (first to register).
    pairs = {
        name: (
            submitted(partner="p1", name=f"{name} Corporation", domain=f"{name}.com", seq=seq),
            submitted(partner="p2", name=f"{name} Inc", domain=None, seq=seq - 1),
        )
        for name, seq in (
            ("Globex", 10**7),
            ("Initrode", 2 * 10**7),
            ("Umbrella", 3 * 10**7),
            ("Hooli", 4 * 10**7),
        )
    }
    (held, moved_to), (kept, appealing), (holding, returned), (hooli, twice) = pairs.values()
    async with databases.fresh() as live_url, databases.fresh() as rebuilt_url:
        await asyncio.to_thread(migrations.upgrade, "conflict_resolver", live_url)
        live = create_engine(live_url)
        rebuilt = create_engine(rebuilt_url)
        clock = SystemClock()
        queue = QueueContext(
            transactions=resolver_context(live, clock).transactions,
            clock=clock,
            policy=policy_store.default_policy(),
            admin_token=ADMIN,
        )
        try:
            async with AsyncSession(live) as session, session.begin():
                await policy_store.publish_policy(
                    session,
                    policy_store.default_policy(),
                    created_by="ops:ana",
                    now=datetime.now(UTC),
                )
            async with ResolverInstance(
                database_url=live_url,
                bootstrap=kafka_bootstrap,
                topic_prefix=topic_prefix,
                admin_token=ADMIN,
            ):
                for later, earlier in pairs.values():
                    await publish(kafka_bootstrap, topic_prefix, [later])
                    await wait_decided(live, {later.data.registration_id})
                    await publish(kafka_bootstrap, topic_prefix, [earlier])
                await settle(
                    live, {e.data.registration_id: "pending_review" for _, e in pairs.values()}
                )

                # Sales ops move the holder's protection to the registration in review.
                await transfers.transfer(
                    resolver_context(live, clock),
                    from_registration_id=held.data.registration_id,
                    to_registration_id=moved_to.data.registration_id,
                    reason="first_to_register_conflict",
                    note="Registered first; the customer confirms it.",
                    actor="ops:ana",
                )
                # A reviewer rejects with a code; the partner appeals; rejected again.
                await decide_case_of(queue, live, appealing, "DUPLICATE_OPPORTUNITY")
                await settle(live, {appealing.data.registration_id: "rejected"})
                appeal = RegistrationAppealed(
                    registration_id=appealing.data.registration_id,
                    account_key=appealing.data.account_key,
                    product_line=appealing.data.product_line,
                    appealed_at=datetime.now(UTC),
                    note="We met the customer in March, before the other partner.",
                    rejection_code="DUPLICATE_OPPORTUNITY",
                )
                await publish(kafka_bootstrap, topic_prefix, [told(appeal, appealing)])
                await settle(live, {appealing.data.registration_id: "pending_review"})
                await decide_case_of(queue, live, appealing, "OTHER")
                # A reviewer returns one for edit; its partner names another customer.
                await return_case_of(queue, live, returned)
                await settle(live, {returned.data.registration_id: "action_required"})
                stark = CustomerData(name="Stark Industries", domain="stark.example", country="US")
                await publish(kafka_bootstrap, topic_prefix, [edited(returned, customer=stark)])
                # Another is edited (its amount) and goes to review again, its case opened
                # again; then it is returned a second time.
                await return_case_of(queue, live, twice)
                await settle(live, {twice.data.registration_id: "action_required"})
                amount = AmountData(value=Decimal("90000"), currency="USD")
                await publish(kafka_bootstrap, topic_prefix, [edited(twice, amount=amount)])
                await settle(live, {twice.data.registration_id: "pending_review"})
                await return_case_of(queue, live, twice)
                await settle(
                    live,
                    {
                        held.data.registration_id: "transferred",
                        moved_to.data.registration_id: "approved",
                        kept.data.registration_id: "approved",
                        appealing.data.registration_id: "rejected",
                        holding.data.registration_id: "approved",
                        returned.data.registration_id: "approved",
                        hooli.data.registration_id: "approved",
                        twice.data.registration_id: "action_required",
                    },
                )

            summary = await replay(
                PLAN,
                database_url=rebuilt_url,
                bootstrap=kafka_bootstrap,
                topic_prefix=topic_prefix,
                migrate=migrations.upgrade,
            )
            assert summary.poison == 0
            counts = {"claims": 8, "protections": 5, "conflicts": 4}
            assert {name: summary.rows[name] for name in counts} == counts
            for table in PLAN.state_tables:
                expected, got = await rows_of(live, table), await rows_of(rebuilt, table)
                assert _comparable(table, got) == _comparable(table, expected), table.name
                if table is claims:
                    _ended_alike(expected, got)
            history = [row["action"] for row in await rows_of(rebuilt, conflict_history)]
            assert sorted(history) == [
                "appealed",
                "decided",
                "decided",
                "returned",
                "returned",
                "returned",
            ]
            (edited_twice,) = [
                row
                for row in await rows_of(rebuilt, claims)
                if row["registration_id"] == twice.data.registration_id
            ]
            assert edited_twice["edit_round_trips"] == 2
            assert Decimal(edited_twice["submitted"]["amount"]["value"]) == amount.value
        finally:
            await live.dispose()
            await rebuilt.dispose()


async def settle(engine: AsyncEngine, statuses: dict[str, str]) -> None:
    """Until each registration named has its status and the resolver told all it did."""

    async def there() -> bool:
        now = {rid: claim.status for rid, claim in (await recorded(engine)).items()}
        async with engine.connect() as connection:
            unsent = (
                await connection.execute(select(outbox).where(outbox.c.published_at.is_(None)))
            ).all()
        return all(now.get(rid) == status for rid, status in statuses.items()) and not unsent

    try:
        await until(there)
    except TimeoutError as stuck:
        seen = {rid: claim.status for rid, claim in (await recorded(engine)).items()}
        raise TimeoutError(f"wanted {statuses}, the claims are {seen}") from stuck


async def case_id_of(engine: AsyncEngine, registration: EventEnvelope[Any]) -> str:
    async with engine.connect() as connection:
        query = select(conflicts.c.id).where(
            conflicts.c.registration_id == registration.data.registration_id
        )
        return str((await connection.execute(query)).scalar_one())


async def decide_case_of(
    queue: QueueContext, engine: AsyncEngine, registration: EventEnvelope[Any], code: str
) -> None:
    """A reviewer approves none: the registration of the case is rejected with a code."""
    await deciding.decide(
        queue,
        OPS,
        await case_id_of(engine, registration),
        approve=None,
        reason="The customer works with the other partner.",
        reason_code=code,
    )


async def return_case_of(
    queue: QueueContext, engine: AsyncEngine, registration: EventEnvelope[Any]
) -> None:
    await returning.return_for_edit(
        queue,
        OPS,
        await case_id_of(engine, registration),
        comments="Which subsidiary is the customer, and for how much?",
        fields=("customer.name", "customer.domain", "amount"),
    )


def edited(
    registration: EventEnvelope[Any],
    *,
    customer: CustomerData | None = None,
    amount: AmountData | None = None,
) -> EventEnvelope[Any]:
    """As deal_registration sends a partner's edit, keyed by the edited customer's key (the
    registration keeps its submission order)."""
    customer = customer or registration.data.customer
    key = account_key(name=customer.name, domain=customer.domain, country=customer.country)
    changed = {
        "customer": customer,
        "account_key": key,
        "amount": amount or registration.data.amount,
    }
    now = datetime.now(UTC)
    payload = RegistrationEdited(
        registration_id=registration.data.registration_id,
        account_key=key,
        product_line=registration.data.product_line,
        edited_at=now,
        changed_fields=("customer.name", "customer.domain") if amount is None else ("amount",),
        registration=registration.data.model_copy(update=changed),
    )
    return new_envelope(
        payload,
        event_id=new_id(),
        source=sender_source(RegistrationEdited),
        subject=payload.registration_id,
        time=now,
        correlation_id=registration.correlationid,
        causation_id=None,
        partition_key=key,
    )


def from_crm(payload: EventPayload, *, key: str, subject: str) -> EventEnvelope[Any]:
    """As its sender (crm_sync, or the resolver) sends it: at the time it happens."""
    return new_envelope(
        payload,
        event_id=new_id(),
        source=sender_source(type(payload)),
        subject=subject,
        time=datetime.now(UTC),
        correlation_id=new_id(),
        causation_id=None,
        partition_key=key,
    )


async def _review_an_extension_and_meet_direct_sales(
    live: AsyncEngine, bootstrap: str, prefix: str, *, holder: EventEnvelope[Any]
) -> None:
    """Ops send extensions to review (a policy published): the holder's request opens a case,
    granted by ops. Direct sales open an opportunity on the holder's account (an encroachment
    case, resolved by ops: the partner keeps it) and one on an unprotected account, closed."""
    clock = HandClock(datetime.now(UTC))
    queue = QueueContext(
        transactions=resolver_context(live, clock).transactions,
        clock=clock,
        policy=DEFAULT_POLICY,
        admin_token=ADMIN,
    )
    async with AsyncSession(live) as session, session.begin():
        reviewed = policy_store.default_policy().model_copy(
            update={"extension": ExtensionPolicy(review=True)}
        )
        await policy_store.publish_policy(
            session, reviewed, created_by="ops:ana", now=datetime.now(UTC)
        )
    registration = holder.data
    request = ExtensionRequested(
        registration_id=registration.registration_id,
        account_key=registration.account_key,
        product_line=registration.product_line,
        requested_at=datetime.now(UTC),
    )
    await publish(bootstrap, prefix, [told(request, holder)])
    extension_case = await _case_of(live, EXTENSION_REVIEW)
    async with AsyncSession(live) as session, session.begin():
        row = await queue_store.get_case(session, extension_case["id"], lock=True)
        assert row is not None
        await decide_locked(
            session,
            row,
            approve=registration.registration_id,
            actor="ops:ana",
            reason="The customer asked for more time.",
            now=datetime.now(UTC),
        )
    seen = await get_case(queue, extension_case["id"])
    assert [line["action"] for line in seen["history"]] == ["opened", "decided"]

    def direct(opportunity_id: str, name: str, domain: str) -> DirectOpportunityOpened:
        return DirectOpportunityOpened(
            crm_system="hubspot",
            opportunity_id=opportunity_id,
            account_key=account_key(name=name, domain=domain, country="US"),
            customer=CustomerData(name=name, domain=domain, country="US"),
            product_line=registration.product_line,
            opened_at=datetime.now(UTC),
        )

    encroaching = direct("direct-1", registration.customer.name, str(registration.customer.domain))
    elsewhere = direct("direct-2", "Umbrella Works", "umbrella-works.example")
    closed = DirectOpportunityClosed(
        crm_system="hubspot",
        opportunity_id=elsewhere.opportunity_id,
        account_key=elsewhere.account_key,
        product_line=elsewhere.product_line,
        closed_at=datetime.now(UTC),
    )
    opened = [
        from_crm(event, key=event.account_key, subject=event.opportunity_id)
        for event in (encroaching, elsewhere, closed)
    ]
    await publish(bootstrap, prefix, opened)
    encroachment = await _case_of(live, "DIRECT_ENCROACHMENT")
    clock.current = datetime.now(UTC)
    await resolve_encroachment(
        queue,
        OPS_ADMIN,
        encroachment["id"],
        resolution="partner_keeps",
        reason="The partner found the account first.",
    )

    async def told_all() -> bool:
        async with live.connect() as connection:
            opportunities = (await connection.execute(select(direct_opportunities))).all()
            unsent = (
                await connection.execute(select(outbox).where(outbox.c.published_at.is_(None)))
            ).all()
        return (
            sorted(row.closed_at is not None for row in opportunities) == [False, True]
            and not unsent
        )

    await until(told_all)


async def _a_possible_duplicate_judged_by_ops(
    live: AsyncEngine, bootstrap: str, prefix: str
) -> None:
    """A registration that may name a protected account goes to review; ops say it is the
    same account (a labelled pair for the matcher's calibration)."""
    original = submitted(partner="p9", name="Borealis Data Systems", domain="borealisdata.com")
    await publish(bootstrap, prefix, [original])
    await wait_decided(live, {original.data.registration_id})
    maybe = submitted(partner="p10", name="Borealis Data", domain=None)
    await publish(bootstrap, prefix, [maybe])
    await wait_decided(live, {maybe.data.registration_id})
    case = await _case_of(live, "POSSIBLE_DUPLICATE")
    async with AsyncSession(live) as session, session.begin():
        row = await queue_store.get_case(session, case["id"], lock=True)
        assert row is not None
        await decide_locked(
            session,
            row,
            approve=None,
            actor="ops:ana",
            reason="The same company, registered again.",
            now=datetime.now(UTC),
        )

    async def told_all() -> bool:
        async with live.connect() as connection:
            unsent = (
                await connection.execute(select(outbox).where(outbox.c.published_at.is_(None)))
            ).all()
        return not unsent

    await until(told_all)


async def _case_of(live: AsyncEngine, reason_code: str) -> dict[str, Any]:
    """The one case of this kind, once the resolver opened it."""
    found: list[dict[str, Any]] = []

    async def opened() -> bool:
        async with live.connect() as connection:
            query = select(conflicts).where(conflicts.c.reason_code == reason_code)
            found[:] = [dict(row) for row in (await connection.execute(query)).mappings()]
        return bool(found)

    await until(opened)
    [case] = found
    return case


async def _influence_recorded(*, connection_of: AsyncEngine) -> bool:
    async with connection_of.connect() as connection:
        return bool((await connection.execute(select(influence_claims))).all())


def _comparable(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as compared. A withdrawal's or a lost deal's ``ended_at`` is the resolver's
    processing time, told on no event: the replay records the consumed event's own time,
    earlier by the consumer's lag, so it is compared apart (:func:`_ended_alike`)."""
    if table is not claims:
        return rows
    return [{**row, "ended_at": row["ended_at"] is not None} for row in rows]


def _ended_alike(live: list[dict[str, Any]], rebuilt: list[dict[str, Any]]) -> None:
    ended = {row["registration_id"]: row["ended_at"] for row in live if row["ended_at"]}
    again = {row["registration_id"]: row["ended_at"] for row in rebuilt if row["ended_at"]}
    assert ended.keys() == again.keys()
    for registration_id, at in ended.items():
        assert timedelta(0) <= at - again[registration_id] < timedelta(seconds=10)


async def test_a_history_the_replay_cannot_apply_yet_is_refused_naming_the_event(
    databases: Databases, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """An event the plan cannot apply yet stops the replay, which says so, instead of leaving
    a database that differs. The plan applies every event it reads, or soon will: a direct
    opportunity stands in for one it could not (``cannot_apply`` of a copy of the plan)."""
    await ensure_topics(kafka_bootstrap, prefix=topic_prefix)
    opened = DirectOpportunityOpened(
        crm_system="hubspot",
        opportunity_id="direct-replay-1",
        account_key=account_key(name="Initech", domain="initech-replay.com", country="US"),
        customer=CustomerData(name="Initech", domain="initech-replay.com", country="US"),
        product_line="network-security",
        opened_at=datetime.now(UTC),
    )
    envelope = new_envelope(
        opened,
        event_id=new_id(),
        source=sender_source(DirectOpportunityOpened),
        subject=opened.opportunity_id,
        time=datetime.now(UTC),
        correlation_id=new_id(),
        causation_id=None,
        partition_key=opened.account_key,
    )
    await publish(kafka_bootstrap, topic_prefix, [envelope])
    async with databases.fresh() as rebuilt_url:
        unable = {DirectOpportunityOpened.event_type: "a direct opportunity (a stand-in)"}
        with pytest.raises(UnsupportedHistoryError) as refused:
            await replay(
                replace(PLAN, cannot_apply=unable),
                database_url=rebuilt_url,
                bootstrap=kafka_bootstrap,
                topic_prefix=topic_prefix,
                migrate=migrations.upgrade,
            )
    message = str(refused.value)
    assert DirectOpportunityOpened.event_type in message
    assert "restore the service from a backup" in message


async def test_an_encroachment_told_without_its_case_record_is_refused(
    databases: Databases, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """A ``direct_encroachment_raised`` from before its evidence and due time were on it: the
    case cannot be opened as it stood, so the replay stops instead of guessing them."""
    await ensure_topics(kafka_bootstrap, prefix=topic_prefix)
    key = account_key(name="Initech", domain="initech-replay.com", country="US")
    raised = DirectEncroachmentRaised(
        conflict_id=new_id(),
        registration_id=new_id(),
        account_key=key,
        product_line="network-security",
        crm_system="hubspot",
        opportunity_id="direct-replay-2",
        protection_expires_at=datetime.now(UTC) + timedelta(days=60),
        crm_note="partner-protected",
        partner_reason="Direct sales opened an opportunity on this account.",
        raised_at=datetime.now(UTC),
    )
    envelope = from_crm(raised, key=key, subject=raised.registration_id)
    await publish(kafka_bootstrap, topic_prefix, [envelope])
    async with databases.fresh() as rebuilt_url:
        with pytest.raises(UnsupportedHistoryError) as refused:
            await replay(
                PLAN,
                database_url=rebuilt_url,
                bootstrap=kafka_bootstrap,
                topic_prefix=topic_prefix,
                migrate=migrations.upgrade,
            )
    message = str(refused.value)
    assert DirectEncroachmentRaised.event_type in message
    assert "restore the service from a backup" in message


async def test_an_extension_case_whose_opening_was_never_told_is_refused(
    databases: Databases, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """Ops' answer to an extension sent to review before the resolver told the case's
    opening: the case is on no event, so the replay stops instead of losing it."""
    await ensure_topics(kafka_bootstrap, prefix=topic_prefix)
    key = account_key(name="Initech", domain="initech-replay.com", country="US")
    now = datetime.now(UTC)
    decided = ConflictCaseRecorded(
        conflict_id=new_id(),
        registration_id=new_id(),
        account_key=key,
        product_line="network-security",
        at=now,
        action="decided",
        actor="ops:ana",
        reason="The customer asked for more time.",
        detail={"extension": "granted"},
        state="decided",
        due_at=now + timedelta(days=2),
        decided_at=now,
        decided_by="ops:ana",
    )
    envelope = from_crm(decided, key=key, subject=decided.registration_id)
    await publish(kafka_bootstrap, topic_prefix, [envelope])
    async with databases.fresh() as rebuilt_url:
        with pytest.raises(UnsupportedHistoryError) as refused:
            await replay(
                PLAN,
                database_url=rebuilt_url,
                bootstrap=kafka_bootstrap,
                topic_prefix=topic_prefix,
                migrate=migrations.upgrade,
            )
    assert "restore the service from a backup" in str(refused.value)
