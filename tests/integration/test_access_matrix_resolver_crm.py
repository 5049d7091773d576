"""The access matrix of conflict_resolver and crm_sync: every route x every kind of caller.

deal_registration issues every key and publishes the ops keys (hashes only) on
``dealreg.principals``; the resolver and crm_sync learn them from there. So the world here is
the three services on one broker: the keys are real ones, issued (and revoked) through
deal_registration's admin API.

Callers: none, malformed (not ``Bearer``), an empty bearer, an unknown key, a revoked ops
key, a valid *partner* key, an ops key, the admin token. These two services serve sales ops:
the admin token or a live ops key goes through; anything else is 401, a partner key included
(crm_sync never learns partner keys). The one exception is the resolver's account overlap
(``/v1/overlap``, issue 16): there a partner key acts for its own partner, each side may do
only its own steps (403 for the other side's), and anything else is 401 as everywhere. No
caller without the right reads anything: every refusal is the same problem+json, naming no
case, claim, partner or dead letter. CRM webhooks take no bearer token at all: only a valid,
fresh, first-seen signature is taken, whoever else is calling.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from conflict_resolver.app import create_app as create_resolver
from conflict_resolver.queue import auth as queue_auth
from conflict_resolver.settings import ResolverSettings
from crm_sync.adapters import dead_letters
from crm_sync.app import create_app as create_crm_sync
from crm_sync.domain.signatures import dealreg_signature, hubspot_v3
from crm_sync.settings import CrmSettings, CrmSyncSettings
from services.migrations import upgrade
from services.principals import OpsCaller
from services.settings import DatabaseSettings, KafkaSettings, SecuritySettings
from tests.support.conflicts import SeededCase, seed_case
from tests.support.databases import Databases
from tests.support.intake import ADMIN_TOKEN, IntakeApp, intake_app

pytestmark = pytest.mark.integration

HUBSPOT_SECRET = "matrix-hubspot-client-secret"
SALESFORCE_SECRET = "matrix-salesforce-webhook-secret"
REFUSED = ("none", "malformed", "empty", "unknown", "revoked", "partner")
EVERYONE = (*REFUSED, "ops", "admin")
# A cell's expected answer: a status, or ALLOWED (the call went through: 2xx, or a 404/409/422
# about the request itself).
ALLOWED = "allowed"
OPS_ONLY: dict[str, str | int] = {**dict.fromkeys(REFUSED, 401), "ops": ALLOWED, "admin": ALLOWED}
NOBODY: dict[str, str | int] = dict.fromkeys(EVERYONE, 401)
# Account overlap: the partner (for itself) and the vendor's side; each only its own steps.
BOTH_SIDES: dict[str, str | int] = {**OPS_ONLY, "partner": ALLOWED}
VENDOR_STEP: dict[str, str | int] = {**OPS_ONLY, "partner": 403}
PARTNER_STEP: dict[str, str | int] = {**BOTH_SIDES, "ops": 403, "admin": 403}


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient


@dataclass
class World:
    intake: IntakeApp
    resolver: Service
    crm: dict[str, Service]  # by the CRM it mirrors into: hubspot, salesforce
    tokens: dict[str, str | None]
    ids: dict[str, str]
    secrets: list[str]


async def _until(
    check: Callable[[], Awaitable[bool]], within: float = 60, last: Any = None
) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"condition not reached in time: {last}"
        await asyncio.sleep(0.1)


async def _serve(stack: AsyncExitStack, app: FastAPI, base_url: str) -> Service:
    await stack.enter_async_context(LifespanManager(app, startup_timeout=90, shutdown_timeout=30))
    client = await stack.enter_async_context(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
    )
    return Service(app, client)


def _common(url: str, bootstrap: str, prefix: str) -> dict[str, Any]:
    return {
        "log_json": False,
        "database": DatabaseSettings(url=url),
        "kafka": KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix),
        "security": SecuritySettings(admin_token=ADMIN_TOKEN, env="test"),
    }


@pytest.fixture(scope="module")
async def world(kafka_bootstrap: str, databases: Databases) -> AsyncIterator[World]:
    prefix = f"t-access-rc-{databases.kind}-{uuid.uuid4().hex[:6]}."
    async with AsyncExitStack() as stack:
        intake = await stack.enter_async_context(
            intake_app(kafka_bootstrap=kafka_bootstrap, databases=databases, topic_prefix=prefix)
        )
        urls = {}
        for name in ("resolver", "hubspot", "salesforce"):
            urls[name] = await stack.enter_async_context(databases.fresh())
            service = "conflict_resolver" if name == "resolver" else "crm_sync"
            await asyncio.to_thread(upgrade, service, urls[name])
        resolver = await _serve(
            stack,
            create_resolver(ResolverSettings(**_common(urls["resolver"], kafka_bootstrap, prefix))),
            "http://resolver",
        )
        crm = {
            system: await _serve(
                stack,
                create_crm_sync(
                    CrmSyncSettings(
                        # One consumer group per service: on one prefix, the two would share
                        # the principals' partitions like two instances of one deployment.
                        # The Salesforce one serves the webhook tests only (no keys needed).
                        **_common(
                            urls[system],
                            kafka_bootstrap,
                            prefix if system == "hubspot" else f"{prefix}sf.",
                        ),
                        crm=CrmSettings(
                            connector=system,
                            # Nothing listens there: nothing here may reach a CRM.
                            hubspot_base_url="http://127.0.0.1:9",
                            hubspot_client_secret=HUBSPOT_SECRET,
                            salesforce_instance_url="http://127.0.0.1:9",
                            salesforce_token_url="http://127.0.0.1:9/token",
                            salesforce_webhook_secret=SALESFORCE_SECRET,
                            http_attempts=1,
                        ),
                    )
                ),
                f"http://crm-{system}",
            )
            for system in ("hubspot", "salesforce")
        }

        async def works_everywhere(key: str, works: bool) -> bool:
            answers = [
                await resolver.client.get("/v1/policy", headers={"Authorization": f"Bearer {key}"}),
                await crm["hubspot"].client.get(
                    "/v1/sync/status", headers={"Authorization": f"Bearer {key}"}
                ),
            ]
            last[:] = [(a.status_code, a.text[:100]) for a in answers]
            return all((a.status_code == 200) == works for a in answers)

        last: list[Any] = []

        partner = await intake.new_partner("Alpha Channel Partner")
        ops = (await intake.admin("POST", "/v1/ops-users", json={"name": "Sam Ortiz"})).json()
        gone = (await intake.admin("POST", "/v1/ops-users", json={"name": "Gone Ops"})).json()
        await _until(lambda: works_everywhere(ops["api_key"], works=True), last=last)

        async def partner_known() -> bool:
            answer = await resolver.client.get(
                f"/v1/overlap/partners/{partner['id']}",
                headers={"Authorization": f"Bearer {partner['api_key']}"},
            )
            return answer.status_code == 200

        await _until(partner_known)
        await _until(lambda: works_everywhere(gone["api_key"], works=True))
        assert (await intake.admin("DELETE", f"/v1/api-keys/{gone['api_key_id']}")).status_code
        await _until(lambda: works_everywhere(gone["api_key"], works=False))

        case = await seed_case(resolver.app.state.service.queue.transactions)
        hub_ctx = crm["hubspot"].app.state.service.context
        async with hub_ctx.transactions.transaction() as session:
            await dead_letters.insert_letter(
                session,
                crm_system="hubspot",
                payload={"registration_id": "reg-zanzibar-7", "customer": "Zanzibar Widgets"},
                reason="INVALID_FIELD: amount",
                attempts=3,
                now=datetime.now(UTC),
            )
        letter = (
            await crm["hubspot"].client.get(
                "/v1/sync/dead-letters", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            )
        ).json()["items"][0]
        yield World(
            intake=intake,
            resolver=resolver,
            crm=crm,
            tokens={
                "none": None,
                "malformed": f"Basic {ops['api_key']}",
                "empty": "Bearer ",
                "unknown": "drk_" + uuid.uuid4().hex,
                "revoked": gone["api_key"],
                "partner": partner["api_key"],
                "ops": ops["api_key"],
                "admin": ADMIN_TOKEN,
            },
            ids={
                "case": case.case_id,
                "registration": case.registration_id,
                "dead_letter": str(letter["id"]),
                "partner": partner["id"],
            },
            secrets=[
                *_secrets_of(case),
                "reg-zanzibar-7",
                "Zanzibar",
                "INVALID_FIELD",
            ],
        )


def _secrets_of(case: SeededCase) -> list[str]:
    return [
        case.case_id,
        case.registration_id,
        case.competitor_id,
        case.account_key,
        "Northwind",
        "Contoso",
    ]


RESOLVER_ROUTES: list[tuple[str, str, Any, dict[str, str | int]]] = [
    ("GET", "/v1/conflicts", None, OPS_ONLY),
    ("POST", "/v1/conflicts/stream-token", None, OPS_ONLY),
    # Bearer tokens are not stream tokens, not even the admin's.
    ("GET", "/v1/conflicts/stream?token={bearer}", None, NOBODY),
    ("GET", "/v1/conflicts/{case}", None, OPS_ONLY),
    ("POST", "/v1/conflicts/{case}/assign", {"owner": "me"}, OPS_ONLY),
    ("POST", "/v1/conflicts/{case}/decision", {"approve": "not-a-claim", "reason": "x"},
     OPS_ONLY),
    ("POST", "/v1/conflicts/{case}/resolution", {"resolution": "nope", "reason": "x"},
     OPS_ONLY),
    ("POST", "/v1/conflicts/{case}/return", {"comments": "x", "fields": ["amount"]}, OPS_ONLY),
    ("GET", "/v1/stats", None, OPS_ONLY),
    ("GET", "/v1/policy", None, OPS_ONLY),
    ("PUT", "/v1/policy", {"base_currency": "usd"}, OPS_ONLY),
    ("GET", "/v1/policy/versions/1", None, OPS_ONLY),
    ("POST", "/v1/policy/what-if", {"policy": {}}, OPS_ONLY),
    ("POST", "/v1/matching/calibration", {}, OPS_ONLY),
    ("GET", "/v1/house-accounts", None, OPS_ONLY),
    ("PUT", "/v1/house-accounts", {"accounts": "none"}, OPS_ONLY),
    ("GET", "/v1/decisions/{registration}", None, OPS_ONLY),
    ("POST", "/v1/protections/transfer", {"from_registration_id": "not-a-claim",
     "to_registration_id": "nor-this", "reason": "customer_request", "note": "x"}, OPS_ONLY),
    ("GET", "/v1/overlap/partners/{partner}", None, BOTH_SIDES),
    ("GET", "/v1/overlap/partners/{partner}/key", None, BOTH_SIDES),
    ("POST", "/v1/overlap/partners/{partner}/key", None, VENDOR_STEP),
    ("PUT", "/v1/overlap/partners/{partner}/accounts", {"key_version": 1, "hashes": []},
     PARTNER_STEP),
    ("PUT", "/v1/overlap/partners/{partner}/consent", {"opted_in": True}, BOTH_SIDES),
]  # fmt: skip
CRM_ROUTES: list[tuple[str, str, Any, dict[str, str | int]]] = [
    ("GET", "/v1/sync/status", None, OPS_ONLY),
    ("POST", "/v1/sync/reconcile", None, OPS_ONLY),
    ("GET", "/v1/sync/dead-letters", None, OPS_ONLY),
    ("GET", "/v1/sync/dead-letters/{dead_letter}", None, OPS_ONLY),
    ("POST", "/v1/sync/dead-letters/replay", {"ids": [987654321]}, OPS_ONLY),
    # A bearer token, even the admin's, does not sign a webhook.
    ("POST", "/v1/webhooks/hubspot", [], NOBODY),
    ("POST", "/v1/webhooks/salesforce", {"events": []}, NOBODY),
]  # fmt: skip


def _served(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if path.startswith("/v1/")
    }


def _templates(routes: list[tuple[str, str, Any, Any]]) -> set[tuple[str, str]]:
    names = {
        "{case}": "{case_id}",
        "{registration}": "{registration_id}",
        "{dead_letter}": "{dead_letter_id}",
        "{partner}": "{partner_id}",
        "/1": "/{version}",
    }
    covered = set()
    for method, path, _, _ in routes:
        template = path.split("?")[0]
        for short, full in names.items():
            template = template.replace(short, full)
        covered.add((method, template))
    return covered


def test_the_matrix_covers_every_route_of_both_services(world: World) -> None:
    assert _served(world.resolver.app) == _templates(RESOLVER_ROUTES)
    assert _served(world.crm["hubspot"].app) == _templates(CRM_ROUTES)


def _matches(status: int, expected: str | int) -> bool:
    if expected == ALLOWED:
        return 200 <= status < 300 or status in (404, 409, 422)
    return status == expected


async def _call(
    service: Service, world: World, method: str, path: str, body: Any, caller: str
) -> httpx.Response:
    token = world.tokens[caller]
    headers = {}
    if token is not None:
        plain = caller in ("malformed", "empty")
        headers["Authorization"] = token if plain else f"Bearer {token}"
    url = path.format(bearer=token or "", **world.ids)
    return await service.client.request(method, url, json=body, headers=headers)


async def _check_row(
    world: World, service: Service, method: str, path: str, body: Any, expected: dict[str, Any]
) -> None:
    wrong = {}
    refusals = set()
    for caller in EVERYONE:
        response = await _call(service, world, method, path, body, caller)
        if not _matches(response.status_code, expected[caller]):
            wrong[caller] = (response.status_code, expected[caller], response.text[:200])
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
            assert "Traceback" not in response.text
        if response.status_code == 401:
            assert response.headers.get("www-authenticate", "Bearer") == "Bearer"
            for secret in world.secrets:
                assert secret not in response.text, (caller, method, path, secret)
            problem = response.json()
            refusals.add((problem["title"], problem["status"]))
    assert wrong == {}
    assert refusals <= {("Unauthorized", 401)}


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), RESOLVER_ROUTES, ids=lambda v: str(v)
)
async def test_every_caller_gets_the_contracted_answer_from_the_resolver(
    world: World, method: str, path: str, body: Any, expected: dict[str, str | int]
) -> None:
    await _check_row(world, world.resolver, method, path, body, expected)


@pytest.mark.parametrize(("method", "path", "body", "expected"), CRM_ROUTES, ids=lambda v: str(v))
async def test_every_caller_gets_the_contracted_answer_from_crm_sync(
    world: World, method: str, path: str, body: Any, expected: dict[str, str | int]
) -> None:
    await _check_row(world, world.crm["hubspot"], method, path, body, expected)


async def test_a_refused_caller_learns_nothing_from_bad_parameters(world: World) -> None:
    """Authentication comes first: without a valid token, a bad id or body is still a 401
    (a 422 would tell the caller about the route's parameters)."""
    for service, method, path, body in (
        (world.crm["hubspot"], "GET", f"/v1/sync/dead-letters/{2**70}", None),
        (world.crm["hubspot"], "POST", "/v1/sync/dead-letters/replay", {"ids": "all"}),
        (world.crm["hubspot"], "GET", "/v1/sync/dead-letters?include_replayed=maybe", None),
        (world.resolver, "GET", "/v1/stats?days=0", None),
        (world.resolver, "PUT", "/v1/policy", {"version": "x"}),
        (world.resolver, "GET", "/v1/policy/versions/zero", None),
    ):
        for caller in REFUSED:
            response = await _call(service, world, method, path, body, caller)
            assert response.status_code == 401, (caller, path, response.text)


# --- Stream tokens ---------------------------------------------------------------------------


async def test_stream_tokens_are_refused_when_tampered_expired_or_their_key_is_revoked(
    world: World,
) -> None:
    client = world.resolver.client
    ops = {"Authorization": f"Bearer {world.tokens['ops']}"}
    issued = (await client.post("/v1/conflicts/stream-token", headers=ops)).json()["token"]
    body, _, signature = issued.partition(".")
    claims = json.loads(queue_auth._unb64(body))
    as_admin = queue_auth._b64(json.dumps({**claims, "role": "admin"}).encode())
    now = datetime.now(UTC)
    expired, _ = queue_auth.issue_stream_token(
        OpsCaller(id=claims["sub"], role="ops", name="x", key_id=claims["kid"]),
        ADMIN_TOKEN,
        now=now - timedelta(minutes=10),
    )
    revoked_key_token, _ = queue_auth.issue_stream_token(
        OpsCaller(id="gone", role="ops", name="Gone Ops", key_id=str(uuid.uuid4())),
        ADMIN_TOKEN,
        now=now,
    )
    other_secret, _ = queue_auth.issue_stream_token(
        OpsCaller(id="admin", role="admin", name="admin"), "another-admin-token", now=now
    )
    for token in (
        f"{as_admin}.{signature}",  # claims changed, signature kept
        f"{body}.{signature[:-2]}AA",  # signature changed
        f"{body}.",
        body,
        expired,
        revoked_key_token,
        other_secret,
        "",
    ):
        response = await client.get("/v1/conflicts/stream", params={"token": token})
        assert response.status_code in (401, 422), (token, response.text)
        assert response.headers["content-type"] == "application/problem+json"


# --- CRM webhooks: signatures at the HTTP level -----------------------------------------------


def _now_ms() -> int:
    return int(time.time() * 1000)


def _signed(
    system: str, body: bytes, *, at_ms: int | None = None, secret: str | None = None
) -> dict[str, str]:
    timestamp = str(at_ms if at_ms is not None else _now_ms())
    if system == "hubspot":
        uri = "http://crm-hubspot/v1/webhooks/hubspot"
        signature = hubspot_v3(secret or HUBSPOT_SECRET, "POST", uri, body, timestamp)
        return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp}
    signature = dealreg_signature(secret or SALESFORCE_SECRET, timestamp, body)
    return {"X-Dealreg-Signature": signature, "X-Dealreg-Timestamp": timestamp}


BODIES = {"hubspot": b"[]", "salesforce": b'{"events": []}'}


async def _deliver(world: World, system: str, body: bytes, headers: dict[str, str]) -> Any:
    return await world.crm[system].client.post(
        f"/v1/webhooks/{system}",
        content=body,
        headers={"Content-Type": "application/json", **headers},
    )


@pytest.mark.parametrize("system", ["hubspot", "salesforce"])
async def test_a_signed_delivery_is_taken_once_and_its_replay_refused(
    world: World, system: str
) -> None:
    body = BODIES[system]
    headers = _signed(system, body)
    first = await _deliver(world, system, body, headers)
    assert first.status_code == 204, first.text
    replayed = await _deliver(world, system, body, headers)
    assert replayed.status_code == 401
    assert replayed.headers["content-type"] == "application/problem+json"
    # The CRM retries with a new timestamp, so a new signature: that is taken.
    await asyncio.sleep(0.002)
    assert (await _deliver(world, system, body, _signed(system, body))).status_code == 204


@pytest.mark.parametrize("system", ["hubspot", "salesforce"])
async def test_stale_future_tampered_and_unsigned_deliveries_are_refused(
    world: World, system: str
) -> None:
    body = BODIES[system]
    tampered = b'[{"objectId": 1}]' if system == "hubspot" else b'{"events": [{"id": "1"}]}'
    six_minutes = 6 * 60 * 1000
    signed_now = _signed(system, body)
    refused = {
        "stale": (body, _signed(system, body, at_ms=_now_ms() - six_minutes)),
        "future": (body, _signed(system, body, at_ms=_now_ms() + six_minutes)),
        "tampered body": (tampered, signed_now),
        "wrong secret": (body, _signed(system, body, secret="not-the-secret")),
        "unsigned": (body, {}),
        "timestamp only": (
            body,
            {k: v for k, v in signed_now.items() if "Timestamp" in k},
        ),
        "odd timestamp": (
            body,
            {k: ("+17e11" if "Timestamp" in k else v) for k, v in signed_now.items()},
        ),
        "bearer instead": (body, {"Authorization": f"Bearer {ADMIN_TOKEN}"}),
    }
    for case, (payload, headers) in refused.items():
        response = await _deliver(world, system, payload, headers)
        assert response.status_code == 401, (case, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    # The other CRM's webhook on this deployment: unsigned callers learn nothing (401, not 404).
    other = "salesforce" if system == "hubspot" else "hubspot"
    response = await _deliver(world, other, BODIES[other], {})
    assert response.status_code == 401


MALFORMED_EVENTS = {
    "hubspot": [
        (
            b'[{"subscriptionType": "deal.merge", "objectId": 7, "mergedObjectIds": 5}]',
            "[0].mergedObjectIds",
        ),
        (b'[{"subscriptionType": "deal.propertyChange"}]', "[0].objectId"),
        (b'[{"subscriptionType": "deal.deletion", "objectId": {"id": 7}}]', "[0].objectId"),
        (
            b'[{"subscriptionType": "deal.creation", "objectId": 7}, {"objectId": 8}]',
            "[1].subscriptionType",
        ),
    ],
    "salesforce": [
        (b'{"events": [{"changeType": "updated"}]}', "events[0].id"),
        (b'{"events": [{"id": ["006A"], "changeType": "updated"}]}', "events[0].id"),
        (b'{"events": [{"id": "006A", "changeType": 3}]}', "events[0].changeType"),
    ],
}


@pytest.mark.parametrize("system", ["hubspot", "salesforce"])
async def test_a_signed_delivery_with_malformed_events_is_refused_naming_the_field(
    world: World, system: str
) -> None:
    # Signed, so from the CRM (or from whoever holds its secret): still never a 500, and the
    # answer says which field of which event is wrong.
    for body, field in MALFORMED_EVENTS[system]:
        response = await _deliver(world, system, body, _signed(system, body))
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert [error["field"] for error in response.json()["errors"]] == [field], body


# --- Hostile input found by schemathesis -------------------------------------------------------


async def test_numbers_past_what_the_store_holds_are_refused_not_a_500(world: World) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    huge = 103478786822793776
    resolver, crm = world.resolver.client, world.crm["hubspot"].client
    assert (await resolver.get(f"/v1/policy/versions/{huge}", headers=admin)).status_code == 422
    assert (await crm.get(f"/v1/sync/dead-letters/{2**70}", headers=admin)).status_code == 422
    for ids in ([2**70], [True], ["1"]):
        replay = await crm.post("/v1/sync/dead-letters/replay", json={"ids": ids}, headers=admin)
        assert replay.status_code == 422, ids


async def test_times_durations_and_counts_are_taken_only_as_their_own_json_type(
    world: World,
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    client = world.resolver.client
    what_if = await client.post(
        "/v1/policy/what-if", json={"policy": {}, "until": 0}, headers=admin
    )
    assert what_if.status_code == 422
    assert [e["field"] for e in what_if.json()["errors"]] == ["until"]
    for value in (False, 0, 3600):
        put = await client.put("/v1/policy", json={"incumbency_period": value}, headers=admin)
        assert put.status_code == 422, put.text
        assert [e["field"] for e in put.json()["errors"]] == ["incumbency_period"]
    for body, field in (
        ({"extension": {"max_extensions": False}}, "extension.max_extensions"),
        ({"extension": {"max_extensions": "1"}}, "extension.max_extensions"),
        ({"matching": {"review": True, "same_account": True}}, "matching.review"),
        ({"version": True}, "version"),
    ):
        put = await client.put("/v1/policy", json=body, headers=admin)
        assert put.status_code == 422, (body, put.text)
        assert field in [e["field"] for e in put.json()["errors"]]


async def test_named_paths_are_never_taken_for_an_id(world: World) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    client = world.resolver.client
    options = await client.options("/v1/conflicts/stream-token", headers=admin)
    assert options.status_code == 405
    assert options.headers["allow"] == "POST"
    assert (await client.get("/v1/conflicts/stream-token", headers=admin)).status_code == 405
    crm = world.crm["hubspot"].client
    options = await crm.options("/v1/sync/dead-letters/replay", headers=admin)
    assert options.status_code == 405
    assert options.headers["allow"] == "POST"
