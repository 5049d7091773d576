"""Every step reaches the partner: deal_registration and the real conflict_resolver on one
Kafka, each step read back as the partner reads it (view, history, signed webhook) and as
sales ops read it (history with its actor).

The resolver's clock is the wall clock plus an offset a test may move (close dates and
protection windows pass in a moment); deal_registration keeps the wall clock.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from sqlalchemy import func, select
from standardwebhooks import Webhook

from conflict_resolver.adapters.tables import direct_opportunities
from conflict_resolver.app import create_app as create_resolver
from conflict_resolver.settings import ResolverSettings
from schemas.accounts import account_key
from schemas.crm import CrmDealClosed, DirectOpportunityOpened
from schemas.registration import CustomerData
from services.db import create_engine
from services.migrations import upgrade
from services.settings import DatabaseSettings, KafkaSettings, OutboxSettings, SecuritySettings
from tests.support.api import bearer, registration_body
from tests.support.databases import Databases
from tests.support.intake import ADMIN_TOKEN, IntakeApp, eventually, in_days, intake_app
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.integration

LINE = "network-security"


class ShiftedClock:
    """The wall clock, moved forward by ``offset`` when a test says so."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class World:
    intake: IntakeApp
    resolver: httpx.AsyncClient
    resolver_url: str
    clock: ShiftedClock
    receiver: Receiver
    ops_key: str


@pytest.fixture(scope="module")
async def world(kafka_bootstrap: str, databases: Databases) -> AsyncIterator[World]:
    prefix = f"t-outcomes-{databases.kind}-{uuid.uuid4().hex[:6]}."
    clock = ShiftedClock()
    receiver = Receiver()
    receiver.server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    async with AsyncExitStack() as stack:
        stack.callback(receiver.server.close)
        intake = await stack.enter_async_context(
            intake_app(kafka_bootstrap=kafka_bootstrap, databases=databases, topic_prefix=prefix)
        )
        url = await stack.enter_async_context(databases.fresh())
        await asyncio.to_thread(upgrade, "conflict_resolver", url)
        settings = ResolverSettings(
            log_json=False,
            database=DatabaseSettings(url=url),
            kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix),
            outbox=OutboxSettings(poll_interval_seconds=0.05),
            security=SecuritySettings(admin_token=SecretStr(ADMIN_TOKEN), env="test"),
            expiry_interval_seconds=0.2,
        )
        app = create_resolver(settings, clock=clock)
        await stack.enter_async_context(LifespanManager(app, startup_timeout=90))
        resolver = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://resolver")
        )
        ops = (await intake.admin("POST", "/v1/ops-users", json={"name": "Sam Ortiz"})).json()

        async def ops_key_known() -> int:
            answer = await resolver.get("/v1/conflicts", headers=bearer(ops["api_key"]))
            return answer.status_code

        assert await eventually(ops_key_known, lambda status: status == 200, within=60) == 200
        yield World(intake, resolver, url, clock, receiver, ops["api_key"])


@dataclass
class Partner:
    id: str
    name: str
    key: str
    secret: str


async def partner_with_webhook(world: World, name: str) -> Partner:
    created = await world.intake.new_partner(name)
    key = created["api_key"]
    hook = await world.intake.client.put(
        "/v1/webhook", json={"url": world.receiver.url}, headers=bearer(key)
    )
    assert hook.status_code in (200, 201), hook.text
    return Partner(created["id"], name, key, hook.json()["secret"])


async def register(
    world: World, partner: Partner, customer: str, domain: str, *, close_in_days: int = 90
) -> dict[str, Any]:
    body = registration_body(name=customer, domain=domain, product_line=LINE)
    body["expected_close_date"] = in_days(close_in_days)
    answer = await world.intake.register(partner.key, body)
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


async def until(world: World, partner: Partner, reg: dict[str, Any], status: str) -> dict[str, Any]:
    view = await eventually(
        lambda: world.intake.view(partner.key, reg["id"]),
        lambda v: v["status"] == status,
        within=30,
    )
    assert view["status"] == status, view
    return view


async def history(world: World, key: str, registration_id: str) -> list[dict[str, Any]]:
    answer = await world.intake.client.get(
        f"/v1/registrations/{registration_id}/history", headers=bearer(key)
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def webhooks_of(world: World, partner: Partner, registration_id: str) -> list[dict[str, Any]]:
    """The signed deliveries the partner's endpoint received for this registration (each
    signature checked with the partner's secret)."""
    told = []
    for headers, body in world.receiver.received:
        payload = json.loads(body)
        if payload["data"]["registration_id"] != registration_id:
            continue
        told.append(Webhook(partner.secret).verify(body, headers))
    return told


async def told(
    world: World, partner: Partner, registration_id: str, webhook_type: str
) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]]:
        return webhooks_of(world, partner, registration_id)

    deliveries = await eventually(
        probe, lambda items: webhook_type in [d["type"] for d in items], within=30
    )
    assert webhook_type in [d["type"] for d in deliveries], deliveries
    return deliveries


async def _deliveries(world: World, partner: Partner, registration_id: str) -> list[dict[str, Any]]:
    return webhooks_of(world, partner, registration_id)


async def resolver_count(world: World, query: Any) -> int:
    engine = create_engine(world.resolver_url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())
    finally:
        await engine.dispose()


async def poll_until(check: Callable[[], Awaitable[bool]], within: float = 30) -> bool:
    return await eventually(check, lambda done: done, within=within)


def says_nothing_of(text: str, *others: Partner) -> None:
    for other in others:
        assert other.name not in text
        assert other.id not in text


async def test_a_waitlisted_registration_promoted_into_review_is_told_and_so_is_its_rejection(
    world: World,
) -> None:
    """B waits behind A; direct sales opens an opportunity on the account; A withdraws, so B's
    promotion is re-evaluated and lands in review (DIRECT_OPPORTUNITY_CONFLICT): B's view,
    history and webhook say so; sales ops then reject it, and B is told that too."""
    a = await partner_with_webhook(world, "Alpha Promo Partners")
    b = await partner_with_webhook(world, "Bravo Promo Partners")
    customer, domain = "Promo Review Corporation", "promoreview.com"
    reg_a = await register(world, a, customer, domain)
    await until(world, a, reg_a, "approved")
    reg_b = await register(world, b, customer, domain)
    waiting = await until(world, b, reg_b, "rejected")
    assert waiting["reason_code"] == "ALREADY_REGISTERED"

    opened = DirectOpportunityOpened(
        crm_system="hubspot",
        opportunity_id="direct-promo-1",
        account_key=account_key(name=customer, domain=domain, country="US"),
        customer=CustomerData(name=customer, domain=domain, country="US"),
        product_line=LINE,
        opened_at=datetime.now(UTC),
    )
    await world.intake.publish(opened, registration={"id": "direct-promo-1"})
    count = select(func.count()).select_from(direct_opportunities)

    async def direct_recorded() -> bool:
        return await resolver_count(world, count) > 0

    assert await poll_until(direct_recorded)

    withdrawn = await world.intake.client.post(
        f"/v1/registrations/{reg_a['id']}/withdraw", headers=bearer(a.key)
    )
    assert withdrawn.status_code == 202, withdrawn.text
    view = await until(world, b, reg_b, "pending_review")
    assert view["reason_code"] == "DIRECT_OPPORTUNITY_CONFLICT"
    steps = await history(world, b.key, reg_b["id"])
    assert [(s["status"], s["reason_code"], s["actor"]) for s in steps] == [
        ("submitted", None, "partner"),
        ("rejected", "ALREADY_REGISTERED", "rules"),
        ("pending_review", "DIRECT_OPPORTUNITY_CONFLICT", "rules"),
    ]
    deliveries = await told(world, b, reg_b["id"], "registration.pending_review")
    in_review = next(d for d in deliveries if d["type"] == "registration.pending_review")
    assert in_review["data"]["status"] == "pending_review"
    assert in_review["data"]["actor"] == "rules"
    says_nothing_of(json.dumps(deliveries) + json.dumps(steps) + json.dumps(view), a)

    cases = (await world.resolver.get("/v1/conflicts", headers=bearer(world.ops_key))).json()
    case = next(c for c in cases["items"] if c["registration_id"] == reg_b["id"])
    decided = await world.resolver.post(
        f"/v1/conflicts/{case['id']}/decision",
        json={"approve": None, "reason": "Direct sales owns this deal with Alpha's help."},
        headers=bearer(world.ops_key),
    )
    assert decided.status_code == 200, decided.text
    rejected = await until(world, b, reg_b, "rejected")
    assert rejected["reason_code"] == "REVIEW_REJECTED"
    assert "Alpha" not in rejected["reason"]
    partner_steps = await history(world, b.key, reg_b["id"])
    assert (partner_steps[-1]["status"], partner_steps[-1]["actor"]) == ("rejected", "ops")
    ops_steps = await history(world, world.ops_key, reg_b["id"])
    assert ops_steps[-1]["actor"].startswith("ops:")
    assert [s["actor"] for s in ops_steps[:2]] == [f"partner:{b.id}", "rules"]
    # B was told "registration.rejected" once already (the waitlist): wait for the second.
    deliveries = await eventually(
        lambda: _deliveries(world, b, reg_b["id"]),
        lambda items: [d["type"] for d in items].count("registration.rejected") == 2,
        within=30,
    )
    last = deliveries[-1]
    assert (last["data"]["reason_code"], last["data"]["actor"]) == ("REVIEW_REJECTED", "ops")
    says_nothing_of(json.dumps(deliveries) + json.dumps(partner_steps), a)
    assert ops_steps[-1]["actor"] not in json.dumps(deliveries) + json.dumps(partner_steps)


async def test_leaving_the_waitlist_at_the_close_date_is_told_to_the_partner(
    world: World,
) -> None:
    """B waits behind A with a close date of tomorrow; once it has passed (and A still holds
    its protection), the resolver's waitlist job takes B off the waitlist and B is told."""
    a = await partner_with_webhook(world, "Alpha Closing Partners")
    b = await partner_with_webhook(world, "Bravo Closing Partners")
    customer, domain = "Closing Date Industries", "closingdate.com"
    reg_a = await register(world, a, customer, domain)
    await until(world, a, reg_a, "approved")
    reg_b = await register(world, b, customer, domain, close_in_days=1)
    await until(world, b, reg_b, "rejected")

    world.clock.offset = timedelta(days=3)
    try:
        view = await eventually(
            lambda: world.intake.view(b.key, reg_b["id"]),
            lambda v: v["reason_code"] == "WAITLIST_LEFT",
            within=30,
        )
    finally:
        world.clock.offset = timedelta()
    assert (view["status"], view["reason_code"]) == ("rejected", "WAITLIST_LEFT")
    assert reg_b["expected_close_date"] in view["reason"]
    steps = await history(world, b.key, reg_b["id"])
    assert [(s["status"], s["reason_code"], s["actor"]) for s in steps] == [
        ("submitted", None, "partner"),
        ("rejected", "ALREADY_REGISTERED", "rules"),
        ("rejected", "WAITLIST_LEFT", "rules"),
    ]
    deliveries = await told(world, b, reg_b["id"], "registration.waitlist_left")
    left = next(d for d in deliveries if d["type"] == "registration.waitlist_left")
    assert (left["data"]["status"], left["data"]["reason_code"]) == ("rejected", "WAITLIST_LEFT")
    says_nothing_of(json.dumps(deliveries) + json.dumps(steps) + json.dumps(view), a)
    assert (await world.intake.view(a.key, reg_a["id"]))["status"] == "approved"


async def test_a_deal_won_after_its_protection_expired_shows_won(world: World) -> None:
    """The protection window passes (the resolver expires it), then sales closes the deal
    won in the CRM: the partner reads ``won``, in its history and by webhook."""
    a = await partner_with_webhook(world, "Alpha Late Winners")
    customer, domain = "Late Win Systems", "latewin.com"
    reg = await register(world, a, customer, domain)
    approved = await until(world, a, reg, "approved")
    expires = datetime.fromisoformat(approved["protection_expires_at"])
    world.clock.offset = expires - datetime.now(UTC) + timedelta(minutes=1)
    try:
        await until(world, a, reg, "expired")
    finally:
        world.clock.offset = timedelta()
    closed = CrmDealClosed(
        registration_id=reg["id"],
        account_key=account_key(name=customer, domain=domain, country="US"),
        product_line=LINE,
        crm_system="hubspot",
        opportunity_id="opp-late-win",
        outcome="won",
        closed_at=datetime.now(UTC),
    )
    await world.intake.publish(closed, registration=reg)
    view = await until(world, a, reg, "won")
    assert view["reason_code"] == "WON"
    steps = await history(world, a.key, reg["id"])
    assert [(s["status"], s["actor"]) for s in steps][-2:] == [("expired", "rules"), ("won", "crm")]
    deliveries = await told(world, a, reg["id"], "registration.won")
    assert deliveries[-1]["data"]["actor"] == "crm"
