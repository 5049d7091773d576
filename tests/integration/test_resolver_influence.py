"""Influence claims through a running resolver (its lifespan, outbox relay and consumers),
observed where partners and crm_sync see them: the decisions topic, and its own tables.

An influence claim is accepted or rejected at once and never touches exclusivity: no claim,
no protection, no waitlist, no review; a sourced registration after it is approved as if it
were not there, and one before it keeps its protection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from conflict_resolver import handlers
from conflict_resolver.adapters import policy_store
from conflict_resolver.adapters.tables import (
    claims,
    co_sell_partners,
    influence_claims,
    protections,
)
from conflict_resolver.app import create_app
from conflict_resolver.domain.policy import Policy
from conflict_resolver.settings import ResolverSettings
from schemas.cosell import CoSellAccepted, CoSellDeclined
from schemas.crm import CrmDealClosed
from schemas.envelope import EventEnvelope
from schemas.registration import RegistrationWithdrawn
from schemas.topics import DECISIONS
from services.clock import new_id
from services.migrations import upgrade
from services.settings import DatabaseSettings, KafkaSettings, OutboxSettings, SecuritySettings
from tests.support.databases import Databases
from tests.support.kafka_reader import read_all
from tests.support.resolver import HandClock, deliver, envelope_of, submitted

pytestmark = pytest.mark.integration
ADMIN = "influence-admin-token-0123456789abcdef"


@dataclass
class Resolver:
    ctx: handlers.Context
    clock: HandClock
    bootstrap: str
    prefix: str

    async def history(self, key: str, count: int) -> list[EventEnvelope[Any]]:
        """The decisions topic's events for one account, once there are ``count`` of them."""
        deadline = time.monotonic() + 30
        while True:
            events = [
                e
                for e in await read_all(self.bootstrap, self.prefix + DECISIONS.name)
                if e.partitionkey == key
            ]
            if len(events) >= count or time.monotonic() > deadline:
                return events
            await asyncio.sleep(0.2)

    async def rows(self, table: Any, registration_id: str) -> list[Any]:
        column = table.c.registration_id
        async with self.ctx.transactions.transaction() as session:
            return list(await session.execute(select(table).where(column == registration_id)))


@pytest.fixture(scope="module")
async def resolver(kafka_bootstrap: str, databases: Databases) -> AsyncIterator[Resolver]:
    prefix = f"t{new_id()[:10]}."
    clock = HandClock()
    async with databases.fresh() as url:
        await asyncio.to_thread(upgrade, "conflict_resolver", url)
        settings = ResolverSettings(
            log_json=False,
            database=DatabaseSettings(url=url),
            kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix),
            outbox=OutboxSettings(poll_interval_seconds=0.05),
            security=SecuritySettings(admin_token=ADMIN, env="test"),
            expiry_interval_seconds=3600.0,
        )
        app = create_app(settings, clock=clock)
        async with LifespanManager(app, startup_timeout=90, shutdown_timeout=30):
            yield Resolver(app.state.service.context, clock, kafka_bootstrap, prefix)


def kinds(events: list[EventEnvelope[Any]]) -> list[tuple[str, str]]:
    return [(e.subject, e.type.removeprefix("dealreg.")) for e in events]


async def test_influence_after_a_holder_is_accepted_and_leaves_its_protection_alone(
    resolver: Resolver,
) -> None:
    domain = f"infl{new_id()[:8]}.com"
    holder = submitted(partner="reseller", name="Influx", domain=domain)
    consultant = submitted(partner="consultant", name="Influx", domain=domain, role="influence")
    await deliver(resolver.ctx, holder)
    [approved] = await resolver.history(f"d:{domain}", 1)
    await deliver(resolver.ctx, consultant)
    await deliver(resolver.ctx, consultant)  # redelivered: decided once
    events = await resolver.history(f"d:{domain}", 2)
    await asyncio.sleep(0.5)
    events = await resolver.history(f"d:{domain}", 2)

    holder_id, consultant_id = holder.data.registration_id, consultant.data.registration_id
    assert kinds(events) == [
        (holder_id, "registration.approved"),
        (consultant_id, "influence.accepted"),
    ]
    accepted = events[1].data
    assert (accepted.partner_id, accepted.partner_name) == ("consultant", "Partner consultant")
    assert accepted.reason_code == "INFLUENCE_ACCEPTED"
    # Nothing of exclusivity: no claim, no protection; the holder's stands as approved.
    assert await resolver.rows(claims, consultant_id) == []
    assert await resolver.rows(protections, consultant_id) == []
    [held] = await resolver.rows(protections, holder_id)
    assert held.expires_at == approved.data.protection_expires_at
    [recorded] = await resolver.rows(influence_claims, consultant_id)
    assert recorded.status == "accepted"


async def test_a_sourced_registration_after_influence_is_approved_as_if_it_were_not_there(
    resolver: Resolver,
) -> None:
    domain = f"first{new_id()[:8]}.com"
    influences = [
        submitted(partner=p, name="Firstly", domain=domain, role="influence")
        for p in ("c1", "c2", "c3")
    ]
    sourced = submitted(partner="c1", name="Firstly", domain=domain)  # even by an influencer
    for envelope in [*influences, sourced]:
        await deliver(resolver.ctx, envelope)
    events = await resolver.history(f"d:{domain}", 4)
    assert [kind for _, kind in kinds(events)] == ["influence.accepted"] * 3 + [
        "registration.approved"
    ]
    assert events[-1].subject == sourced.data.registration_id


async def test_a_withdrawn_influence_claim_ends_quietly(resolver: Resolver) -> None:
    domain = f"quiet{new_id()[:8]}.com"
    claim = submitted(partner="c9", name="Quietly", domain=domain, role="influence")
    await deliver(resolver.ctx, claim)
    await resolver.history(f"d:{domain}", 1)
    withdrawn = RegistrationWithdrawn(
        registration_id=claim.data.registration_id,
        account_key=f"d:{domain}",
        product_line="network-security",
        withdrawn_at=resolver.clock.now(),
        previous_status="accepted",
    )
    await deliver(
        resolver.ctx,
        envelope_of(withdrawn, key=f"d:{domain}", subject=claim.data.registration_id),
    )
    [recorded] = await resolver.rows(influence_claims, claim.data.registration_id)
    assert recorded.status == "withdrawn"
    assert isinstance(recorded.ended_at, datetime)
    await asyncio.sleep(0.5)
    assert len(await resolver.history(f"d:{domain}", 2)) == 1  # nothing to tell anyone


async def test_influence_on_a_house_account_is_rejected_by_the_default_policy(
    resolver: Resolver,
) -> None:
    domain = f"house{new_id()[:8]}.com"
    async with resolver.ctx.transactions.transaction() as session:
        current = await policy_store.current_house_accounts(session)
        accounts = policy_store.HouseAccountList(
            accounts=(
                *current[1].accounts,
                policy_store.HouseAccount(name="Housely", domain=domain),
            )
        )
        await policy_store.publish_house_accounts(
            session, accounts, created_by="ops", now=resolver.clock.now()
        )
    claim = submitted(partner="c5", name="Housely", domain=domain, role="influence")
    await deliver(resolver.ctx, claim)
    [rejected] = await resolver.history(f"d:{domain}", 1)
    assert rejected.type == "dealreg.influence.rejected"
    assert rejected.data.reason_code == "HOUSE_ACCOUNT"


async def test_a_win_credits_the_holder_its_accepted_co_sellers_and_the_influence_claims(
    resolver: Resolver,
) -> None:
    """Co-sell answers are remembered once (a redelivery or a later answer to the same
    invitation changes nothing); a declined invitee and a withdrawn influence claim are not
    credited; the default policy's ``sourced_only`` credits the holder alone, so the policy is
    an even split here."""
    domain = f"cosell{new_id()[:8]}.com"
    key = f"d:{domain}"
    holder = submitted(partner="rook", name="Cosellers", domain=domain)
    consultant = submitted(partner="cobalt", name="Cosellers", domain=domain, role="influence")
    quitter = submitted(partner="quits", name="Cosellers", domain=domain, role="influence")
    holder_id = holder.data.registration_id
    even = Policy.model_validate({"attribution": {"model": "even_split"}})
    await handlers.publish_policy(resolver.ctx, even, created_by="test")
    for envelope in (holder, consultant, quitter):
        await deliver(resolver.ctx, envelope)
    at = resolver.clock.now()
    common = {
        "registration_id": holder_id,
        "account_key": key,
        "product_line": "network-security",
        "holder_partner_id": "rook",
    }
    accepted = CoSellAccepted(
        **common,
        invitation_id="inv-d",
        partner_id="delta",
        partner_name="Delta",
        role="distributor",
        accepted_at=at,
    )
    declined = CoSellDeclined(
        **common, invitation_id="inv-m", partner_id="mosaic", role="msp", declined_at=at
    )
    late_decline = CoSellDeclined(
        **common, invitation_id="inv-d", partner_id="delta", role="distributor", declined_at=at
    )
    once = envelope_of(accepted, key=key, subject=holder_id)
    for envelope in (
        once,
        once,
        envelope_of(declined, key=key, subject=holder_id),
        envelope_of(late_decline, key=key, subject=holder_id),
    ):
        await deliver(resolver.ctx, envelope)
    withdrawn = RegistrationWithdrawn(
        registration_id=quitter.data.registration_id,
        account_key=key,
        product_line="network-security",
        withdrawn_at=at,
        previous_status="accepted",
    )
    await deliver(
        resolver.ctx, envelope_of(withdrawn, key=key, subject=quitter.data.registration_id)
    )
    rows = {
        row.invitation_id: row.status for row in await resolver.rows(co_sell_partners, holder_id)
    }
    assert rows == {"inv-d": "accepted", "inv-m": "declined"}

    closed = CrmDealClosed(
        registration_id=holder_id,
        account_key=key,
        product_line="network-security",
        crm_system="hubspot",
        opportunity_id=f"opp-{domain}",
        outcome="won",
        closed_at=at,
    )
    await deliver(resolver.ctx, envelope_of(closed, key=key, subject=holder_id))
    events = await resolver.history(key, 4)
    [attributed] = [e.data for e in events if e.type.endswith("deal_attributed")]
    assert attributed.model == "even_split"
    assert {(line.partner_id, line.role, str(line.amount.value)) for line in attributed.lines} == {
        ("rook", "sourced", "8333.34"),
        ("delta", "distributor", "8333.33"),
        ("cobalt", "influence", "8333.33"),
    }
