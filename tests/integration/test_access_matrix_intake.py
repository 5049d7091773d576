"""The access matrix of deal_registration: every route x every kind of caller.

Callers: none, malformed, unknown, revoked, partner A (owner of the resources in the paths),
partner B, a suspended partner, an ops user, the admin. Each cell's answer is the contract's
(401 unauthenticated, 403 wrong role, 404 for another partner's registration exactly as for
one that does not exist), and partner B never reads anything of partner A's: no body, error,
list, history or delivery of B's names A's registration, customer or partner.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.api import registration_body
from tests.support.databases import Databases
from tests.support.intake import ADMIN_TOKEN, IntakeApp, in_days, intake_app

pytestmark = pytest.mark.integration

UNAUTHENTICATED = ("none", "malformed", "unknown", "revoked")
PARTNERS = ("partner_a", "partner_b", "suspended")
EVERYONE = (*UNAUTHENTICATED, *PARTNERS, "ops", "admin")
# A cell's expected answer: a status, or ALLOWED (the call went through: 2xx, or a 409/422
# about the request itself, since earlier cells may already have changed the resource).
ALLOWED = "allowed"


@dataclass
class World:
    app: IntakeApp
    tokens: dict[str, str | None]
    ids: dict[str, str]
    secrets_of_a: list[str]


@pytest.fixture(scope="module")
async def world(kafka_bootstrap: str, databases: Databases) -> AsyncIterator[World]:
    async with intake_app(
        kafka_bootstrap=kafka_bootstrap,
        databases=databases,
        topic_prefix=f"t-access-intake-{databases.kind}.",
    ) as app:
        a = await app.new_partner("Alpha Channel Partner")
        b = await app.new_partner("Bravo Resellers")
        suspended = await app.new_partner("Sleepy Partner")
        await app.admin("PATCH", f"/v1/partners/{suspended['id']}", json={"status": "suspended"})
        revoked = (await app.admin("POST", f"/v1/partners/{a['id']}/api-keys")).json()
        await app.admin("DELETE", f"/v1/api-keys/{revoked['id']}")
        spare = (await app.admin("POST", f"/v1/partners/{a['id']}/api-keys")).json()
        ops = (await app.admin("POST", "/v1/ops-users", json={"name": "Sam Ortiz"})).json()
        body = registration_body(name="Zanzibar Quantum Widgets", domain="zanzibar-qw.com")
        body["expected_close_date"] = in_days(60)
        registration = (await app.register(a["api_key"], body)).json()
        yield World(
            app=app,
            tokens={
                "none": None,
                "malformed": "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
                "unknown": "drk_" + uuid.uuid4().hex,
                "revoked": revoked["api_key"],
                "partner_a": a["api_key"],
                "partner_b": b["api_key"],
                "suspended": suspended["api_key"],
                "ops": ops["api_key"],
                "admin": ADMIN_TOKEN,
            },
            ids={
                "partner": a["id"],
                "registration": registration["id"],
                "spare_key": spare["id"],
                # Nobody's: each partner is answered 404 as for another's (see test_intake_roles).
                "invitation": str(uuid.uuid4()),
                "dataset": "registrations",
            },
            secrets_of_a=[a["id"], registration["id"], "Zanzibar", "zanzibar-qw", "Alpha"],
        )


def _expect(**cells: str | int) -> dict[str, str | int]:
    expected: dict[str, str | int] = dict.fromkeys(UNAUTHENTICATED, 401)
    for caller, answer in cells.items():
        expected[caller] = answer
    return expected


ADMIN_ONLY = _expect(partner_a=403, partner_b=403, suspended=403, ops=403, admin=ALLOWED)
OWNER_READ = _expect(partner_a=ALLOWED, partner_b=404, suspended=404, ops=ALLOWED, admin=ALLOWED)
OWNER_WRITE = _expect(partner_a=ALLOWED, partner_b=404, suspended=403, ops=403, admin=403)
PARTNER_WRITE = _expect(partner_a=ALLOWED, partner_b=ALLOWED, suspended=403, ops=403, admin=403)
PARTNER_READ = _expect(partner_a=ALLOWED, partner_b=ALLOWED, suspended=ALLOWED, ops=403, admin=403)
OPS_READ = _expect(partner_a=403, partner_b=403, suspended=403, ops=ALLOWED, admin=ALLOWED)
ANY_KEY_READ = _expect(
    partner_a=ALLOWED, partner_b=ALLOWED, suspended=ALLOWED, ops=ALLOWED, admin=ALLOWED
)

# (method, path template, JSON body or None, expected answers by caller)
ROUTES: list[tuple[str, str, Any, dict[str, str | int]]] = [
    ("POST", "/v1/partners", {"name": ""}, ADMIN_ONLY),
    ("GET", "/v1/partners/{partner}", None, ADMIN_ONLY),
    ("PATCH", "/v1/partners/{partner}", {"tier": "diamond"}, ADMIN_ONLY),
    ("GET", "/v1/partners/{partner}/api-keys", None, ADMIN_ONLY),
    ("POST", "/v1/partners/{partner}/api-keys", None, ADMIN_ONLY),
    ("DELETE", "/v1/api-keys/{spare_key}", None, ADMIN_ONLY),
    ("POST", "/v1/ops-users", {"name": ""}, ADMIN_ONLY),
    ("POST", "/v1/partners/{partner}/webhook/secret", {"overlap_seconds": -1}, ADMIN_ONLY),
    ("POST", "/v1/registrations", {"customer": {}}, PARTNER_WRITE),
    ("GET", "/v1/registrations", None, ANY_KEY_READ),
    ("GET", "/v1/registrations/{registration}", None, OWNER_READ),
    ("GET", "/v1/registrations/{registration}/history", None, OWNER_READ),
    ("POST", "/v1/registrations/{registration}/extension", None, OWNER_WRITE),
    ("POST", "/v1/registrations/{registration}/withdraw", None, OWNER_WRITE),
    ("POST", "/v1/registrations/{registration}/appeal", {"note": "Please look again."},
     OWNER_WRITE),
    ("PATCH", "/v1/registrations/{registration}", {"expected_close_date": "2031-01-31"},
     OWNER_WRITE),
    ("PUT", "/v1/webhook", {"url": "ftp://nowhere"}, PARTNER_WRITE),
    ("GET", "/v1/webhook", None, _expect(partner_a=404, partner_b=404, suspended=404,
                                          ops=403, admin=403)),
    ("DELETE", "/v1/webhook", None, _expect(partner_a=404, partner_b=404, suspended=403,
                                             ops=403, admin=403)),
    ("GET", "/v1/webhook/deliveries", None, PARTNER_READ),
    ("GET", "/v1/capacity", None, PARTNER_READ),
    ("POST", "/v1/registrations/{registration}/co-sell-invitations",
     {"partner_id": "x", "role": "distributor"}, OWNER_WRITE),
    ("GET", "/v1/registrations/{registration}/co-sell-invitations", None, OWNER_READ),
    ("GET", "/v1/co-sell-invitations", None, PARTNER_READ),
    ("GET", "/v1/co-sell-invitations/{invitation}", None, _expect(
        partner_a=404, partner_b=404, suspended=404, ops=403, admin=403)),
    ("POST", "/v1/co-sell-invitations/{invitation}/accept", None, _expect(
        partner_a=404, partner_b=404, suspended=403, ops=403, admin=403)),
    ("POST", "/v1/co-sell-invitations/{invitation}/decline", None, _expect(
        partner_a=404, partner_b=404, suspended=403, ops=403, admin=403)),
    ("GET", "/v1/analytics/partners", None, ANY_KEY_READ),
    ("GET", "/v1/analytics/churn", None, OPS_READ),
    ("GET", "/v1/analytics/accounts?name=Zanzibar", None, OPS_READ),
    ("GET", "/v1/export/{dataset}", None, PARTNER_READ),
]  # fmt: skip


def _matches(status: int, expected: str | int) -> bool:
    if expected == ALLOWED:
        return 200 <= status < 300 or status in (409, 422)
    return status == expected


async def _call(world: World, method: str, path: str, body: Any, caller: str) -> Any:
    token = world.tokens[caller]
    headers = {} if token is None else {"Authorization": token if caller == "malformed"
                                        else f"Bearer {token}"}  # fmt: skip
    return await world.app.client.request(
        method, path.format(**world.ids), json=body, headers=headers
    )


def test_the_matrix_covers_every_route_of_the_service(world: World) -> None:
    served = {
        (method.upper(), path)
        for path, operations in world.app.app.openapi()["paths"].items()
        for method in operations
        if path.startswith("/v1/")
    }
    covered = {
        (method, path.split("?")[0].replace("{partner}", "{partner_id}")
         .replace("{registration}", "{registration_id}").replace("{spare_key}", "{key_id}")
         .replace("{invitation}", "{invitation_id}"))
        for method, path, _, _ in ROUTES
    }  # fmt: skip
    assert served == covered


@pytest.mark.parametrize(("method", "path", "body", "expected"), ROUTES, ids=lambda v: str(v))
async def test_every_caller_gets_the_contracted_answer(
    world: World, method: str, path: str, body: Any, expected: dict[str, str | int]
) -> None:
    wrong = {}
    for caller in EVERYONE:
        response = await _call(world, method, path, body, caller)
        if not _matches(response.status_code, expected[caller]):
            wrong[caller] = (response.status_code, expected[caller], response.text[:200])
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
        if caller == "partner_b":
            for secret in world.secrets_of_a:
                assert secret not in response.text, (caller, method, path)
    assert wrong == {}


async def test_another_partners_registration_answers_exactly_like_a_missing_one(
    world: World,
) -> None:
    missing = str(uuid.uuid4())
    for suffix in ("", "/history"):
        theirs = await _call(world, "GET", f"/v1/registrations/{{registration}}{suffix}",
                             None, "partner_b")  # fmt: skip
        absent = await _call(world, "GET", f"/v1/registrations/{missing}{suffix}",
                             None, "partner_b")  # fmt: skip
        assert (theirs.status_code, theirs.json()) == (absent.status_code, absent.json())


async def test_partner_b_lists_nothing_of_partner_a(world: World) -> None:
    listing = await _call(world, "GET", "/v1/registrations", None, "partner_b")
    foreign = await _call(world, "GET", "/v1/registrations?partner_id={partner}", None, "partner_b")
    for response in (listing, foreign):
        assert response.status_code == 200
        assert response.json()["items"] == []
