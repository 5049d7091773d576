"""Account overlap without exposure (issue 16), through the real services: deal_registration
issues the partner keys, conflict_resolver learns them from ``dealreg.principals`` and holds the
vendor's accounts (open registrations, a direct opportunity from the CRM, house accounts), on
one broker and real databases.

Both sides see counts at once; the overlapping accounts (only those) once both opted in; a
partner never reaches another partner's key, list or result (404); a bad list is refused
naming the field and leaves the previous one in place; and a domain outside the overlap, on
either side, cannot be recovered from anything exchanged: not in plain text, nor as its hash
under any partner's key (or a plain SHA-256) in any response, any event on Kafka, or the logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select

from conflict_resolver.adapters.tables import direct_opportunities
from conflict_resolver.app import create_app as create_resolver
from conflict_resolver.domain.overlap import derive_partner_key
from conflict_resolver.settings import OverlapSettings, ResolverSettings
from schemas.account_overlap import hash_account_list, overlap_hash
from schemas.accounts import account_key
from schemas.crm import DirectOpportunityOpened
from schemas.registration import CustomerData
from schemas.topics import TOPICS
from services.migrations import upgrade
from services.settings import DatabaseSettings, KafkaSettings, SecuritySettings
from tests.support.api import bearer, registration_body
from tests.support.databases import Databases
from tests.support.intake import ADMIN_TOKEN, IntakeApp, intake_app
from tests.support.kafka_reader import read_all

pytestmark = pytest.mark.integration

KEY_SECRET = "overlap-test-secret-0123456789abcdef"
MAX_ACCOUNTS = 12
# The vendor's side: open registrations (another partner's), a direct CRM opportunity, house
# accounts. Partner A's list shares three of them and holds two of its own.
SHARED = ("acme-overlap.com", "initech-overlap.com", "soylent-overlap.com")
VENDOR_ONLY = ("hooli-vendoronly.com", "umbrella-vendoronly.com", "wonka-vendoronly.com")
PARTNER_ONLY = ("alpha-partneronly.com", "beta-partneronly.io")


class _Tee(io.TextIOBase):
    """stderr as the services' loggers bind it at start: kept here as well as written on."""

    def __init__(self, original: Any) -> None:
        self.original = original
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines.append(text)
        return int(self.original.write(text))

    def flush(self) -> None:
        self.original.flush()


@dataclass
class World:
    intake: IntakeApp
    app: FastAPI
    resolver: httpx.AsyncClient
    kafka_bootstrap: str
    prefix: str
    ops_key: str
    partners: dict[str, dict[str, Any]]
    exchanged: list[str] = field(default_factory=list)  # every overlap response seen
    before: set[str] = field(default_factory=set)  # events on Kafka before any overlap call
    logs: _Tee = field(default_factory=lambda: _Tee(sys.stderr))
    logged_before: int = 0  # how many log writes the vendor's setup made

    async def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        token = ADMIN_TOKEN if who == "admin" else self.ops_key if who == "ops" else who
        answer = await self.resolver.request(method, path, headers=bearer(token), **kwargs)
        if path.startswith("/v1/overlap/"):
            self.exchanged.append(answer.text)
            self.exchanged.extend(f"{name}: {value}" for name, value in answer.headers.items())
        return answer

    def key_of(self, name: str) -> str:
        return str(self.partners[name]["api_key"])

    def id_of(self, name: str) -> str:
        return str(self.partners[name]["id"])


async def _until(check: Callable[[], Awaitable[bool]], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
async def world(kafka_bootstrap: str, databases: Databases) -> AsyncIterator[World]:
    prefix = f"t-overlap-{databases.kind}-{uuid.uuid4().hex[:6]}."
    async with AsyncExitStack() as stack:
        # The services log to stderr as they find it at start (structlog and logging alike).
        logs = _Tee(sys.stderr)
        stack.callback(setattr, sys, "stderr", sys.stderr)
        sys.stderr = logs
        intake = await stack.enter_async_context(
            intake_app(kafka_bootstrap=kafka_bootstrap, databases=databases, topic_prefix=prefix)
        )
        url = await stack.enter_async_context(databases.fresh())
        await asyncio.to_thread(upgrade, "conflict_resolver", url)
        app = create_resolver(
            ResolverSettings(
                log_json=False,
                database=DatabaseSettings(url=url),
                kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix),
                security=SecuritySettings(admin_token=SecretStr(ADMIN_TOKEN), env="test"),
                overlap=OverlapSettings(
                    key_secret=SecretStr(KEY_SECRET),
                    max_accounts=MAX_ACCOUNTS,
                    min_upload_interval_seconds=0,  # spacing has a test of its own
                ),
            )
        )
        await stack.enter_async_context(LifespanManager(app, startup_timeout=90))
        resolver = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://resolver")
        )
        partners = {
            name: await intake.new_partner(f"{name} Overlap Partners") for name in ("A", "B")
        }
        ops = (await intake.admin("POST", "/v1/ops-users", json={"name": "Sam Ortiz"})).json()
        subject = World(intake, app, resolver, kafka_bootstrap, prefix, ops["api_key"], partners)
        subject.logs = logs
        await _until(lambda: _keys_learnt(subject, *partners))
        await _vendor_accounts(subject)
        subject.before = {event.id for event in await _all_events(subject)}
        subject.exchanged.clear()
        subject.logged_before = len(logs.lines)
        yield subject


async def _keys_learnt(world: World, *names: str) -> bool:
    """The resolver knows the partners' keys (and the ops key) from dealreg.principals."""
    answers = [
        await world.resolver.get(
            "/v1/overlap/partners/" + world.id_of(name), headers=bearer(world.key_of(name))
        )
        for name in names
    ]
    ops_answer = await world.resolver.get("/v1/policy", headers=bearer(world.ops_key))
    return all(answer.status_code == 200 for answer in [*answers, ops_answer])


async def _all_events(world: World) -> list[Any]:
    events = []
    for topic in TOPICS:
        events.extend(await read_all(world.kafka_bootstrap, world.prefix + topic.name))
    return events


async def _vendor_accounts(world: World) -> None:
    """B's open registrations, a direct opportunity and the house accounts, as the resolver
    learns them (the vendor's side, before any overlap is exchanged)."""
    house = [
        {"name": "Initech", "domain": SHARED[1]},
        {"name": "Umbrella", "domain": VENDOR_ONLY[1]},
    ]
    assert (
        await world.call("ops", "PUT", "/v1/house-accounts", json={"accounts": house})
    ).is_success
    registered = []
    for domain in (SHARED[0], VENDOR_ONLY[0]):
        body = registration_body(name=domain.split("-")[0].title(), domain=domain)
        answer = await world.intake.register(world.key_of("B"), body)
        assert answer.status_code == 202, answer.text
        registered.append(answer.json()["id"])
    for number, domain in enumerate((SHARED[2], VENDOR_ONLY[2])):
        name = domain.split("-")[0].title()
        opened = DirectOpportunityOpened(
            crm_system="hubspot",
            opportunity_id=f"direct-overlap-{number}",
            account_key=account_key(name=name, domain=domain, country="US"),
            customer=CustomerData(name=name, domain=domain, country="US"),
            product_line="network-security",
            opened_at=datetime.now(UTC),
        )
        await world.intake.publish(opened, registration={"id": f"direct-overlap-{number}"})

    async def vendor_side_known() -> bool:
        shown = [
            (await world.intake.view(world.key_of("B"), reg))["status"] != "submitted"
            for reg in registered
        ]
        return all(shown) and await _direct_known(world)

    await _until(vendor_side_known)


async def _direct_known(world: World) -> bool:
    """Both direct opportunities are in the resolver's database."""
    state = world.app.state.service
    async with state.context.transactions.transaction() as session:
        counted = await session.execute(select(func.count()).select_from(direct_opportunities))
        return int(counted.scalar_one()) == 2


async def _issue_key(world: World, partner: str) -> dict[str, Any]:
    issued = await world.call("ops", "POST", f"/v1/overlap/partners/{world.id_of(partner)}/key")
    assert issued.status_code == 201, issued.text
    return dict(issued.json())


async def _upload(
    world: World, partner: str, key: dict[str, Any], domains: Iterable[str]
) -> httpx.Response:
    body = {"key_version": key["version"], "hashes": hash_account_list(key["key"], domains)}
    return await world.call(
        world.key_of(partner),
        "PUT",
        f"/v1/overlap/partners/{world.id_of(partner)}/accounts",
        json=body,
    )


async def _consent(world: World, who: str, partner: str, opted_in: bool) -> httpx.Response:
    answer = await world.call(
        who,
        "PUT",
        f"/v1/overlap/partners/{world.id_of(partner)}/consent",
        json={"opted_in": opted_in},
    )
    assert answer.status_code == 200, answer.text
    return answer


async def _report(world: World, who: str, partner: str) -> dict[str, Any]:
    answer = await world.call(who, "GET", f"/v1/overlap/partners/{world.id_of(partner)}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _counts(report: dict[str, Any]) -> tuple[int, int, int] | None:
    counts = report["counts"]
    if counts is None:
        return None
    return counts["partner_accounts"], counts["vendor_accounts"], counts["overlapping"]


async def test_both_sides_see_counts_and_the_overlap_only_after_both_opt_ins(
    world: World,
) -> None:
    a = world.key_of("A")
    path = f"/v1/overlap/partners/{world.id_of('A')}"
    assert (await world.call(a, "GET", path + "/key")).status_code == 404  # none issued yet
    key = await _issue_key(world, "A")
    assert (await world.call(a, "GET", path + "/key")).json() == key
    assert key["key"] == derive_partner_key(
        KEY_SECRET.encode(), partner_id=world.id_of("A"), version=key["version"]
    )
    # Two spellings of one account, and a free-mail address that is no account at all.
    listed = [*SHARED, *PARTNER_ONLY, "https://www." + SHARED[0] + "/about", "bob@gmail.com"]
    uploaded = await _upload(world, "A", key, listed)
    assert uploaded.status_code == 200, uploaded.text
    assert _counts(uploaded.json()) == (5, 6, 3)
    assert uploaded.json()["accounts"] is None
    for who in (a, "ops"):
        shown = await _report(world, who, "A")
        assert _counts(shown) == (5, 6, 3)
        assert shown["accounts"] is None

    assert (await _consent(world, a, "A", True)).json()["accounts"] is None
    assert (await _report(world, "ops", "A"))["accounts"] is None
    revealed = (await _consent(world, "ops", "A", True)).json()
    assert revealed["consent"]["revealed"] is True
    for who in (a, "ops"):
        accounts = (await _report(world, who, "A"))["accounts"]
        assert [account["domain"] for account in accounts] == sorted(SHARED)
        for account in accounts:
            assert account["hash"] == overlap_hash(key["key"], account["domain"])
            assert account["registration_seed"]["customer"]["domain"] == account["domain"]

    # A seed becomes a registration as it stands (the partner adds the deal's details).
    seed = accounts[0]["registration_seed"]
    body = {**registration_body(), "customer": {**seed["customer"], "country": "US"}}
    assert (await world.intake.register(a, body)).status_code == 202

    # Either side withdrawing hides the accounts again; the counts stay.
    hidden = (await _consent(world, a, "A", False)).json()
    assert hidden["accounts"] is None
    assert _counts(hidden) is not None


async def test_a_partner_never_reaches_another_partners_key_list_or_result(
    world: World,
) -> None:
    key_b = await _issue_key(world, "B")
    assert (await _upload(world, "B", key_b, [SHARED[0]])).status_code == 200
    for reader, other in (("A", "B"), ("B", "A")):
        token, path = world.key_of(reader), f"/v1/overlap/partners/{world.id_of(other)}"
        body = {"key_version": 1, "hashes": []}
        answers = [
            await world.call(token, "GET", path),
            await world.call(token, "GET", path + "/key"),
            await world.call(token, "POST", path + "/key"),
            await world.call(token, "PUT", path + "/accounts", json=body),
            await world.call(token, "PUT", path + "/consent", json={"opted_in": True}),
        ]
        assert [answer.status_code for answer in answers] == [404] * 5
        assert len({answer.text for answer in answers[:2]}) == 1  # as for no partner at all
        for answer in answers:
            assert world.id_of(other) not in answer.text
    unknown = f"/v1/overlap/partners/{uuid.uuid4()}"
    assert (await world.call("ops", "GET", unknown)).status_code == 404
    assert (await world.call(world.key_of("A"), "GET", unknown)).status_code == 404
    # Each side does only its own steps.
    own = f"/v1/overlap/partners/{world.id_of('B')}"
    assert (await world.call(world.key_of("B"), "POST", own + "/key")).status_code == 403
    ops_upload = {"key_version": key_b["version"], "hashes": []}
    assert (await world.call("ops", "PUT", own + "/accounts", json=ops_upload)).status_code == 403
    assert (await world.resolver.get(own)).status_code == 401


async def test_a_rotated_partner_key_works_here_and_stops_when_revoked(world: World) -> None:
    partner = world.id_of("B")
    issued = await world.intake.admin("POST", f"/v1/partners/{partner}/api-keys")
    assert issued.status_code == 201, issued.text
    second = issued.json()
    path = f"/v1/overlap/partners/{partner}"

    async def answers(status: int) -> bool:
        return (await world.call(second["api_key"], "GET", path)).status_code == status

    await _until(lambda: answers(200))
    revoked = await world.intake.admin("DELETE", f"/v1/api-keys/{second['id']}")
    assert revoked.status_code == 204
    await _until(lambda: answers(401))
    assert (await world.call(world.key_of("B"), "GET", path)).status_code == 200


async def test_a_suspended_partner_may_read_its_overlap_but_neither_upload_nor_opt_in(
    world: World,
) -> None:
    world.partners["C"] = await world.intake.new_partner("C Overlap Partners")
    await _until(lambda: _keys_learnt(world, "C"))
    key = await _issue_key(world, "C")
    assert (await _upload(world, "C", key, SHARED[:2])).status_code == 200
    suspended = await world.intake.admin(
        "PATCH", f"/v1/partners/{world.id_of('C')}", json={"status": "suspended"}
    )
    assert suspended.status_code == 200, suspended.text

    async def opt_in(opted_in: bool) -> httpx.Response:
        return await world.call(
            world.key_of("C"),
            "PUT",
            f"/v1/overlap/partners/{world.id_of('C')}/consent",
            json={"opted_in": opted_in},
        )

    async def writes_refused() -> bool:  # opting out again changes nothing while allowed
        return (await opt_in(False)).status_code == 403

    await _until(writes_refused)  # the resolver learns it from dealreg.principals
    refused = await _upload(world, "C", key, SHARED)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "suspended" in refused.json()["detail"]
    assert (await opt_in(True)).status_code == 403
    report = await _report(world, world.key_of("C"), "C")  # reading stays allowed
    assert _counts(report) == (2, 6, 2)
    assert report["consent"]["partner_opted_in_at"] is None
    reinstated = await world.intake.admin(
        "PATCH", f"/v1/partners/{world.id_of('C')}", json={"status": "active"}
    )
    assert reinstated.status_code == 200, reinstated.text

    async def upload_accepted() -> bool:
        return (await _upload(world, "C", key, SHARED)).status_code == 200

    await _until(upload_accepted)
    assert _counts(await _report(world, "ops", "C")) == (3, 6, 3)


async def test_a_bad_list_is_refused_naming_the_field_and_the_previous_one_stands(
    world: World,
) -> None:
    key = await _issue_key(world, "B")
    assert _counts((await _upload(world, "B", key, [*SHARED, *PARTNER_ONLY])).json()) == (5, 6, 3)
    good = hash_account_list(key["key"], SHARED)
    path = f"/v1/overlap/partners/{world.id_of('B')}/accounts"
    refused = {
        "hashes.1": {"key_version": key["version"], "hashes": [good[0], "acme.com"]},
        "hashes.2": {"key_version": key["version"], "hashes": [good[0], good[1], good[0]]},
        "hashes": {"key_version": key["version"], "hashes": [f"{n:064x}" for n in range(13)]},
        "key_version": {"key_version": key["version"] + 1, "hashes": good},
    }
    for named, body in refused.items():
        answer = await world.call(world.key_of("B"), "PUT", path, json=body)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert [error["field"] for error in answer.json()["errors"]] == [named]
        assert _counts(await _report(world, "ops", "B")) == (5, 6, 3)  # untouched
    missing = await world.call(world.key_of("B"), "PUT", path, json={"key_version": 1})
    assert missing.status_code == 422
    assert [error["field"] for error in missing.json()["errors"]] == ["hashes"]

    # A good list replaces the old one whole.
    assert _counts((await _upload(world, "B", key, [SHARED[2]])).json()) == (1, 6, 1)
    # A rotated key makes the list stale: nothing is counted until it is hashed again.
    rotated = await _issue_key(world, "B")
    assert rotated["version"] == key["version"] + 1
    assert rotated["key"] != key["key"]
    stale = await _report(world, world.key_of("B"), "B")
    assert stale["stale"] is True
    assert stale["counts"] is None
    assert _counts((await _upload(world, "B", rotated, [SHARED[2]])).json()) == (1, 6, 1)


async def test_concurrent_rotations_and_uploads_each_apply_whole(world: World) -> None:
    path = f"/v1/overlap/partners/{world.id_of('A')}"
    rotated = await asyncio.gather(*(world.call("ops", "POST", path + "/key") for _ in range(5)))
    assert [answer.status_code for answer in rotated] == [201] * 5
    versions = sorted(answer.json()["version"] for answer in rotated)
    assert versions == list(range(versions[0], versions[0] + 5))
    key = (await world.call(world.key_of("A"), "GET", path + "/key")).json()
    assert key["version"] == versions[-1]
    lists = [[*SHARED, *PARTNER_ONLY][:size] for size in range(1, 5)]
    uploads = await asyncio.gather(*(_upload(world, "A", key, listed) for listed in lists))
    assert [answer.status_code for answer in uploads] == [200] * 4
    final = await _report(world, "ops", "A")
    assert final["upload"]["accounts"] == final["counts"]["partner_accounts"]
    assert final["counts"]["partner_accounts"] in {1, 2, 3, 4}


async def test_a_second_list_within_the_interval_is_refused_and_the_first_stands(
    world: World,
) -> None:
    key = await _issue_key(world, "B")
    state = world.app.state.service
    spaced = replace(state.overlap, min_upload_interval=timedelta(hours=1))
    world.app.state.service = replace(state, overlap=spaced)
    try:
        assert (await _upload(world, "B", key, SHARED)).status_code == 200
        again = await _upload(world, "B", key, [SHARED[0]])
    finally:
        world.app.state.service = state
    assert again.status_code == 429, again.text
    assert again.headers["content-type"] == "application/problem+json"
    assert 3590 <= int(again.headers["retry-after"]) <= 3600
    assert _counts(await _report(world, "ops", "B")) == (3, 6, 3)


def _forms(domain: str, keys: Iterable[str]) -> set[str]:
    """Every way a domain could travel: plain, SHA-256, its keyed hash under each key."""
    forms = {domain, hashlib.sha256(domain.encode()).hexdigest()}
    forms |= {digest for key in keys if (digest := overlap_hash(key, domain)) is not None}
    return forms


async def test_no_domain_outside_the_overlap_can_be_recovered_from_anything_exchanged(
    world: World,
) -> None:
    # The whole exchange once more, under capture, for a partner with both kinds of accounts.
    key = await _issue_key(world, "A")
    assert (await _upload(world, "A", key, [*SHARED, *PARTNER_ONLY])).status_code == 200
    bad = {"key_version": key["version"], "hashes": ["not-a-hash", "x" * 64]}
    path = f"/v1/overlap/partners/{world.id_of('A')}"
    assert (await world.call(world.key_of("A"), "PUT", path + "/accounts", json=bad)).is_error
    await _consent(world, world.key_of("A"), "A", True)
    await _consent(world, "ops", "A", True)
    for who in (world.key_of("A"), "ops", "admin"):
        assert len((await _report(world, who, "A"))["accounts"]) == len(SHARED)
    await world.call(world.key_of("A"), "GET", path + "/key")

    keys = [
        derive_partner_key(KEY_SECRET.encode(), partner_id=world.id_of(name), version=version)
        for name in world.partners
        for version in range(1, 6)
    ]
    events = await _all_events(world)
    assert {event.id for event in events} >= world.before
    everything = [str(event.model_dump(mode="json")) for event in events]
    since = [str(e.model_dump(mode="json")) for e in events if e.id not in world.before]
    sources = {
        "responses": "\n".join(world.exchanged),
        "events on Kafka": "\n".join(everything),
        "logs": "".join(world.logs.lines),
    }
    assert world.exchanged
    assert world.logs.lines
    for domain in PARTNER_ONLY:  # the partner's: never leaves it, in any form
        for name, text in sources.items():
            found = [form for form in _forms(domain, keys) if form in text.lower()]
            assert found == [], (domain, name)
    for domain in VENDOR_ONLY:  # the vendor's: nothing exchanged about overlap names it
        exchanged = {
            **sources,
            "events on Kafka": "\n".join(since),
            "logs": "".join(world.logs.lines[world.logged_before :]),
        }
        for name, text in exchanged.items():
            found = [form for form in _forms(domain, keys) if form in text.lower()]
            assert found == [], (domain, name)
    for domain in SHARED:  # the overlap itself was shown (both opted in): the test can see
        assert overlap_hash(key["key"], domain) in sources["responses"]
