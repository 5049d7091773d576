"""The conflict-queue API on each database and Kafka: auth, list, get, assign, decide, SLA.

One resolver (in-process, its lifespan and background jobs running) serves the whole module;
each test seeds its own cases on an account key of its own.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from conflict_resolver.adapters.tables import claims, conflicts, outbox, protections
from conflict_resolver.app import create_app
from conflict_resolver.domain.policy import DEFAULT_POLICY
from conflict_resolver.queue.handlers import QueueContext, escalate_due
from conflict_resolver.settings import ResolverSettings
from schemas.envelope import new_envelope
from schemas.principals import ApiKeyRevoked, OpsKeyIssued
from schemas.registration import ConflictCaseRecorded
from schemas.topics import PRINCIPALS
from services.clock import new_id
from services.http.security import hash_api_key, new_api_key
from services.kafka.producer import KafkaEventPublisher
from services.migrations import upgrade
from services.settings import DatabaseSettings, KafkaSettings, SecuritySettings
from services.uow import TransactionRunner
from tests.support.conflicts import SeededCase, seed_case
from tests.support.databases import Databases

pytestmark = pytest.mark.integration
ADMIN = "queue-admin-token-0123456789abcdef"
CASE_RECORDED = ConflictCaseRecorded.event_type


@dataclass
class Resolver:
    client: httpx.AsyncClient
    transactions: TransactionRunner
    publisher: KafkaEventPublisher
    ops_key: str
    ops_id: str

    def ops(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.ops_key}"}

    async def seed(self, **kwargs: Any) -> SeededCase:
        return await seed_case(self.transactions, **kwargs)

    async def events(self, registration_id: str) -> list[dict[str, Any]]:
        """The events told about the registration, but the queue's own record of its case
        (:meth:`case_records`)."""
        told = await self._told(registration_id)
        return [event for event in told if event["type"] != CASE_RECORDED]

    async def case_records(self, registration_id: str) -> list[dict[str, Any]]:
        """The lines of the registration's case history, as told on the topics."""
        told = await self._told(registration_id)
        return [event for event in told if event["type"] == CASE_RECORDED]

    async def _told(self, registration_id: str) -> list[dict[str, Any]]:
        async with self.transactions.transaction() as session:
            rows = await session.execute(
                select(outbox.c.envelope)
                .where(outbox.c.envelope["subject"].as_string() == registration_id)
                .order_by(outbox.c.id)
            )
            return [row.envelope for row in rows]


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def publish_principal(publisher: KafkaEventPublisher, payload: Any, principal: str) -> None:
    envelope = new_envelope(
        payload,
        event_id=new_id(),
        source="/dealreg/deal_registration",
        subject=principal,
        time=datetime.now(UTC),
        correlation_id=new_id(),
        causation_id=None,
        partition_key=principal,
    )
    await publisher.publish(PRINCIPALS.name, [envelope])


@pytest.fixture(scope="module")
async def resolver(kafka_bootstrap: str, databases: Databases) -> AsyncIterator[Resolver]:
    prefix = f"t{new_id()[:10]}."
    os.environ["DEALREG_QUEUE_SLA_CHECK_INTERVAL_SECONDS"] = "0.2"
    async with databases.fresh() as url:
        await asyncio.to_thread(upgrade, "conflict_resolver", url)
        settings = ResolverSettings(
            log_json=False,
            database=DatabaseSettings(url=url),
            kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix),
            security=SecuritySettings(admin_token=ADMIN, env="test"),
        )
        app = create_app(settings)
        async with LifespanManager(app, startup_timeout=90, shutdown_timeout=30):
            publisher = KafkaEventPublisher(
                bootstrap_servers=kafka_bootstrap, client_id="test", topic_prefix=prefix
            )
            await publisher.start()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://resolver") as client:
                key, ops_id = new_api_key(), new_id()
                issued = OpsKeyIssued(
                    key_id=new_id(),
                    principal_id=ops_id,
                    name="Olivia Ops",
                    key_hash=hash_api_key(key),
                    issued_at=datetime.now(UTC),
                )
                await publish_principal(publisher, issued, ops_id)
                headers = {"Authorization": f"Bearer {key}"}

                async def signed_in() -> bool:
                    return (await client.get("/v1/conflicts", headers=headers)).status_code == 200

                await eventually(signed_in, within=60)
                yield Resolver(client, app.state.service.queue.transactions, publisher, key, ops_id)
            await publisher.stop()
    os.environ.pop("DEALREG_QUEUE_SLA_CHECK_INTERVAL_SECONDS", None)


# --- Auth -----------------------------------------------------------------------------------


async def test_ops_keys_arrive_from_principals_events_and_revocation_locks_them_out(
    resolver: Resolver,
) -> None:
    client = resolver.client
    assert (await client.get("/v1/conflicts")).status_code == 401
    bad = await client.get("/v1/conflicts", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.headers["content-type"] == "application/problem+json"
    admin = await client.get("/v1/conflicts", headers={"Authorization": f"Bearer {ADMIN}"})
    assert admin.status_code == 200

    key, principal, key_id = new_api_key(), new_id(), new_id()
    headers = {"Authorization": f"Bearer {key}"}
    issued = OpsKeyIssued(
        key_id=key_id,
        principal_id=principal,
        name="Temp",
        key_hash=hash_api_key(key),
        issued_at=datetime.now(UTC),
    )
    await publish_principal(resolver.publisher, issued, principal)

    async def status_is(code: int) -> bool:
        return (await client.get("/v1/conflicts", headers=headers)).status_code == code

    await eventually(lambda: status_is(200))
    revoked = ApiKeyRevoked(
        key_id=key_id,
        principal_id=principal,
        key_hash=hash_api_key(key),
        revoked_at=datetime.now(UTC),
    )
    await publish_principal(resolver.publisher, revoked, principal)
    await eventually(lambda: status_is(401))


async def test_stream_token_is_signed_and_short_lived(resolver: Resolver) -> None:
    issued = await resolver.client.post("/v1/conflicts/stream-token", headers=resolver.ops())
    assert issued.status_code == 200
    token = issued.json()["token"]
    expires_at = datetime.fromisoformat(issued.json()["expires_at"])
    assert timedelta(0) < expires_at - datetime.now(UTC) <= timedelta(minutes=5)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    answer = await resolver.client.get("/v1/conflicts/stream", params={"token": forged})
    assert answer.status_code == 401


# --- Reading --------------------------------------------------------------------------------


async def test_a_case_shows_the_competing_claims_the_rule_the_evidence_and_the_due_time(
    resolver: Resolver,
) -> None:
    seeded = await resolver.seed()
    answer = await resolver.client.get(f"/v1/conflicts/{seeded.case_id}", headers=resolver.ops())
    assert answer.status_code == 200
    case = answer.json()
    assert case["state"] == "open"
    assert case["reason_code"] == "POSSIBLE_DUPLICATE"
    assert case["rule"] == "possible_duplicate"
    assert [c["registration_id"] for c in case["claims"]] == [
        seeded.competitor_id,
        seeded.registration_id,
    ]
    competitor, under_review = case["claims"]
    assert under_review["role"] == "under_review"
    assert under_review["partner"]["name"] == "Contoso Secure"
    assert under_review["customer"]["name"] == "ACME Corp."
    assert under_review["amount"] == {"value": "125000.00", "currency": "USD"}
    assert competitor["match"]["similarity"] == 0.86
    assert competitor["match"]["matched_fields"] == ["name", "country"]
    assert case["owner"] is None
    assert case["overdue"] is False
    opened = datetime.fromisoformat(case["opened_at"])
    assert datetime.fromisoformat(case["due_at"]) - opened == timedelta(hours=48)
    assert [entry["action"] for entry in case["history"]] == ["opened"]

    missing = await resolver.client.get(f"/v1/conflicts/{new_id()}", headers=resolver.ops())
    assert missing.status_code == 404


async def test_list_filters_sorts_and_pages_with_a_cursor(resolver: Resolver) -> None:
    line = f"line-{new_id()[:6]}"
    now = datetime.now(UTC)
    small = await resolver.seed(
        product_line=line,
        amount="10000.00",
        due_in=timedelta(hours=3),
        opened_ago=timedelta(hours=1),
        now=now,
    )
    large = await resolver.seed(
        product_line=line,
        amount="900000.00",
        due_in=timedelta(hours=1),
        opened_ago=timedelta(minutes=1),
        now=now,
    )
    middle = await resolver.seed(
        product_line=line,
        amount="50000.00",
        due_in=timedelta(hours=2, minutes=30),
        opened_ago=timedelta(hours=2),
        now=now,
        reason_code="INCUMBENT_CONFLICT",
    )
    overdue = await resolver.seed(
        product_line=line,
        amount="70000.00",
        due_in=timedelta(hours=1),
        opened_ago=timedelta(hours=3),
        now=now,
    )

    async def ids(**params: Any) -> list[str]:
        answer = await resolver.client.get(
            "/v1/conflicts", params={"product_line": line, **params}, headers=resolver.ops()
        )
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    assert await ids(sort="due") == [overdue.case_id, middle.case_id, large.case_id, small.case_id]
    assert await ids(sort="oldest") == [
        overdue.case_id,
        middle.case_id,
        small.case_id,
        large.case_id,
    ]
    assert await ids(sort="amount") == [
        large.case_id,
        overdue.case_id,
        middle.case_id,
        small.case_id,
    ]
    assert await ids(reason_code="INCUMBENT_CONFLICT") == [middle.case_id]
    assert await ids(overdue="true") == [overdue.case_id]
    assert await ids(state="decided") == []

    for sort in ("due", "oldest", "amount"):
        seen, cursor = [], None
        while True:
            params = {"product_line": line, "sort": sort, "limit": 3}
            if cursor:
                params["cursor"] = cursor
            page = (
                await resolver.client.get("/v1/conflicts", params=params, headers=resolver.ops())
            ).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == await ids(sort=sort)

    bad = await resolver.client.get(
        "/v1/conflicts", params={"cursor": "bogus"}, headers=resolver.ops()
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.cursor"
    wrong_sort = await resolver.client.get(
        "/v1/conflicts", params={"sort": "newest"}, headers=resolver.ops()
    )
    assert wrong_sort.status_code == 422


async def test_assign_sets_the_owner_filters_by_it_and_is_in_the_history(
    resolver: Resolver,
) -> None:
    line = f"line-{new_id()[:6]}"
    mine = await resolver.seed(product_line=line)
    other = await resolver.seed(product_line=line)
    answer = await resolver.client.post(
        f"/v1/conflicts/{mine.case_id}/assign", json={}, headers=resolver.ops()
    )
    assert answer.status_code == 200
    assert answer.json()["owner"] == resolver.ops_id
    assert answer.json()["owner_name"] == "Olivia Ops"
    assert answer.json()["history"][-1]["action"] == "assigned"

    listed = await resolver.client.get(
        "/v1/conflicts", params={"product_line": line, "owner": "me"}, headers=resolver.ops()
    )
    assert [item["id"] for item in listed.json()["items"]] == [mine.case_id]
    unowned = await resolver.client.get(
        "/v1/conflicts", params={"product_line": line, "owner": "none"}, headers=resolver.ops()
    )
    assert [item["id"] for item in unowned.json()["items"]] == [other.case_id]

    await resolver.client.post(
        f"/v1/conflicts/{other.case_id}/decision",
        json={"approve": None, "reason": "dup"},
        headers=resolver.ops(),
    )
    late = await resolver.client.post(
        f"/v1/conflicts/{other.case_id}/assign", json={"owner": None}, headers=resolver.ops()
    )
    assert late.status_code == 409


# --- Deciding -------------------------------------------------------------------------------


async def test_approving_the_registration_gives_it_protection_and_emits_the_decision(
    resolver: Resolver,
) -> None:
    seeded = await resolver.seed(competitor_status="rejected")
    answer = await resolver.client.post(
        f"/v1/conflicts/{seeded.case_id}/decision",
        json={"approve": seeded.registration_id, "reason": "Different subsidiaries; both real."},
        headers=resolver.ops(),
    )
    assert answer.status_code == 200, answer.text
    case = answer.json()
    assert case["state"] == "decided"
    assert case["decided_by"] == f"ops:{resolver.ops_id}"
    assert case["decision_reason"] == "Different subsidiaries; both real."
    assert case["approved_registration_id"] == seeded.registration_id
    assert case["history"][-1]["action"] == "decided"

    async with resolver.transactions.transaction() as session:
        holder = (
            await session.execute(
                select(protections.c.registration_id).where(
                    protections.c.account_key == seeded.account_key
                )
            )
        ).scalar_one()
        status = (
            await session.execute(
                select(claims.c.status).where(claims.c.registration_id == seeded.registration_id)
            )
        ).scalar_one()
    assert holder == seeded.registration_id
    assert status == "approved"
    [event] = await resolver.events(seeded.registration_id)
    assert event["type"] == "dealreg.registration.approved"
    assert event["data"]["decided_by"] == f"ops:{resolver.ops_id}"
    assert event["partitionkey"] == seeded.account_key
    # The queue's record travels too: the history line and the case as it stands after it.
    [record] = await resolver.case_records(seeded.registration_id)
    assert record["partitionkey"] == seeded.account_key
    line = record["data"]
    assert (line["conflict_id"], line["action"], line["actor"]) == (
        seeded.case_id,
        "decided",
        f"ops:{resolver.ops_id}",
    )
    assert line["reason"] == line["decision_reason"] == "Different subsidiaries; both real."
    assert (line["state"], line["decided_by"], line["approved_registration_id"]) == (
        "decided",
        f"ops:{resolver.ops_id}",
        seeded.registration_id,
    )
    assert line["detail"]["approved"] == seeded.registration_id

    again = await resolver.client.post(
        f"/v1/conflicts/{seeded.case_id}/decision",
        json={"approve": None, "reason": "changed my mind"},
        headers=resolver.ops(),
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


async def test_approving_none_rejects_the_registration_without_naming_the_competitor(
    resolver: Resolver,
) -> None:
    seeded = await resolver.seed()
    answer = await resolver.client.post(
        f"/v1/conflicts/{seeded.case_id}/decision",
        json={"approve": None, "reason": "Same company as the Northwind deal."},
        headers=resolver.ops(),
    )
    assert answer.status_code == 200
    [event] = await resolver.events(seeded.registration_id)
    assert event["type"] == "dealreg.registration.rejected"
    assert event["data"]["reason_code"] == "REVIEW_REJECTED"
    assert "Northwind" not in event["data"]["reason"]


async def test_a_decision_needs_a_reason_and_a_claim_of_the_case(resolver: Resolver) -> None:
    seeded = await resolver.seed()
    url = f"/v1/conflicts/{seeded.case_id}/decision"
    no_reason = await resolver.client.post(url, json={"approve": None}, headers=resolver.ops())
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["field"] == "reason"
    blank = await resolver.client.post(
        url, json={"approve": None, "reason": "  "}, headers=resolver.ops()
    )
    assert blank.status_code == 422
    stranger = await resolver.client.post(
        url, json={"approve": new_id(), "reason": "x"}, headers=resolver.ops()
    )
    assert stranger.status_code == 422
    assert stranger.json()["errors"][0]["field"] == "approve"
    missing = await resolver.client.post(
        f"/v1/conflicts/{new_id()}/decision",
        json={"approve": None, "reason": "x"},
        headers=resolver.ops(),
    )
    assert missing.status_code == 404


async def test_approving_while_another_claim_holds_live_protection_is_409(
    resolver: Resolver,
) -> None:
    seeded = await resolver.seed(competitor_holds_protection=True)
    answer = await resolver.client.post(
        f"/v1/conflicts/{seeded.case_id}/decision",
        json={"approve": seeded.registration_id, "reason": "looks fine"},
        headers=resolver.ops(),
    )
    assert answer.status_code == 409
    assert "exclusivity" in answer.json()["detail"]
    case = (
        await resolver.client.get(f"/v1/conflicts/{seeded.case_id}", headers=resolver.ops())
    ).json()
    assert case["state"] == "open"
    assert await resolver.events(seeded.registration_id) == []

    keep = await resolver.client.post(
        f"/v1/conflicts/{seeded.case_id}/decision",
        json={"approve": seeded.competitor_id, "reason": "Northwind was first."},
        headers=resolver.ops(),
    )
    assert keep.status_code == 200
    assert keep.json()["approved_registration_id"] == seeded.competitor_id
    [event] = await resolver.events(seeded.registration_id)
    assert event["type"] == "dealreg.registration.rejected"


async def test_two_ops_deciding_the_same_case_at_once_get_one_200_and_one_409(
    resolver: Resolver,
) -> None:
    for _ in range(5):
        seeded = await resolver.seed(competitor_status="rejected")
        url = f"/v1/conflicts/{seeded.case_id}/decision"
        answers = await asyncio.gather(
            resolver.client.post(
                url, json={"approve": seeded.registration_id, "reason": "a"}, headers=resolver.ops()
            ),
            resolver.client.post(
                url,
                json={"approve": None, "reason": "b"},
                headers={"Authorization": f"Bearer {ADMIN}"},
            ),
        )
        assert sorted(answer.status_code for answer in answers) == [200, 409]
        assert len(await resolver.events(seeded.registration_id)) == 1


async def test_two_cases_for_the_same_account_cannot_both_be_approved(resolver: Resolver) -> None:
    key = f"d:{new_id()[:8]}.example"
    first = await resolver.seed(account_key=key, competitor_status="rejected")
    second = await resolver.seed(account_key=key, competitor_status="rejected")
    answers = await asyncio.gather(
        *(
            resolver.client.post(
                f"/v1/conflicts/{case.case_id}/decision",
                json={"approve": case.registration_id, "reason": "ok"},
                headers=resolver.ops(),
            )
            for case in (first, second)
        )
    )
    assert sorted(answer.status_code for answer in answers) == [200, 409]
    async with resolver.transactions.transaction() as session:
        holders = (
            await session.execute(select(protections).where(protections.c.account_key == key))
        ).all()
    assert len(holders) == 1


# --- SLA ------------------------------------------------------------------------------------


async def test_an_undecided_case_is_escalated_once_at_its_due_time(resolver: Resolver) -> None:
    seeded = await resolver.seed(due_in=timedelta(seconds=2))
    url = f"/v1/conflicts/{seeded.case_id}"
    first = (await resolver.client.get(url, headers=resolver.ops())).json()
    assert first["escalated_at"] is None

    async def escalated() -> bool:
        case = (await resolver.client.get(url, headers=resolver.ops())).json()
        return case["escalated_at"] is not None

    await eventually(escalated, within=10)
    case = (await resolver.client.get(url, headers=resolver.ops())).json()
    assert case["overdue"] is True
    assert datetime.fromisoformat(case["escalated_at"]) >= datetime.fromisoformat(case["due_at"])
    assert [entry["action"] for entry in case["history"]] == ["opened", "escalated"]
    await asyncio.sleep(0.6)  # a few more runs of the job: still one escalation
    events = await resolver.events(seeded.registration_id)
    assert [event["type"] for event in events] == ["dealreg.conflict.escalated"]
    assert events[0]["data"]["conflict_id"] == seeded.case_id
    [record] = await resolver.case_records(seeded.registration_id)
    assert (record["data"]["action"], record["data"]["state"]) == ("escalated", "open")
    assert record["data"]["escalated_at"] is not None
    metrics = await resolver.client.get("/metrics")
    assert "dealreg_conflicts_escalated_total" in metrics.text


# --- Numbers --------------------------------------------------------------------------------


async def test_stats_report_the_numbers_sales_ops_ask_for(resolver: Resolver) -> None:
    seeded = await resolver.seed(competitor_status="rejected")
    await resolver.client.post(
        f"/v1/conflicts/{seeded.case_id}/decision",
        json={"approve": seeded.registration_id, "reason": "ok"},
        headers=resolver.ops(),
    )
    answer = await resolver.client.get("/v1/stats", headers=resolver.ops())
    assert answer.status_code == 200
    numbers = answer.json()
    assert numbers["registrations_per_day"]
    assert numbers["registrations_per_partner"][0]["count"] >= 1
    assert 0 < numbers["approval_rate"] <= 1
    assert numbers["time_to_decision"]["manual"]["count"] >= 1
    assert numbers["queue"]["open"] >= 1
    assert numbers["conflicts_by_reason"]["POSSIBLE_DUPLICATE"] >= 1
    assert any(p["currency"] == "USD" for p in numbers["partner_sourced_pipeline"])
    async with resolver.transactions.transaction() as session:
        open_count = len(
            (await session.execute(select(conflicts.c.id).where(conflicts.c.state == "open"))).all()
        )
    assert numbers["queue"]["open"] == open_count


async def test_the_policy_may_decide_at_the_deadline_instead_of_escalating(
    resolver: Resolver,
) -> None:
    seeded = await resolver.seed(due_in=timedelta(minutes=1))  # the app's own job waits
    current = (await resolver.client.get("/v1/policy", headers=resolver.ops())).json()["policy"]
    current.pop("version", None)
    published = await resolver.client.put(
        "/v1/policy", json={**current, "sla_auto_decision": "reject"}, headers=resolver.ops()
    )
    assert published.status_code == 200, published.text

    class TwoMinutesLater:
        def now(self) -> datetime:
            return datetime.now(UTC) + timedelta(minutes=2)

    ctx = QueueContext(
        transactions=resolver.transactions,
        clock=TwoMinutesLater(),
        policy=DEFAULT_POLICY,
        admin_token=ADMIN,
    )
    await escalate_due(ctx)
    case = (
        await resolver.client.get(f"/v1/conflicts/{seeded.case_id}", headers=resolver.ops())
    ).json()
    assert case["state"] == "decided"
    assert case["escalated_at"] is None
    assert case["decided_by"] == "policy:sla"
    assert "automatically by policy" in case["decision_reason"]
    [event] = await resolver.events(seeded.registration_id)
    assert event["type"] == "dealreg.registration.rejected"
