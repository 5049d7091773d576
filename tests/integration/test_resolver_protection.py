"""One path for every protection change, observed where partners and crm_sync see it: the
events on the decisions topic and the conflict queue's API.

One resolver (its lifespan, outbox relay and consumers running) on a clock the tests move by
hand; its own expiry and SLA jobs stay asleep, so each test runs them at the moment it means.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from conflict_resolver import handlers
from conflict_resolver.adapters import claims_store
from conflict_resolver.app import create_app
from conflict_resolver.domain.policy import Policy, ProductLinePolicy
from conflict_resolver.queue.handlers import escalate_due
from conflict_resolver.settings import ResolverSettings
from schemas.crm import DirectOpportunityOpened
from schemas.envelope import EventEnvelope
from schemas.registration import CustomerData, ExtensionRequested
from schemas.topics import DECISIONS
from services.clock import new_id
from services.migrations import upgrade
from services.settings import DatabaseSettings, KafkaSettings, OutboxSettings, SecuritySettings
from tests.support.databases import Databases, only_on
from tests.support.kafka_reader import read_all
from tests.support.resolver import HandClock, deliver, envelope_of, submitted

pytestmark = pytest.mark.integration
ADMIN = "protection-admin-token-0123456789abcdef"
LINE = "network-security"
ASLEEP = 3600.0  # the app's expiry and SLA jobs: the tests run them by hand


@dataclass
class Resolver:
    app: FastAPI
    client: httpx.AsyncClient
    clock: HandClock
    bootstrap: str
    prefix: str

    @property
    def ctx(self) -> handlers.Context:
        ctx: handlers.Context = self.app.state.service.context
        return ctx

    async def publish_policy(self, policy: Policy) -> None:
        await handlers.publish_policy(self.ctx, policy, created_by="test")

    async def decide(self, case_id: str, approve: str | None) -> httpx.Response:
        return await self.client.post(
            f"/v1/conflicts/{case_id}/decision",
            json={"approve": approve, "reason": "Checked with the account team."},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )

    async def history(
        self, account_key: str, done: Callable[[list[EventEnvelope[Any]]], bool]
    ) -> list[EventEnvelope[Any]]:
        """The decisions topic's events for one account, in order, once ``done`` holds."""
        deadline = time.monotonic() + 30
        while True:
            events = [
                event
                for event in await read_all(self.bootstrap, self.prefix + DECISIONS.name)
                if event.partitionkey == account_key
            ]
            if done(events) or time.monotonic() > deadline:
                return events
            await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
async def resolver(kafka_bootstrap: str, databases: Databases) -> AsyncIterator[Resolver]:
    prefix = f"t{new_id()[:10]}."
    os.environ["DEALREG_QUEUE_SLA_CHECK_INTERVAL_SECONDS"] = str(ASLEEP)
    clock = HandClock()
    async with databases.fresh() as url:
        await asyncio.to_thread(upgrade, "conflict_resolver", url)
        settings = ResolverSettings(
            log_json=False,
            database=DatabaseSettings(url=url),
            kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix),
            outbox=OutboxSettings(poll_interval_seconds=0.05),
            security=SecuritySettings(admin_token=ADMIN, env="test"),
            expiry_interval_seconds=ASLEEP,
        )
        app = create_app(settings, clock=clock)
        async with LifespanManager(app, startup_timeout=90, shutdown_timeout=30):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://resolver") as client:
                yield Resolver(app, client, clock, kafka_bootstrap, prefix)
    os.environ.pop("DEALREG_QUEUE_SLA_CHECK_INTERVAL_SECONDS", None)


# The resolver's own record on the topics (a case's history line, a waitlist re-evaluation
# that decides nothing new): no decision, so the histories below leave them apart.
RECORDS = ("case_recorded", "waitlist_reevaluated")


def types_of(events: list[EventEnvelope[Any]], registration_id: str) -> list[str]:
    """The decisions about the registration, in order (:data:`RECORDS` apart)."""
    return [
        e.type.rsplit(".", 1)[-1]
        for e in events
        if e.subject == registration_id and not e.type.endswith(RECORDS)
    ]


def live_approvals_never_overlap(events: list[EventEnvelope[Any]]) -> None:
    """Walk the account's history in order: at no moment two live approvals."""
    live: set[str] = set()
    for event in events:
        kind = event.type.rsplit(".", 1)[-1]
        if kind == "approved":
            live.add(event.subject)
            assert len(live) == 1, f"two live approvals: {sorted(live)}"
        elif kind in ("protection_expired", "rejected"):
            live.discard(event.subject)


async def in_review_behind_a_direct_opportunity(
    resolver: Resolver, *, domain: str, partners: tuple[str, ...]
) -> tuple[list[Any], str]:
    """Registrations decided in order; then direct sales opens an opportunity on the account,
    so the last one goes to review. Returns the registrations and the last one's case id."""
    registrations = [submitted(partner=p, name=domain.title(), domain=domain) for p in partners]
    for registration in registrations[:-1]:
        await deliver(resolver.ctx, registration)
    opened = DirectOpportunityOpened(
        crm_system="hubspot",
        opportunity_id=new_id(),
        account_key=f"d:{domain}",
        customer=CustomerData(name=domain.title(), domain=domain, country="US"),
        product_line=LINE,
        opened_at=resolver.clock.now(),
    )
    envelope = envelope_of(opened, key=f"d:{domain}", subject=opened.opportunity_id)
    await deliver(resolver.ctx, envelope)
    reviewed = registrations[-1]
    await deliver(resolver.ctx, reviewed)
    rid = reviewed.data.registration_id
    events = await resolver.history(f"d:{domain}", lambda es: "sent_to_review" in types_of(es, rid))
    [sent] = [e for e in events if e.subject == rid]
    return registrations, sent.data.conflict_id


async def test_an_ops_approval_gives_the_product_line_s_own_window(resolver: Resolver) -> None:
    """Failed before: the queue approved with the tier's window (90 days), not the line's."""
    await resolver.publish_policy(
        Policy(product_lines={LINE: ProductLinePolicy(protection_window=timedelta(days=14))})
    )
    domain = f"line{new_id()[:8]}.com"
    [reviewed], case_id = await in_review_behind_a_direct_opportunity(
        resolver, domain=domain, partners=("p1",)
    )
    answer = await resolver.decide(case_id, reviewed.data.registration_id)
    assert answer.status_code == 200, answer.text
    rid = reviewed.data.registration_id
    events = await resolver.history(f"d:{domain}", lambda es: "approved" in types_of(es, rid))
    [approved] = [e for e in events if e.subject == rid and e.type.endswith(".approved")]
    assert approved.data.protection_expires_at == resolver.clock.now() + timedelta(days=14)
    assert approved.data.decided_by == "admin"


async def test_an_ops_approval_over_a_holder_whose_window_passed_ends_it_first(
    resolver: Resolver,
) -> None:
    """Failed before: the holder's protection row was deleted but its claim never ended (no
    ``protection_expired``): the history showed two live approvals for one account."""
    await resolver.publish_policy(Policy(protection_window=timedelta(days=30)))
    domain = f"stale{new_id()[:8]}.com"
    (holder, reviewed), case_id = await in_review_behind_a_direct_opportunity(
        resolver, domain=domain, partners=("p1", "p2")
    )
    assert (await resolver.decide(case_id, reviewed.data.registration_id)).status_code == 409
    resolver.clock.advance(days=31)  # the holder's window has passed; no expiry job ran yet
    answer = await resolver.decide(case_id, reviewed.data.registration_id)
    assert answer.status_code == 200, answer.text
    assert answer.json()["approved_registration_id"] == reviewed.data.registration_id
    holder_id, reviewed_id = holder.data.registration_id, reviewed.data.registration_id
    events = await resolver.history(
        f"d:{domain}", lambda es: "approved" in types_of(es, reviewed_id)
    )
    # The direct opportunity encroached on the holder's protection while it was live.
    assert types_of(events, holder_id) == [
        "approved",
        "direct_encroachment_raised",
        "protection_expired",
    ]
    assert types_of(events, reviewed_id) == ["sent_to_review", "approved"]
    # Ops' decision closed the case: its history line travels with the case as it stands.
    [record] = [e for e in events if e.type.endswith("case_recorded") and e.subject == reviewed_id]
    assert (record.data.action, record.data.state) == ("decided", "decided")
    assert record.data.approved_registration_id == reviewed_id
    live_approvals_never_overlap(events)


async def test_an_ops_approval_waits_for_an_earlier_registration_on_the_waitlist(
    resolver: Resolver,
) -> None:
    """First-to-register: p2 was accepted before p3 and waits behind p1. Ops cannot hand p3
    the protection when p1's window passes; ending p1 re-evaluates p2 first."""
    await resolver.publish_policy(Policy(protection_window=timedelta(days=30)))
    domain = f"queue{new_id()[:8]}.com"
    (holder, waiting, reviewed), case_id = await in_review_behind_a_direct_opportunity(
        resolver, domain=domain, partners=("p1", "p2", "p3")
    )
    resolver.clock.advance(days=31)
    refused = await resolver.decide(case_id, reviewed.data.registration_id)
    assert refused.status_code == 409
    assert "first-to-register" in refused.json()["detail"]
    while await handlers.expire_one(resolver.ctx):
        pass
    waiting_id = waiting.data.registration_id
    events = await resolver.history(f"d:{domain}", lambda es: len(types_of(es, waiting_id)) == 2)
    # The direct opportunity encroached on the holder's protection while it was live.
    assert types_of(events, holder.data.registration_id) == [
        "approved",
        "direct_encroachment_raised",
        "protection_expired",
    ]
    # Re-evaluated by the rules: direct sales' opportunity is still open, so it goes to review.
    assert types_of(events, waiting_id) == ["rejected", "sent_to_review"]
    assert types_of(events, reviewed.data.registration_id) == ["sent_to_review"]


async def test_the_sla_policy_approving_over_a_stale_holder_ends_it_first(
    resolver: Resolver,
) -> None:
    """Failed before: at the deadline the stale holder counted as holding protection, so
    ``approve_first`` rejected the registration although the holder's window had passed."""
    await resolver.publish_policy(
        Policy(
            protection_window=timedelta(days=30),
            review_sla=timedelta(hours=1),
            sla_auto_decision="approve_first",
        )
    )
    domain = f"sla{new_id()[:8]}.com"
    (holder, reviewed), case_id = await in_review_behind_a_direct_opportunity(
        resolver, domain=domain, partners=("p1", "p2")
    )
    resolver.clock.advance(days=31)
    await escalate_due(resolver.app.state.service.queue)
    case = await resolver.client.get(
        f"/v1/conflicts/{case_id}", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert case.json()["decided_by"] == "policy:sla"
    assert case.json()["approved_registration_id"] == reviewed.data.registration_id
    reviewed_id = reviewed.data.registration_id
    events = await resolver.history(
        f"d:{domain}", lambda es: "approved" in types_of(es, reviewed_id)
    )
    # The direct opportunity encroached on the holder's protection while it was live; that
    # case falls due with the review case: escalated first, or closed as the protection ends.
    holder_types = types_of(events, holder.data.registration_id)
    assert [t for t in holder_types if t != "escalated"] == [
        "approved",
        "direct_encroachment_raised",
        "protection_expired",
    ]
    assert holder_types.count("escalated") <= 1
    assert types_of(events, reviewed_id) == ["sent_to_review", "approved"]
    live_approvals_never_overlap(events)


# PostgreSQL only: the interleaving needs two writers at once; SQLite has one, so there the job
# holds the write lock from picking the row to deleting it and the race cannot happen.
@only_on("postgresql")
async def test_an_extension_granted_after_the_expiry_job_picked_the_row_is_kept(
    resolver: Resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failed before: the expiry job picked the due row, an extension committed, and the job
    deleted the freshly extended protection anyway. The interleaving is forced: the job
    stops right after picking the row until the extension has committed."""
    await resolver.publish_policy(Policy(protection_window=timedelta(days=30)))
    domain = f"ext{new_id()[:8]}.com"
    registration = submitted(partner="p1", name=domain.title(), domain=domain)
    await deliver(resolver.ctx, registration)
    rid, key = registration.data.registration_id, f"d:{domain}"
    expires_at = resolver.clock.now() + timedelta(days=30)

    picked, resume = asyncio.Event(), asyncio.Event()
    pick_due_row = claims_store.due_protection

    async def pick_then_wait(session: Any, now: Any) -> str | None:
        found = await pick_due_row(session, now)
        if found == rid:
            picked.set()
            await resume.wait()
        return found

    async def expire_until_it_is_picked() -> None:
        # Other tests' protections may fall due at the same moment: those are ended first.
        while await handlers.expire_one(resolver.ctx) and not picked.is_set():
            pass

    monkeypatch.setattr(claims_store, "due_protection", pick_then_wait)
    resolver.clock.current = expires_at  # due now
    expiry = asyncio.create_task(expire_until_it_is_picked())
    await asyncio.wait_for(picked.wait(), timeout=60)
    resolver.clock.current = expires_at - timedelta(seconds=1)  # the request came just in time
    request = ExtensionRequested(
        registration_id=rid, account_key=key, product_line=LINE, requested_at=expires_at
    )
    await deliver(resolver.ctx, envelope_of(request, key=key, subject=rid))
    resolver.clock.current = expires_at
    resume.set()
    await expiry
    monkeypatch.undo()

    resolver.clock.current = expires_at + timedelta(days=31)  # past the extended window
    while await handlers.expire_one(resolver.ctx):
        pass
    events = await resolver.history(key, lambda es: "protection_expired" in types_of(es, rid))
    assert types_of(events, rid) == ["approved", "protection_extended", "protection_expired"]
    [expired] = [e for e in events if e.type.endswith("protection_expired")]
    assert expired.data.expired_at == expires_at + timedelta(days=31)
