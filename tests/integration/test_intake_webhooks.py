"""Partner webhooks: signed per Standard Webhooks, retried with backoff, logged."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from standardwebhooks import Webhook

from schemas.registration import RegistrationApproved, RegistrationSummary
from tests.support.api import bearer, registration_body
from tests.support.databases import Databases, only_on
from tests.support.intake import IntakeApp, eventually, in_days, intake_app
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.integration


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


class FlippingResolver:
    """DNS that answers a public address first and the receiver's loopback address after: the
    rebinding trick, which a check-then-connect delivery falls for."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return ["93.184.216.34"] if self.calls == 1 else ["127.0.0.1"]


async def _loopback_only(host: str, port: int) -> list[str]:
    return ["127.0.0.1", "::1"]


async def test_internal_webhook_urls_are_refused_when_set(
    kafka_bootstrap: str, databases: Databases, receiver: Receiver
) -> None:
    async with intake_app(
        kafka_bootstrap=kafka_bootstrap,
        databases=databases,
        topic_prefix=f"t-intake-wh-set-{databases.kind}.",
        allow_private_webhooks=False,  # as in production
        resolver=_loopback_only,
    ) as guarded:
        partner = await guarded.new_partner("Curious Partner")
        for url in (
            receiver.url,
            "https://10.1.2.3/hook",
            "https://[::1]/hook",
            "https://[64:ff9b::a01:203]/hook",  # NAT64 of 10.1.2.3
            "https://[2002:a01:203::1]/hook",  # 6to4 of 10.1.2.3
            "https://localhost/hook",
            "https://intranet.partner.example/hook",  # resolves only to loopback
        ):
            response = await guarded.client.put(
                "/v1/webhook", json={"url": url}, headers=bearer(partner["api_key"])
            )
            assert response.status_code == 422, url
            assert response.json()["errors"][0]["field"] == "url"
    assert receiver.received == []


async def test_a_name_rebound_to_an_internal_address_is_never_reached(
    kafka_bootstrap: str, databases: Databases, receiver: Receiver
) -> None:
    async with intake_app(
        kafka_bootstrap=kafka_bootstrap,
        databases=databases,
        topic_prefix=f"t-intake-wh-ssrf-{databases.kind}.",
        webhook_schedule=(0.1,),
        allow_private_webhooks=False,
        resolver=FlippingResolver(),
    ) as guarded:
        partner = await guarded.new_partner("Rebinding Partner")
        key = partner["api_key"]
        port = receiver.url.split(":")[2].split("/")[0]
        url = f"http://rebind.partner.example:{port}/hooks"
        assert (
            await guarded.client.put("/v1/webhook", json={"url": url}, headers=bearer(key))
        ).status_code == 200  # the name looked public when it was set
        payload = registration_body(name="Internal", domain=None)
        payload["expected_close_date"] = in_days(30)
        reg = (await guarded.register(key, payload)).json()
        await guarded.client.post(f"/v1/registrations/{reg['id']}/withdraw", headers=bearer(key))

        log = await eventually(
            lambda: deliveries(guarded, key), lambda items: items[0]["state"] == "failed"
        )
    assert "private or loopback" in log[0]["last_error"]
    assert receiver.received == []  # nothing ever reached the internal address


async def test_a_delivery_connects_to_the_vetted_address_and_keeps_the_host_name(
    kafka_bootstrap: str, databases: Databases, receiver: Receiver
) -> None:
    async def partner_dns(host: str, port: int) -> list[str]:
        assert host == "hooks.partner.example"
        return ["127.0.0.1"]

    async with intake_app(
        kafka_bootstrap=kafka_bootstrap,
        databases=databases,
        topic_prefix=f"t-intake-wh-pin-{databases.kind}.",
        resolver=partner_dns,  # the machine's own DNS cannot resolve this name at all
    ) as app:
        partner = await app.new_partner("Pinned Partner")
        key = partner["api_key"]
        port = receiver.url.split(":")[2].split("/")[0]
        url = f"http://hooks.partner.example:{port}/hooks"
        await app.client.put("/v1/webhook", json={"url": url}, headers=bearer(key))
        payload = registration_body(name="Pinned", domain=None)
        payload["expected_close_date"] = in_days(30)
        reg = (await app.register(key, payload)).json()
        await app.client.post(f"/v1/registrations/{reg['id']}/withdraw", headers=bearer(key))
        log = await eventually(
            lambda: deliveries(app, key), lambda items: items[0]["state"] == "delivered"
        )
    assert log[0]["state"] == "delivered"
    assert receiver.received[0][0]["host"] == f"hooks.partner.example:{port}"


async def test_a_rotated_secret_keeps_signing_beside_the_new_one(
    intake: IntakeApp, receiver: Receiver
) -> None:
    partner = await intake.new_partner("Rotating Partner")
    key = partner["api_key"]
    first = await intake.client.put("/v1/webhook", json={"url": receiver.url}, headers=bearer(key))
    second = await intake.client.put("/v1/webhook", json={"url": receiver.url}, headers=bearer(key))
    old_secret, new_secret = first.json()["secret"], second.json()["secret"]
    assert old_secret != new_secret
    payload = registration_body(name="Rotating", domain=None)
    payload["expected_close_date"] = in_days(30)
    reg = (await intake.register(key, payload)).json()
    await intake.client.post(f"/v1/registrations/{reg['id']}/withdraw", headers=bearer(key))
    await eventually(
        lambda: deliveries(intake, key), lambda items: items[0]["state"] == "delivered"
    )
    headers, body = receiver.received[-1]
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old_secret, new_secret):  # a receiver on either secret accepts it
        assert Webhook(secret).verify(body, headers)["data"]["registration_id"] == reg["id"]


async def test_webhook_secrets_are_encrypted_at_rest(intake: IntakeApp, receiver: Receiver) -> None:
    partner = await intake.new_partner("Careful Partner")
    put = await intake.client.put(
        "/v1/webhook", json={"url": receiver.url}, headers=bearer(partner["api_key"])
    )
    secret = put.json()["secret"]
    engine = create_async_engine(intake.database_url)
    try:
        async with engine.connect() as connection:
            stored = (
                await connection.execute(
                    text("SELECT secret FROM partner_webhooks WHERE partner_id = :p"),
                    {"p": partner["id"]},
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert secret not in stored
    assert secret.removeprefix("whsec_") not in stored


@dataclass
class TricklingReceiver:
    """Accepts the request, then sends its answer one byte every few seconds."""

    server: asyncio.Server | None = None
    connections: int = 0

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/slow"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        try:
            for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n":
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(5)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@only_on("sqlite")  # SQLite has one writer: a delivery holding a transaction stops intake
async def test_a_trickling_receiver_never_holds_up_intake_on_sqlite(
    kafka_bootstrap: str, databases: Databases
) -> None:
    slow = TricklingReceiver()
    slow.server = await asyncio.start_server(slow.handle, "127.0.0.1", 0)
    try:
        async with intake_app(
            kafka_bootstrap=kafka_bootstrap,
            databases=databases,
            topic_prefix=f"t-intake-wh-slow-{databases.kind}.",
            webhook_schedule=(60,),
            webhook_timeout=3,
        ) as app:
            partner = await app.new_partner("Slow Partner")
            key = partner["api_key"]
            await app.client.put("/v1/webhook", json={"url": slow.url}, headers=bearer(key))
            payload = registration_body(name="Slowpoke", domain=None)
            payload["expected_close_date"] = in_days(30)
            reg = (await app.register(key, payload)).json()
            await app.client.post(f"/v1/registrations/{reg['id']}/withdraw", headers=bearer(key))
            await eventually(lambda: _value(slow.connections), lambda n: n >= 1)
            # While the delivery is being trickled, every write of intake goes through.
            for index in range(5):
                body = registration_body(name=f"Busy Customer {index}", domain=None)
                body["expected_close_date"] = in_days(30)
                assert (await app.register(key, body)).status_code == 202
            log = await eventually(
                lambda: deliveries(app, key),
                lambda items: items[-1]["attempts"] == 1,
                within=20,
            )
    finally:
        slow.server.close()
    assert "no complete answer within 3 seconds" in log[-1]["last_error"]


async def _value(value: int) -> int:
    return value
