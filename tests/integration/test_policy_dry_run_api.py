"""``PUT /v1/policy`` dry-runs the policy before it stores it: a policy under which the rules
cannot decide a sample situation is refused with 422 naming the field, and nothing is stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from conflict_resolver.domain import policy_dry_run
from conflict_resolver.domain.rules import decide
from conflict_resolver.domain.situation import Decision, Situation, Submission
from services.migrations import upgrade
from tests.support.databases import only_on
from tests.support.resolver import ResolverInstance

pytestmark = pytest.mark.integration
ADMIN = "test-admin-token-0123456789abcdef"
OPS = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
async def resolver(
    database_url: str, kafka_bootstrap: str, topic_prefix: str
) -> AsyncIterator[httpx.AsyncClient]:
    await asyncio.to_thread(upgrade, "conflict_resolver", database_url)
    async with ResolverInstance(
        database_url=database_url,
        bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix,
        admin_token=ADMIN,
    ) as instance:
        transport = httpx.ASGITransport(app=instance.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://resolver") as http:
            yield http


def _edge_cannot_be_decided(
    sub: Submission, situation: Situation, policy: Any, **kw: Any
) -> Decision:
    """Rules that fail on one product line (as a rule computing with its window would)."""
    if sub.product_line == "edge":
        raise OverflowError("date value out of range")
    return decide(sub, situation, policy, **kw)


@only_on("sqlite")  # the dry run happens before anything touches the database
async def test_a_policy_that_cannot_decide_is_refused_naming_the_field(
    resolver: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    current = (await resolver.get("/v1/policy", headers=OPS)).json()
    draft = {**current["policy"], "product_lines": {"edge": {"protection_window": "P30D"}}}
    monkeypatch.setattr(policy_dry_run, "decide_by_rules", _edge_cannot_be_decided)

    refused = await resolver.put("/v1/policy", json=draft, headers=OPS)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    (error,) = refused.json()["errors"]
    assert error["field"] == "product_lines.edge.protection_window"
    assert "OverflowError" in error["message"]
    assert (await resolver.get("/v1/policy", headers=OPS)).json()["version"] == current["version"]

    monkeypatch.undo()
    stored = await resolver.put("/v1/policy", json=draft, headers=OPS)
    assert stored.status_code == 200
    assert stored.json()["version"] == current["version"] + 1
