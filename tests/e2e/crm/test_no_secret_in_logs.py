"""No secret in logs: a full run of the three services (partners, ops, a partner webhook with
a token in its URL and a rotated secret, registrations approved and rejected, the CRM mirror
and a closed-won webhook back, refused callers, a policy change), at DEBUG, then every line
the services wrote is searched for every credential the run used."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.e2e.crm.conftest import HUBSPOT_SECRET, wire_hubspot
from tests.support.api import bearer, create_partner, registration_body, wait_for_status
from tests.support.crm_events import wait_until
from tests.support.crm_sandbox import CrmSandbox
from tests.support.databases import only_on
from tests.support.stack import SERVICES, ServiceStack

pytestmark = pytest.mark.e2e
URL_TOKEN = "url-token-9c1f0e7d6b5a4c3b2a1f"
METRICS_TOKEN = "metrics-token-5f4e3d2c1b0a99887766"


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        _Receiver.received.append(dict(self.headers))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.received.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/dealreg?token={URL_TOKEN}"
    server.shutdown()
    server.server_close()


@only_on("sqlite")  # what is logged does not depend on the database
async def test_a_full_run_logs_no_secret(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int, receiver: str
) -> None:
    fernet_key = Fernet.generate_key().decode()
    wire_hubspot(
        stack,
        sandbox,
        crm_sync_port,
        DEALREG_LOG_LEVEL="DEBUG",
        DEALREG_WEBHOOK_SECRET_KEY=fernet_key,
        DEALREG_WEBHOOK_ALLOW_PRIVATE_ADDRESSES="true",
        DEALREG_WEBHOOK_RETRY_SCHEDULE_SECONDS="[0.2, 0.5]",
        DEALREG_WEBHOOK_POLL_INTERVAL_SECONDS="0.1",
        DEALREG_HTTP_METRICS_TOKEN=METRICS_TOKEN,
    )
    for service in SERVICES:  # only this run's lines
        (stack.artifacts / f"{service}.log").unlink(missing_ok=True)
    stack.start_all()
    secrets: dict[str, str] = {
        "admin token": stack.admin_token,
        "webhook URL token": URL_TOKEN,
        "webhook secret key": fernet_key,
        "metrics token": METRICS_TOKEN,
        "HubSpot token": stack.extra_env["DEALREG_CRM_HUBSPOT_TOKEN"],
        "HubSpot client secret": HUBSPOT_SECRET,
    }
    registration = httpx.Client(base_url=stack.url("deal_registration"), timeout=10)
    with registration:
        partner_a = create_partner(registration, stack.admin_token, name="Northwind Networks")
        partner_b = create_partner(registration, stack.admin_token, name="Contoso Secure")
        secrets["partner A key"] = partner_a["api_key"]
        secrets["partner B key"] = partner_b["api_key"]
        ops = registration.post(
            "/v1/ops-users", json={"name": "Sam Ortiz"}, headers=bearer(stack.admin_token)
        ).json()
        secrets["ops key"] = ops["api_key"]
        spare = registration.post(
            f"/v1/partners/{partner_b['id']}/api-keys", headers=bearer(stack.admin_token)
        ).json()
        secrets["revoked key"] = spare["api_key"]
        assert (
            registration.delete(
                f"/v1/api-keys/{spare['id']}", headers=bearer(stack.admin_token)
            ).status_code
            == 204
        )

        first = registration.put(
            "/v1/webhook", json={"url": receiver}, headers=bearer(partner_a["api_key"])
        )
        assert first.status_code == 200, first.text
        secrets["webhook secret"] = first.json()["secret"]
        rotated = registration.put(
            "/v1/webhook", json={"url": receiver}, headers=bearer(partner_a["api_key"])
        )
        secrets["rotated webhook secret"] = rotated.json()["secret"]

        # Callers that are refused: an unknown key, a revoked one, a malformed header.
        assert registration.get("/v1/registrations", headers=bearer("drk_unknown")).status_code
        revoked = registration.get("/v1/registrations", headers=bearer(spare["api_key"]))
        assert revoked.status_code == 401
        assert registration.get(
            "/v1/registrations", headers={"Authorization": f"Basic {stack.admin_token}"}
        ).status_code in (401, 403)

        created = registration.post(
            "/v1/registrations",
            json=registration_body(domain="acme.com"),
            headers=bearer(partner_a["api_key"]),
        ).json()
        approved = wait_for_status(registration, partner_a["api_key"], created["id"])
        assert approved["status"] == "approved"
        second = registration.post(
            "/v1/registrations",
            json=registration_body(name="ACME Corp.", domain="acme.com"),
            headers=bearer(partner_b["api_key"]),
        ).json()
        rejected = wait_for_status(registration, partner_b["api_key"], second["id"])
        assert rejected["status"] == "rejected"

        deal = await wait_until(lambda: _deal_of(sandbox, created["id"]), timeout=30)
        sandbox.control("POST", f"/hubspot/deals/{deal['id']}", json={"stage": "closedwon"})
        await wait_until(
            lambda: _status_if(registration, partner_a["api_key"], created["id"], "won"),
            timeout=30,
        )
        await wait_until(lambda: len(_Receiver.received) >= 2 or None, timeout=30)

    # The ops key reaches the resolver and crm_sync as an event, through their own consumers:
    # wait until each accepts it, as an ops user retrying would.
    def accepted(url: str) -> httpx.Response | None:
        answer = httpx.get(url, headers=bearer(ops["api_key"]), timeout=10)
        return answer if answer.status_code != 401 else None

    resolver = stack.url("conflict_resolver")
    policy = await wait_until(lambda: accepted(f"{resolver}/v1/policy"), timeout=30)
    assert policy.status_code == 200
    assert (
        httpx.put(
            f"{resolver}/v1/policy", json=policy.json()["policy"], headers=bearer(ops["api_key"])
        ).status_code
        == 200
    )
    for service in SERVICES:
        scraped = httpx.get(f"{stack.url(service)}/metrics", headers=bearer(METRICS_TOKEN))
        assert scraped.status_code == 200
        assert httpx.get(f"{stack.url(service)}/metrics").status_code == 401
    status = await wait_until(
        lambda: accepted(f"{stack.url('crm_sync')}/v1/sync/status"), timeout=30
    )
    assert status.status_code == 200

    await asyncio.sleep(1)  # the last deliveries and relays log what they did
    stack.stop_all()
    logs = {service: (stack.artifacts / f"{service}.log").read_text() for service in SERVICES}
    assert all(logs.values()), "the services logged nothing: the check would prove nothing"
    # Each service wrote its own structured lines (at DEBUG, aiosqlite once logged every
    # statement's parameters: webhook URLs with their tokens).
    assert all(f'"service": "{service}"' in text for service, text in logs.items())
    leaks = [
        f"{name} in {service}.log"
        for name, secret in secrets.items()
        for service, text in logs.items()
        if secret in text
    ]
    assert leaks == []


def _deal_of(sandbox: CrmSandbox, registration_id: str) -> dict[str, object] | None:
    for deal in sandbox.control("GET", "/hubspot/deals"):
        if deal["properties"].get("dealreg_registration_id") == registration_id:
            return dict(deal)
    return None


def _status_if(client: httpx.Client, key: str, registration_id: str, status: str) -> bool | None:
    view = client.get(f"/v1/registrations/{registration_id}", headers=bearer(key)).json()
    return True if view["status"] == status else None
