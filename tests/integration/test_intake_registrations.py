"""deal_registration's registration calls on SQLite and PostgreSQL (and Kafka for the outbox)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from deal_registration import handlers
from deal_registration.adapters.rate_limit import RateLimiter
from tests.support.api import bearer, registration_body
from tests.support.databases import Databases
from tests.support.intake import IntakeApp, in_days, intake_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def intake(kafka_bootstrap: str, databases: Databases) -> AsyncIterator[IntakeApp]:
    async with intake_app(
        kafka_bootstrap=kafka_bootstrap,
        databases=databases,
        topic_prefix=f"t-intake-reg-{databases.kind}.",
    ) as app:
        yield app


@pytest.fixture
async def partner(intake: IntakeApp) -> dict[str, Any]:
    return await intake.new_partner()


def body(**overrides: Any) -> dict[str, Any]:
    payload = registration_body()
    payload["expected_close_date"] = in_days(120)
    payload.update(overrides)
    return payload


async def test_a_registration_is_accepted_normalised_and_readable(
    intake: IntakeApp, partner: dict[str, Any]
) -> None:
    payload = body(
        customer={
            "name": " Acme Corporation ",
            "domain": "https://www.Acme.com/about",
            "country": "us",
        },
        amount={"value": "125000.5", "currency": "usd"},
        description="Firewall refresh\nfor 40 branch offices",
        partner_reference="OPP-2231",
    )
    created = await intake.register(partner["api_key"], payload)

    assert created.status_code == 202, created.text
    view = created.json()
    assert created.headers["location"] == f"/v1/registrations/{view['id']}"
    assert view["customer"] == {"name": "Acme Corporation", "domain": "acme.com", "country": "US"}
    assert view["amount"] == {"value": "125000.50", "currency": "USD"}
    assert view["status"] == "submitted"
    assert view["partner_id"] == partner["id"]
    assert await intake.view(partner["api_key"], view["id"]) == view
    history = await intake.client.get(
        f"/v1/registrations/{view['id']}/history", headers=bearer(partner["api_key"])
    )
    assert [entry["status"] for entry in history.json()["items"]] == ["submitted"]


async def test_every_bad_field_is_named(intake: IntakeApp, partner: dict[str, Any]) -> None:
    payload = {
        "customer": {"name": "", "domain": "not a domain", "country": "XX"},
        "product_line": "Network Security",
        "deal_type": "barter",
        "amount": {"value": "-5.123", "currency": "EURO"},
        "expected_close_date": "2020-01-01",
        "contact": {"name": "Dana", "email": "dana-at-acme"},
        "colour": "blue",
    }
    response = await intake.register(partner["api_key"], payload)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields >= {
        "customer.name",
        "customer.domain",
        "customer.country",
        "product_line",
        "deal_type",
        "amount.value",
        "amount.currency",
        "contact.email",
        "colour",
    }


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"expected_close_date": in_days(-1)}, "expected_close_date", "is in the past"),
        ({"expected_close_date": in_days(800)}, "expected_close_date", "more than 2 years"),
        ({"product_line": "cloud-storage"}, "product_line", "not a product line"),
        ({"amount": {"value": "1000.5", "currency": "JPY"}}, "amount.value", "whole amount"),
        ({"amount": {"value": "0", "currency": "USD"}}, "amount.value", "greater than 0"),
        ({"amount": {"value": "NaN", "currency": "USD"}}, "amount.value", ""),
        ({"customer": {"name": "A\x00B", "country": "US"}}, "customer.name", "control character"),
        ({"customer": {"name": "x" * 201, "country": "US"}}, "customer.name", "at most 200"),
        ({"customer": {"name": "Acme", "domain": "acme", "country": "US"}}, "customer.domain", ""),
        ({"description": "x" * 2001}, "description", "at most 2000"),
    ],
)
async def test_each_rule_names_its_field(
    intake: IntakeApp, partner: dict[str, Any], overrides: dict[str, Any], field: str, message: str
) -> None:
    response = await intake.register(partner["api_key"], body(**overrides))

    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [error["field"] for error in errors] == [field]
    assert message in errors[0]["message"]


async def test_an_e_mail_address_as_domain_is_normalised(
    intake: IntakeApp, partner: dict[str, Any]
) -> None:
    payload = body(customer={"name": "Acme", "domain": "it@eu.acme.co.uk", "country": "GB"})
    response = await intake.register(partner["api_key"], payload)
    assert response.status_code == 202, response.text
    assert response.json()["customer"]["domain"] == "acme.co.uk"


async def test_a_customer_known_only_by_free_mail_and_punctuation_is_refused(
    intake: IntakeApp, partner: dict[str, Any]
) -> None:
    payload = body(customer={"name": "!!!", "domain": "someone@gmail.com", "country": "US"})
    response = await intake.register(partner["api_key"], payload)
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {
            "field": "customer.name",
            "message": "needs a letter or digit when no company domain is given",
        }
    ]


async def test_transport_errors_are_problems(intake: IntakeApp, partner: dict[str, Any]) -> None:
    headers = {**bearer(partner["api_key"]), "content-type": "application/json"}
    malformed = await intake.client.post(
        "/v1/registrations", content=b'{"customer": ', headers=headers
    )
    too_big = await intake.client.post(
        "/v1/registrations", content=b'{"description": "' + b"x" * 70_000 + b'"}', headers=headers
    )
    wrong_type = await intake.client.post(
        "/v1/registrations",
        content=b"customer=acme",
        headers={**bearer(partner["api_key"]), "content-type": "application/x-www-form-urlencoded"},
    )
    no_token = await intake.client.post("/v1/registrations", json=body())
    bad_token = await intake.register("drk_nope", body())

    assert [r.status_code for r in (malformed, too_big, wrong_type, no_token, bad_token)] == [
        400,
        413,
        415,
        401,
        401,
    ]
    for response in (malformed, too_big, wrong_type, no_token, bad_token):
        assert response.headers["content-type"] == "application/problem+json"
        assert "Traceback" not in response.text


async def test_listing_filters_and_pages(intake: IntakeApp) -> None:
    partner = await intake.new_partner("Paging Partner")
    ids = []
    for index in range(5):
        line = "cloud-backup" if index % 2 else "network-security"
        created = await intake.register(
            partner["api_key"],
            body(customer={"name": f"Customer {index}", "country": "DE"}, product_line=line),
        )
        ids.append(created.json()["id"])

    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await intake.client.get(
            "/v1/registrations", params=params, headers=bearer(partner["api_key"])
        )
        assert page.status_code == 200
        seen += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ids

    backups = await intake.client.get(
        "/v1/registrations",
        params={"product_line": "cloud-backup", "status": "submitted"},
        headers=bearer(partner["api_key"]),
    )
    assert [item["id"] for item in backups.json()["items"]] == [ids[1], ids[3]]
    bad = await intake.client.get(
        "/v1/registrations",
        params={"status": "bogus", "cursor": "x"},
        headers=bearer(partner["api_key"]),
    )
    assert bad.status_code == 422
    assert {error["field"] for error in bad.json()["errors"]} == {"query.status"}


async def test_withdraw_frees_and_emits_and_cannot_repeat(
    intake: IntakeApp, partner: dict[str, Any]
) -> None:
    created = (await intake.register(partner["api_key"], body())).json()
    url = f"/v1/registrations/{created['id']}/withdraw"

    first = await intake.client.post(url, headers=bearer(partner["api_key"]))
    again = await intake.client.post(url, headers=bearer(partner["api_key"]))

    assert first.status_code == 202
    assert first.json()["status"] == "withdrawn"
    assert first.json()["reason_code"] == "WITHDRAWN"
    assert again.status_code == 409
    assert "cannot be withdrawn" in again.json()["detail"]
    outbox = await _outbox_types(intake, created["id"])
    assert outbox == ["dealreg.registration.submitted", "dealreg.registration.withdrawn"]


async def test_extension_needs_an_approved_registration(
    intake: IntakeApp, partner: dict[str, Any]
) -> None:
    created = (await intake.register(partner["api_key"], body())).json()
    response = await intake.client.post(
        f"/v1/registrations/{created['id']}/extension", headers=bearer(partner["api_key"])
    )
    assert response.status_code == 409
    assert "Only an approved registration" in response.json()["detail"]


async def test_a_suspended_partner_reads_but_may_not_write(intake: IntakeApp) -> None:
    partner = await intake.new_partner("Suspended Partner")
    created = (await intake.register(partner["api_key"], body())).json()
    suspend = await intake.admin(
        "PATCH", f"/v1/partners/{partner['id']}", json={"status": "suspended"}
    )
    assert suspend.status_code == 200

    key = partner["api_key"]
    assert (await intake.register(key, body())).status_code == 403
    withdraw = await intake.client.post(
        f"/v1/registrations/{created['id']}/withdraw", headers=bearer(key)
    )
    assert withdraw.status_code == 403
    put_hook = await intake.client.put(
        "/v1/webhook", json={"url": "https://example.com/h"}, headers=bearer(key)
    )
    assert put_hook.status_code == 403
    assert (
        await intake.client.get(f"/v1/registrations/{created['id']}", headers=bearer(key))
    ).status_code == 200


async def test_ops_users_read_everything_and_write_nothing(
    intake: IntakeApp, partner: dict[str, Any]
) -> None:
    created = (await intake.register(partner["api_key"], body())).json()
    ops = (await intake.admin("POST", "/v1/ops-users", json={"name": "Sam Ortiz"})).json()
    key = ops["api_key"]

    assert (await intake.view(key, created["id"]))["id"] == created["id"]
    listed = await intake.client.get(
        "/v1/registrations", params={"partner_id": partner["id"]}, headers=bearer(key)
    )
    assert [item["id"] for item in listed.json()["items"]] == [created["id"]]
    assert (await intake.register(key, body())).status_code == 403
    for action in ("withdraw", "extension"):
        response = await intake.client.post(
            f"/v1/registrations/{created['id']}/{action}", headers=bearer(key)
        )
        assert response.status_code == 403
    assert (
        await intake.client.post("/v1/partners", json={}, headers=bearer(key))
    ).status_code == 403


async def test_keys_are_shown_once_rotated_and_revoked_at_once(intake: IntakeApp) -> None:
    partner = await intake.new_partner("Rotating Partner")
    old_key = partner["api_key"]
    assert old_key.startswith("drk_")
    assert len(old_key) >= 4 + 43

    issued = await intake.admin("POST", f"/v1/partners/{partner['id']}/api-keys")
    assert issued.status_code == 201
    new_key = issued.json()["api_key"]
    revoked = await intake.admin("DELETE", f"/v1/api-keys/{partner['api_key_id']}")
    assert revoked.status_code == 204

    assert (
        await intake.client.get("/v1/registrations", headers=bearer(old_key))
    ).status_code == 401
    assert (
        await intake.client.get("/v1/registrations", headers=bearer(new_key))
    ).status_code == 200
    keys = (await intake.admin("GET", f"/v1/partners/{partner['id']}/api-keys")).json()["items"]
    assert {key["id"]: key["revoked_at"] is not None for key in keys} == {
        partner["api_key_id"]: True,
        issued.json()["id"]: False,
    }
    assert all("api_key" not in key for key in keys)
    assert (await intake.admin("DELETE", "/v1/api-keys/not-a-key")).status_code == 404


async def test_the_rate_limit_answers_429_with_retry_after(
    intake: IntakeApp, partner: dict[str, Any]
) -> None:
    original = intake.app.state.service
    intake.app.state.service = dataclasses.replace(
        original, rate_limiter=RateLimiter(rate=1, burst=3)
    )
    try:
        codes = [
            (
                await intake.client.get("/v1/registrations", headers=bearer(partner["api_key"]))
            ).status_code
            for _ in range(5)
        ]
        limited = await intake.client.get("/v1/registrations", headers=bearer(partner["api_key"]))
        other = await intake.new_partner("Unthrottled")
        other_code = (
            await intake.client.get("/v1/registrations", headers=bearer(other["api_key"]))
        ).status_code
    finally:
        intake.app.state.service = original

    assert codes == [200, 200, 200, 429, 429]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["content-type"] == "application/problem+json"
    assert other_code == 200


async def _outbox_types(intake: IntakeApp, registration_id: str) -> list[str]:
    from sqlalchemy import select

    from deal_registration.adapters.tables import outbox

    async with intake.ctx.transactions.transaction() as session:
        rows = (
            await session.execute(
                select(outbox.c.event_type)
                .where(outbox.c.envelope["subject"].as_string() == registration_id)
                .order_by(outbox.c.id)
            )
        ).all()
    return [row.event_type for row in rows]


async def test_a_submission_reads_its_key_and_partner_in_one_statement(
    intake: IntakeApp, partner: dict[str, Any]
) -> None:
    """The key lookup, the check that the partner may write (before the body is read) and the
    submission share one read of the partner, joined to the key: the write hot path reads
    neither twice."""
    engine = intake.ctx.transactions.session_factory.kw["bind"].sync_engine
    reads: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if "api_keys" in statement or "FROM partners" in statement:
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        created = await intake.register(partner["api_key"], body())
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    assert created.status_code == 202, created.text
    assert len(reads) == 1, reads
    assert "JOIN partners" in reads[0], reads[0]


async def test_a_submission_reads_its_key_in_its_write_transaction_on_postgresql(
    intake: IntakeApp, partner: dict[str, Any]
) -> None:
    """On PostgreSQL one transaction per submission: the key (with its partner) is read in the
    transaction that stores the registration, not in one of its own before it. On SQLite,
    whose writers take turns, it is read before, outside the turn (see
    ``test_a_key_is_read_without_waiting_for_a_writer``)."""
    engine = intake.ctx.transactions.session_factory.kw["bind"].sync_engine
    transactions: dict[str, Any] = {}

    def seen(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        for table in ("api_keys", "INSERT INTO registrations"):
            if table in statement:
                transactions[table] = conn.get_transaction()

    event.listen(engine, "before_cursor_execute", seen)
    try:
        created = await intake.register(partner["api_key"], body())
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    assert created.status_code == 202, created.text
    one_transaction = transactions["api_keys"] is transactions["INSERT INTO registrations"]
    assert one_transaction is intake.database_url.startswith("postgresql")


async def test_no_202_when_the_submission_does_not_commit(
    intake: IntakeApp, partner: dict[str, Any]
) -> None:
    """The transaction commits before the answer is sent: a commit that fails answers a
    problem, never 202, and stores nothing."""
    engine = intake.ctx.transactions.session_factory.kw["bind"].sync_engine

    def mark(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.startswith("INSERT INTO registrations"):
            conn.info["registering"] = True

    def fail(conn: Any) -> None:
        if conn.info.pop("registering", False):
            raise OperationalError("COMMIT", None, ConnectionResetError("the disk went away"))

    event.listen(engine, "before_cursor_execute", mark)
    event.listen(engine, "commit", fail)
    try:
        refused = await intake.register(partner["api_key"], body())
    finally:
        event.remove(engine, "before_cursor_execute", mark)
        event.remove(engine, "commit", fail)

    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    listed = await intake.client.get("/v1/registrations", headers=bearer(partner["api_key"]))
    assert listed.json()["items"] == []


async def test_a_key_is_read_without_waiting_for_a_writer(
    intake: IntakeApp, partner: dict[str, Any]
) -> None:
    """Authentication reads outside any write transaction: on SQLite it does not queue for the
    write lock (BEGIN IMMEDIATE would wait behind every write in flight, up to the busy
    timeout); on PostgreSQL it sends no BEGIN / COMMIT (each statement is its own transaction,
    so two statements see two clocks)."""
    ctx = intake.ctx
    if intake.database_url.startswith("sqlite"):
        async with ctx.transactions.transaction() as writer:
            await writer.execute(text("UPDATE partners SET name = name WHERE id = 'none'"))
            # The write lock is held until this block ends: a read that queued for it would
            # wait out the whole busy timeout (10 s) and fail. The bound stays under it with
            # room for a loaded machine (2 s was a speed goal).
            principal = await asyncio.wait_for(
                handlers.authenticate(ctx, partner["api_key"]), timeout=8
            )
    else:
        principal = await handlers.authenticate(ctx, partner["api_key"])
        async with ctx.transactions.reading() as session:
            first = (await session.execute(text("SELECT now()"))).scalar_one()
            await session.execute(text("SELECT pg_sleep(0.02)"))
            second = (await session.execute(text("SELECT now()"))).scalar_one()
        assert second > first
    assert principal.partner_id == partner["id"]
