"""One resolver process over Kafka, on SQLite and PostgreSQL: the policy API, and the lifecycle
driven by events on the registrations and CRM topics (expiry, waitlist, lost, withdrawal,
extension)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.crm import CrmDealClosed
from schemas.registration import ExtensionRequested, RegistrationWithdrawn
from schemas.topics import CRM, DECISIONS, REGISTRATIONS
from services.db import create_engine
from services.kafka.producer import KafkaEventPublisher
from services.migrations import upgrade
from tests.support.kafka_reader import read_all
from tests.support.resolver import (
    START,
    Recorded,
    ResolverInstance,
    envelope_of,
    recorded,
    submitted,
)

pytestmark = pytest.mark.integration
ADMIN = "test-admin-token-0123456789abcdef"
OPS = {"Authorization": f"Bearer {ADMIN}"}


@dataclass
class Service:
    http: httpx.AsyncClient
    engine: AsyncEngine
    publisher: KafkaEventPublisher
    bootstrap: str
    prefix: str

    async def until(
        self, check: Callable[[dict[str, Recorded]], bool], within: float = 30
    ) -> dict[str, Recorded]:
        deadline = time.monotonic() + within
        while True:
            claims = await recorded(self.engine)
            if check(claims) or time.monotonic() > deadline:
                return claims
            await asyncio.sleep(0.1)


@pytest.fixture
async def service(
    database_url: str, kafka_bootstrap: str, topic_prefix: str
) -> AsyncIterator[Service]:
    await asyncio.to_thread(upgrade, "conflict_resolver", database_url)
    engine = create_engine(database_url)
    publisher = KafkaEventPublisher(
        bootstrap_servers=kafka_bootstrap, client_id="test", topic_prefix=topic_prefix
    )
    async with ResolverInstance(
        database_url=database_url,
        bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix,
        admin_token=ADMIN,
    ) as instance:
        await publisher.start()
        transport = httpx.ASGITransport(app=instance.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://resolver") as http:
            yield Service(http, engine, publisher, kafka_bootstrap, topic_prefix)
        await publisher.stop()
    await engine.dispose()


async def test_policy_api_versions_validates_and_requires_ops(service: Service) -> None:
    assert (await service.http.get("/v1/policy")).status_code == 401
    bad_token = {"Authorization": "Bearer nope"}
    assert (await service.http.get("/v1/policy", headers=bad_token)).status_code == 401

    current = (await service.http.get("/v1/policy", headers=OPS)).json()
    assert current["version"] == 1
    assert current["created_by"] == "default"
    assert current["policy"]["protection_window"] == "P90D"
    assert current["policy"]["minimum_amount"] == "5000"
    assert current["policy"]["review_sla"] == "P2D"  # 48 hours

    invalid = await service.http.put(
        "/v1/policy",
        json={**current["policy"], "protection_window": "soon", "matching": {"review": 2}},
        headers=OPS,
    )
    assert invalid.status_code == 422
    fields = {error["field"] for error in invalid.json()["errors"]}
    assert any("protection_window" in field for field in fields), fields

    updated = await service.http.put(
        "/v1/policy", json={**current["policy"], "protection_window": "P60D"}, headers=OPS
    )
    assert updated.status_code == 200
    assert updated.json()["version"] == 2
    assert updated.json()["created_by"] == "admin"
    assert updated.json()["policy"]["protection_window"] == "P60D"
    first = (await service.http.get("/v1/policy/versions/1", headers=OPS)).json()
    assert first["policy"]["protection_window"] == "P90D"
    assert (await service.http.get("/v1/policy/versions/9", headers=OPS)).status_code == 404


async def test_house_accounts_are_versioned_and_reject_registrations(service: Service) -> None:
    empty = (await service.http.get("/v1/house-accounts", headers=OPS)).json()
    assert empty == {"version": 0, "created_at": None, "created_by": None, "accounts": []}
    put = await service.http.put(
        "/v1/house-accounts",
        json={"accounts": [{"name": "Globex Corporation", "domain": "globex.com"}]},
        headers=OPS,
    )
    assert put.status_code == 200
    assert put.json()["version"] == 1

    registration = submitted(partner="p1", name="Globex Inc", domain=None)
    await service.publisher.publish(REGISTRATIONS.name, [registration])
    rid = registration.data.registration_id
    claims = await service.until(lambda c: rid in c and c[rid].decision is not None)
    assert claims[rid].reason_code == "HOUSE_ACCOUNT"

    explained = (await service.http.get(f"/v1/decisions/{rid}", headers=OPS)).json()
    assert explained["rule"] == "house_account"
    assert explained["policy_version"] == 1
    assert explained["evidence"]["house_account"]["name"] == "Globex Corporation"
    missing = await service.http.get("/v1/decisions/nope", headers=OPS)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


async def test_expiry_waitlist_lost_withdrawal_and_extension_over_kafka(service: Service) -> None:
    policy = (await service.http.get("/v1/policy", headers=OPS)).json()["policy"]
    short = {**policy, "protection_window": "PT2S", "tier_protection_windows": {}}
    assert (await service.http.put("/v1/policy", json=short, headers=OPS)).status_code == 200

    first, second, third = (submitted(partner=f"p{n}") for n in (1, 2, 3))
    await service.publisher.publish(REGISTRATIONS.name, [first, second, third])
    ids = [r.data.registration_id for r in (first, second, third)]

    # first approved for 2 s, then expired by the resolver itself; second promoted.
    claims = await service.until(lambda c: c.get(ids[0]) and c[ids[0]].status == "expired")
    assert claims[ids[0]].status == "expired"
    assert claims[ids[1]].status == "approved"
    assert claims[ids[2]].reason_code == "ALREADY_REGISTERED"

    # lost in the CRM: third is promoted before its own window runs out... (2 s windows)
    lost = CrmDealClosed(
        registration_id=ids[1],
        account_key=second.data.account_key,
        product_line=second.data.product_line,
        crm_system="hubspot",
        opportunity_id="opp-2",
        outcome="lost",
        closed_at=START,
    )
    await service.publisher.publish(
        CRM.name, [envelope_of(lost, key=second.data.account_key, subject=ids[1])]
    )
    claims = await service.until(lambda c: c[ids[2]].status == "approved")
    assert claims[ids[1]].status in ("lost", "expired")  # whichever came first
    assert claims[ids[2]].status == "approved"

    # withdrawal ends the third's protection; a fourth registration is then approved.
    withdrawn = RegistrationWithdrawn(
        registration_id=ids[2],
        account_key=third.data.account_key,
        product_line=third.data.product_line,
        withdrawn_at=START,
        previous_status="approved",
    )
    await service.publisher.publish(
        REGISTRATIONS.name, [envelope_of(withdrawn, key=third.data.account_key, subject=ids[2])]
    )
    claims = await service.until(lambda c: c[ids[2]].status in ("withdrawn", "expired"))
    assert claims[ids[2]].status in ("withdrawn", "expired")

    # An extension request on a long window: granted.
    long_policy = {**policy, "protection_window": "P30D"}
    assert (await service.http.put("/v1/policy", json=long_policy, headers=OPS)).status_code == 200
    other = submitted(partner="p7", name="Halcyon Ltd", domain="halcyon.example")
    await service.publisher.publish(REGISTRATIONS.name, [other])
    rid = other.data.registration_id
    await service.until(lambda c: rid in c and c[rid].status == "approved")
    extension = ExtensionRequested(
        registration_id=rid,
        account_key=other.data.account_key,
        product_line=other.data.product_line,
        requested_at=START,
    )
    await service.publisher.publish(
        REGISTRATIONS.name, [envelope_of(extension, key=other.data.account_key, subject=rid)]
    )
    events = await _decisions_until(service, lambda types: "protection_extended" in types)
    kinds = [event.type.rsplit(".", 1)[1] for event in events]
    assert kinds.count("protection_expired") >= 1
    assert "protection_extended" in kinds
    promoted = [e for e in events if getattr(e.data, "reason_code", None) == "WAITLIST_PROMOTED"]
    assert [e.data.registration_id for e in promoted][:2] == [ids[1], ids[2]]


async def _decisions_until(service: Service, done: Callable[[set[str]], bool]) -> list[Any]:
    deadline = time.monotonic() + 30
    while True:
        events = await read_all(
            service.bootstrap, service.prefix + DECISIONS.name, idle_seconds=0.5
        )
        types = {event.type.rsplit(".", 1)[1] for event in events}
        if done(types) or time.monotonic() > deadline:
            return events
        await asyncio.sleep(0.2)


async def test_what_if_answers_which_decisions_change_without_side_effects(
    service: Service, database_url: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    small = submitted(partner="p1", name="Kestrel Ltd", domain="kestrel.example", amount="8000")
    big = submitted(partner="p2", name="Kestrel Limited", domain="kestrel.example", amount="90000")
    await service.publisher.publish(REGISTRATIONS.name, [small, big])
    ids = {small.data.registration_id, big.data.registration_id}
    before = await service.until(lambda c: ids <= {k for k, v in c.items() if v.decision})
    policy = (await service.http.get("/v1/policy", headers=OPS)).json()

    draft = {**policy["policy"], "minimum_amount": "10000"}
    answer = await service.http.post("/v1/policy/what-if", json={"policy": draft}, headers=OPS)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["replayed"] == 2
    assert body["current_policy_version"] == policy["version"]
    changes = {change["registration_id"]: change for change in body["changes"]}
    assert changes[small.data.registration_id]["after"]["reason_code"] == "BELOW_MINIMUM"
    assert changes[big.data.registration_id]["before"]["reason_code"] == "ALREADY_REGISTERED"
    assert changes[big.data.registration_id]["after"]["outcome"] == "approved"
    assert body["transitions"] == {"approved -> rejected": 1, "rejected -> approved": 1}

    future = await service.http.post(
        "/v1/policy/what-if",
        json={"policy": draft, "since": "2099-01-01T00:00:00Z"},
        headers=OPS,
    )
    assert future.json()["changed"] == 0
    assert await recorded(service.engine) == before  # nothing written
    after = (await service.http.get("/v1/policy", headers=OPS)).json()
    assert after["version"] == policy["version"]

    from conflict_resolver import whatif

    draft_file = tmp_path / "draft.yaml"
    draft_file.write_text(json.dumps(draft))
    exit_code = await asyncio.to_thread(
        whatif.main, [str(draft_file), "--database-url", database_url, "--json"]
    )
    assert exit_code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["changed"] == 2
