"""Learning from reviews (issue 17), against the real resolver and database: ops' decisions on
possible duplicates are kept as labelled pairs, a hundred of them on synthetic look-alikes
move the proposed band the right way, and publishing it makes a new policy version."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from conflict_resolver.app import create_app
from conflict_resolver.queue.tables import match_decisions
from conflict_resolver.settings import ResolverSettings
from services.clock import new_id
from services.migrations import upgrade
from services.settings import DatabaseSettings, KafkaSettings, SecuritySettings
from services.uow import TransactionRunner
from tests.support.conflicts import seed_case
from tests.support.databases import Databases

pytestmark = pytest.mark.integration
ADMIN = "calibration-admin-token-0123456789ab"
HEADERS = {"Authorization": f"Bearer {ADMIN}"}


@dataclass
class Resolver:
    client: httpx.AsyncClient
    transactions: TransactionRunner


@pytest.fixture(scope="module")
async def resolver(kafka_bootstrap: str, databases: Databases) -> AsyncIterator[Resolver]:
    async with databases.fresh() as url:
        await asyncio.to_thread(upgrade, "conflict_resolver", url)
        settings = ResolverSettings(
            log_json=False,
            database=DatabaseSettings(url=url),
            kafka=KafkaSettings(
                bootstrap_servers=kafka_bootstrap, topic_prefix=f"t{new_id()[:10]}."
            ),
            security=SecuritySettings(admin_token=ADMIN, env="test"),
        )
        app = create_app(settings)
        async with LifespanManager(app, startup_timeout=90, shutdown_timeout=30):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://resolver") as client:
                yield Resolver(client, app.state.service.queue.transactions)


def look_alike_verdicts(count: int) -> list[tuple[float, bool]]:
    """(similarity, ops said "same account"): below 0.86 they are different companies, from
    0.88 the same one; in between, either."""
    rng = random.Random(17)
    verdicts = []
    for _ in range(count):
        similarity = round(rng.uniform(0.80, 0.919), 3)
        same = similarity >= 0.88 or (similarity >= 0.86 and rng.random() < 0.5)
        verdicts.append((similarity, same))
    return verdicts


async def test_a_hundred_ops_decisions_move_the_band_and_publishing_makes_a_version(
    resolver: Resolver,
) -> None:
    for similarity, same in look_alike_verdicts(100):
        seeded = await seed_case(
            resolver.transactions,
            similarity=similarity,
            competitor_status="approved" if same else "rejected",
        )
        decision = (
            {"approve": None, "reason": "Same company."}
            if same
            else {
                "approve": seeded.registration_id,
                "reason": "Different companies.",
            }
        )
        answer = await resolver.client.post(
            f"/v1/conflicts/{seeded.case_id}/decision", json=decision, headers=HEADERS
        )
        assert answer.status_code == 200, answer.text

    async with resolver.transactions.transaction() as session:
        recorded = (await session.execute(select(match_decisions))).mappings().all()
    assert len(recorded) == 100
    assert sum(row["same"] for row in recorded) == sum(s for _, s in look_alike_verdicts(100))
    assert {"name_score", "customer", "matched_customer"} <= set(recorded[0]["features"])

    before = (await resolver.client.get("/v1/policy", headers=HEADERS)).json()
    proposal = await resolver.client.post(
        "/v1/matching/calibration", json={"target_precision": 0.99}, headers=HEADERS
    )
    assert proposal.status_code == 200, proposal.text
    proposed = proposal.json()
    assert proposed["decisions"] == 100
    assert proposed["current"] == {"same_account": 0.92, "review": 0.8}
    # Ops said "different" all through the bottom of the band and "same" at its top.
    assert 0.84 <= proposed["proposed"]["review"] <= 0.88
    assert 0.86 <= proposed["proposed"]["same_account"] <= 0.89
    assert proposed["what_if"]["changed"] > 0
    assert proposed["what_if"].get("different->same", 0) == 0
    # Proposing stores nothing.
    unchanged = (await resolver.client.get("/v1/policy", headers=HEADERS)).json()
    assert unchanged["version"] == before["version"]

    published = await resolver.client.put("/v1/policy", json=proposed["policy"], headers=HEADERS)
    assert published.status_code == 200, published.text
    record = published.json()
    assert record["version"] == before["version"] + 1
    matching = record["policy"]["matching"]
    assert matching["same_account"] == proposed["proposed"]["same_account"]
    assert matching["review"] == proposed["proposed"]["review"]
    assert matching["calibration"] == proposed["steps"]
