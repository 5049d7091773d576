"""``dealreg keys rotate``: the old admin token and the old webhook secret keep working for the
overlap and stop after it; the new ones work from the start. Against the services as
processes on Kafka, with the command run as an operator runs it."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from services.admin_token import token_sha256
from tests.e2e.test_cli import dealreg
from tests.support.api import bearer, create_partner, registration_body
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e

OLD_TOKEN = "the-admin-token-before-rotation-0123456789"
OVERLAP_SECONDS = 40  # covers starting the three services


@pytest.fixture(scope="module")
def database_kind() -> str:
    return "sqlite"  # the command speaks HTTP only; the database kind changes nothing here


class Receiver:
    """A webhook receiver in a thread: records each delivery's headers and body."""

    def __init__(self) -> None:
        received = self.received = []  # type: list[tuple[dict[str, str], bytes]]

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def operator_env(state: Path, stack: ServiceStack, token: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("DEALREG_")},
        "DEALREG_STATE_DIR": str(state),
        "DEALREG_ADMIN_TOKEN": token,
        "DEALREG_DEAL_REGISTRATION_URL": stack.url("deal_registration")
        if stack.ports
        else "http://127.0.0.1:9",
        "COLUMNS": "200",
    }


def ops_urls(stack: ServiceStack, partner_id: str) -> list[str]:
    return [
        f"{stack.url('deal_registration')}/v1/partners/{partner_id}",
        f"{stack.url('conflict_resolver')}/v1/policy",
        f"{stack.url('crm_sync')}/v1/sync/status",
    ]


def codes(urls: list[str], token: str) -> list[int]:
    return [httpx.get(url, headers=bearer(token), timeout=10).status_code for url in urls]


def test_a_rotated_admin_token_works_until_the_overlap_ends(
    stack: ServiceStack, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    rotated = dealreg(
        "keys", "rotate", "admin-token", "--overlap", f"{OVERLAP_SECONDS}s", "--json",
        env=operator_env(state, stack, OLD_TOKEN),
    )  # fmt: skip
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    result = json.loads(rotated.stdout)
    new_token = result["admin_token"]
    assert new_token != OLD_TOKEN
    assert len(new_token) >= 32
    # Stored as the code stores credentials: owner-only files, the old token only hashed.
    assert (state / "admin-token").read_text().strip() == new_token
    previous = json.loads((state / "admin-token-previous.json").read_text())
    assert previous["sha256"] == token_sha256(OLD_TOKEN)
    assert OLD_TOKEN not in (state / "admin-token-previous.json").read_text()
    for name in ("admin-token", "admin-token-previous.json"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600
    until = datetime.fromisoformat(result["previous_valid_until"])

    # The services restart with what the rotation says (as `dealreg up` passes it on).
    stack.admin_token = new_token
    stack.extra_env = {
        name: value
        for name, value in result["environment"].items()
        if name != "DEALREG_ADMIN_TOKEN"
    }
    stack.start_all()
    client = httpx.Client(base_url=stack.url("deal_registration"), timeout=10)
    partner = create_partner(client, new_token, name="Rotation Partner")
    urls = ops_urls(stack, partner["id"])

    assert time.time() < until.timestamp() - 2, "the services took the whole overlap to start"
    assert codes(urls, OLD_TOKEN) == [200, 200, 200]
    assert codes(urls, new_token) == [200, 200, 200]
    assert codes(urls, "not-the-admin-token-at-all-0123456789") == [401, 401, 401]

    time.sleep(max(0.0, until.timestamp() - time.time()) + 0.5)
    assert codes(urls, OLD_TOKEN) == [401, 401, 401]
    assert codes(urls, new_token) == [200, 200, 200]
    client.close()


def deliveries_after(receiver: Receiver, seen: int, timeout: float = 20) -> list[Any]:
    """The deliveries that arrived after the first ``seen`` (waiting for one at least)."""
    deadline = time.monotonic() + timeout
    while len(receiver.received) <= seen and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(receiver.received) > seen, "no delivery arrived"
    return receiver.received[seen:]


def withdraw_one(client: httpx.Client, key: str) -> None:
    body = registration_body(name=f"Hooked {uuid.uuid4().hex[:8]}", domain=None)
    created = client.post("/v1/registrations", json=body, headers=bearer(key))
    assert created.status_code == 202, created.text
    withdrawn = client.post(
        f"/v1/registrations/{created.json()['id']}/withdraw", headers=bearer(key)
    )
    assert withdrawn.status_code == 202, withdrawn.text


def verifies(secret: str, delivery: tuple[dict[str, str], bytes]) -> bool:
    headers, body = delivery
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


def test_a_rotated_webhook_secret_signs_beside_the_new_one_until_the_overlap_ends(
    stack: ServiceStack, tmp_path: Path, receiver: Receiver
) -> None:
    stack.extra_env = {
        "DEALREG_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
        "DEALREG_WEBHOOK_POLL_INTERVAL_SECONDS": "0.05",
    }
    stack.start_all()
    client = httpx.Client(base_url=stack.url("deal_registration"), timeout=10)
    partner = create_partner(client, stack.admin_token, name="Hooked Partner")
    key = partner["api_key"]
    first = client.put("/v1/webhook", json={"url": receiver.url}, headers=bearer(key))
    assert first.status_code == 200, first.text
    old_secret = first.json()["secret"]
    env = operator_env(tmp_path, stack, stack.admin_token)

    missing = dealreg("keys", "rotate", "webhook-secret", env=env)
    assert missing.returncode == 2
    assert "--partner" in missing.stderr
    unknown = dealreg(
        "keys", "rotate", "webhook-secret", "--partner", str(uuid.uuid4()), env=env
    )  # fmt: skip
    assert unknown.returncode == 1
    assert "404" in unknown.stderr

    # The overlap must outlast a withdrawal and its delivery through another process on a
    # loaded machine (4 s left little room); the test waits it out either way.
    rotated = dealreg(
        "keys", "rotate", "webhook-secret", "--partner", partner["id"], "--overlap", "10s",
        "--json", env=env,
    )  # fmt: skip
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    result = json.loads(rotated.stdout)
    new_secret = result["webhook_secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != old_secret
    assert result["url"] == receiver.url
    until = datetime.fromisoformat(result["previous_valid_until"])

    withdraw_one(client, key)
    during = deliveries_after(receiver, 0)
    assert time.time() < until.timestamp(), "the overlap ended before a delivery arrived"
    for delivery in during:  # a receiver on either secret accepts them
        assert verifies(new_secret, delivery)
        assert verifies(old_secret, delivery)

    time.sleep(max(0.0, until.timestamp() - time.time()) + 0.5)
    seen = len(receiver.received)
    withdraw_one(client, key)
    for delivery in deliveries_after(receiver, seen):
        assert verifies(new_secret, delivery)
        assert not verifies(old_secret, delivery)
    client.close()
