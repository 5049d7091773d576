"""Partner webhooks: signed per Standard Webhooks, retried with backoff, logged."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks import Webhook

from schemas.registration import RegistrationApproved, RegistrationSummary
from tests.support.api import bearer, registration_body
from tests.support.databases import Databases
from tests.support.intake import IntakeApp, eventually, in_days, intake_app

pytestmark = pytest.mark.integration


@dataclass
class Receiver:
    """A real HTTP server in the test process that records what it is sent."""

    fail_first: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    server: asyncio.Server | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    hold: asyncio.Event | None = None  # when set, answers wait until the test sets it

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hooks"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")[1:]
        headers = {
            k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.received.append((headers, body))
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        status = "500 Internal Server Error" if len(self.received) <= self.fail_first else "200 OK"
        writer.write(
            f"HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()


@pytest.fixture(scope="module")
async def intake(kafka_bootstrap: str, databases: Databases) -> AsyncIterator[IntakeApp]:
    async with intake_app(
        kafka_bootstrap=kafka_bootstrap,
        databases=databases,
        topic_prefix=f"t-intake-wh-{databases.kind}.",
        webhook_schedule=(0.2, 0.4),
    ) as app:
        yield app


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    receiver.server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    try:
        yield receiver
    finally:
        receiver.server.close()


def approval(reg: dict[str, Any]) -> RegistrationApproved:
    decided = datetime.now(UTC)
    return RegistrationApproved(
        registration_id=reg["id"],
        account_key="n:hooked|US",
        product_line=reg["product_line"],
        decided_at=decided,
        protection_expires_at=decided + timedelta(days=90),
        policy_version=1,
        rule="approve",
        reason="Approved: protected for 90 days.",
        registration=RegistrationSummary(
            partner_id=reg["partner_id"],
            partner_name="Hooked",
            customer=reg["customer"],
            product_line=reg["product_line"],
            deal_type=reg["deal_type"],
            amount=reg["amount"],
            expected_close_date=reg["expected_close_date"],
            submitted_at=reg["submitted_at"],
        ),
    )


async def deliveries(intake: IntakeApp, key: str) -> list[dict[str, Any]]:
    response = await intake.client.get("/v1/webhook/deliveries", headers=bearer(key))
    assert response.status_code == 200
    return list(response.json()["items"])


async def test_status_changes_are_signed_retried_and_logged(
    intake: IntakeApp, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    partner = await intake.new_partner("Hooked Partner")
    key = partner["api_key"]
    put = await intake.client.put("/v1/webhook", json={"url": receiver.url}, headers=bearer(key))
    assert put.status_code == 200
    secret = put.json()["secret"]
    assert secret.startswith("whsec_")
    assert "secret" not in (await intake.client.get("/v1/webhook", headers=bearer(key))).json()

    payload = registration_body(name="Hooked", domain=None)
    payload["expected_close_date"] = in_days(30)
    reg = (await intake.register(key, payload)).json()
    await intake.publish(approval(reg), registration=reg)
    await intake.wait_for(key, reg["id"], lambda view: view["status"] == "approved")
    await intake.client.post(f"/v1/registrations/{reg['id']}/withdraw", headers=bearer(key))

    log = await eventually(
        lambda: deliveries(intake, key),
        lambda items: len(items) == 2 and all(d["state"] == "delivered" for d in items),
    )
    assert [d["event_type"] for d in log] == ["registration.withdrawn", "registration.approved"]
    assert sum(d["attempts"] for d in log) == 4  # two failures, then two successes
    assert len(receiver.received) == 4
    approved_attempts = [
        (headers, body) for headers, body in receiver.received if b"registration.approved" in body
    ]
    assert len({headers["webhook-id"] for headers, _ in approved_attempts}) == 1
    for headers, body in receiver.received:
        verified = Webhook(secret).verify(body, headers)
        assert verified["data"]["registration_id"] == reg["id"]
        assert partner["name"] not in body.decode()
    assert json.loads(receiver.received[-1][1])["data"]["status"] in {"approved", "withdrawn"}


async def test_a_receiver_that_hangs_holds_up_no_one_else(
    intake: IntakeApp, receiver: Receiver
) -> None:
    """One partner's slow endpoint must not stall the service: on SQLite the dispatcher kept
    its transaction, so the database's write lock, open for the whole POST, and every other
    request waited for the partner's server to answer."""
    receiver.hold = asyncio.Event()
    slow = await intake.new_partner("Slow Receiver Partner")
    key = slow["api_key"]
    await intake.client.put("/v1/webhook", json={"url": receiver.url}, headers=bearer(key))
    payload = registration_body(name="Slowly Told", domain=None)
    payload["expected_close_date"] = in_days(30)
    reg = (await intake.register(key, payload)).json()
    await intake.client.post(f"/v1/registrations/{reg['id']}/withdraw", headers=bearer(key))
    await receiver.arrived.wait()
    try:
        busy = await intake.new_partner("Busy Partner")
        accepted = await intake.register(
            busy["api_key"], registration_body(name="Unrelated Customer", domain=None)
        )
        assert accepted.status_code == 202, accepted.text
        in_flight = await deliveries(intake, key)
        assert [d["attempts"] for d in in_flight] == [0], "the delivery should be in flight"
    finally:
        receiver.hold.set()
    log = await eventually(
        lambda: deliveries(intake, key), lambda items: items[0]["state"] == "delivered"
    )
    assert log[0]["attempts"] == 1
    assert len(receiver.received) == 1


async def test_a_delivery_fails_for_good_after_the_last_retry(intake: IntakeApp) -> None:
    partner = await intake.new_partner("Unreachable Partner")
    key = partner["api_key"]
    await intake.client.put(
        "/v1/webhook", json={"url": "http://127.0.0.1:9/nowhere"}, headers=bearer(key)
    )
    payload = registration_body(name="Unreachable", domain=None)
    payload["expected_close_date"] = in_days(30)
    reg = (await intake.register(key, payload)).json()
    await intake.client.post(f"/v1/registrations/{reg['id']}/withdraw", headers=bearer(key))

    log = await eventually(
        lambda: deliveries(intake, key), lambda items: items[0]["state"] == "failed"
    )
    assert log[0]["attempts"] == 3
    assert log[0]["last_error"]


async def test_webhook_urls_are_validated(intake: IntakeApp) -> None:
    partner = await intake.new_partner("Sloppy Partner")
    for url in ("ftp://example.com/x", "not a url", "https://user:pw@example.com/x"):
        response = await intake.client.put(
            "/v1/webhook", json={"url": url}, headers=bearer(partner["api_key"])
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "url"
    assert (
        await intake.client.delete("/v1/webhook", headers=bearer(partner["api_key"]))
    ).status_code == 404


async def test_deliveries_to_internal_addresses_are_refused(
    kafka_bootstrap: str, databases: Databases, receiver: Receiver
) -> None:
    async with intake_app(
        kafka_bootstrap=kafka_bootstrap,
        databases=databases,
        topic_prefix=f"t-intake-wh-ssrf-{databases.kind}.",
        webhook_schedule=(0.1,),
        allow_private_webhooks=False,  # as in production
    ) as guarded:
        partner = await guarded.new_partner("Curious Partner")
        key = partner["api_key"]
        await guarded.client.put("/v1/webhook", json={"url": receiver.url}, headers=bearer(key))
        payload = registration_body(name="Internal", domain=None)
        payload["expected_close_date"] = in_days(30)
        reg = (await guarded.register(key, payload)).json()
        await guarded.client.post(f"/v1/registrations/{reg['id']}/withdraw", headers=bearer(key))

        log = await eventually(
            lambda: deliveries(guarded, key), lambda items: items[0]["state"] == "failed"
        )
    assert "private or loopback" in log[0]["last_error"]
    assert receiver.received == []  # nothing ever reached the internal address
