"""Ops keys and revocations leave deal_registration as events for the other services."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from schemas.principals import ApiKeyRevoked, OpsKeyIssued
from schemas.topics import PRINCIPALS
from services.http.security import hash_api_key
from tests.support.databases import Databases
from tests.support.intake import IntakeApp, eventually, intake_app
from tests.support.kafka_reader import read_all

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def intake(kafka_bootstrap: str, databases: Databases) -> AsyncIterator[IntakeApp]:
    async with intake_app(
        kafka_bootstrap=kafka_bootstrap,
        databases=databases,
        topic_prefix=f"t-principals-{uuid.uuid4().hex[:8]}.",
    ) as app:
        yield app


async def test_an_ops_key_and_its_revocation_are_published_as_hashes(
    intake: IntakeApp, kafka_bootstrap: str
) -> None:
    created = await intake.admin("POST", "/v1/ops-users", json={"name": "Sam Ortiz"})
    assert created.status_code == 201
    ops = created.json()
    revoked = await intake.admin("DELETE", f"/v1/api-keys/{ops['api_key_id']}")
    assert revoked.status_code == 204

    async def published() -> list[object]:
        events = await read_all(
            kafka_bootstrap, intake.topic_prefix + PRINCIPALS.name, idle_seconds=0.5
        )
        return [event.data for event in events]

    issued, revocation = await eventually(published, lambda events: len(events) >= 2)
    assert isinstance(issued, OpsKeyIssued)
    assert isinstance(revocation, ApiKeyRevoked)
    assert issued.key_hash == revocation.key_hash == hash_api_key(ops["api_key"])
    assert issued.name == "Sam Ortiz"
    assert ops["api_key"] not in str(issued.model_dump()) + str(revocation.model_dump())
