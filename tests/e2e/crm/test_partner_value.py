"""Attribution at closed-won and partners' outcome figures end to end (issue 16, parts 2-4):
the three services as processes, Kafka, and the CRM sandbox (HubSpot).

Partner A registers three deals (two approved, one below the minimum), partner B is put on
A's waitlist for Acme; Acme is closed-won in the sandbox with a new amount. The resolver
credits A by the policy's model (``DealAttributed``), and the figures each caller reads match
what is computed here by hand; a rebuild of the projection from the topics answers the same.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from deal_registration.adapters.tables import (
    analytics_credits,
    analytics_registrations,
    exchange_rates,
)
from deal_registration.handlers import analytics
from schemas.attribution import DealAttributed, ExchangeRatesPublished
from schemas.topics import CRM, DECISIONS, REGISTRATIONS
from services.db import create_engine, create_session_factory
from tests.e2e.crm.conftest import wire_hubspot
from tests.support.api import (
    bearer,
    create_partner,
    registration_body,
    wait_for_status,
    wait_for_view,
)
from tests.support.crm_events import EventTail, wait_until
from tests.support.crm_sandbox import CrmSandbox
from tests.support.kafka_reader import read_all
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e


def _register(client: httpx.Client, key: str, **body: Any) -> dict[str, Any]:
    currency = body.pop("currency", "USD")
    payload = registration_body(**body)
    payload["amount"]["currency"] = currency
    created = client.post("/v1/registrations", json=payload, headers=bearer(key))
    assert created.status_code == 202, created.text
    return wait_for_status(client, key, created.json()["id"])


def _figures(client: httpx.Client, token: str) -> dict[str, Any]:
    answer = client.get("/v1/analytics/partners", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _deal_of(sandbox: CrmSandbox, registration_id: str) -> dict[str, Any] | None:
    for deal in sandbox.control("GET", "/hubspot/deals"):
        if deal["properties"].get("dealreg_registration_id") == registration_id:
            return dict(deal)
    return None


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


async def test_a_closed_won_deal_credits_its_partner_and_each_caller_reads_its_figures(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    wire_hubspot(stack, sandbox, crm_sync_port)
    stack.start_all()
    admin = stack.admin_token
    # A new policy version: EUR at 1.10 and an even split (only the sourced partner is involved
    # today, so it is credited all of it).
    with httpx.Client(base_url=stack.url("conflict_resolver"), timeout=10) as resolver:
        draft = {"exchange_rates": {"EUR": "1.10"}, "attribution": {"model": "even_split"}}
        put = resolver.put("/v1/policy", json=draft, headers=bearer(admin))
        assert put.status_code == 200, put.text
    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as client:
        a = create_partner(client, admin, name="Alpha Networks")
        b = create_partner(client, admin, name="Beta Systems")
        a_key, b_key = a["api_key"], b["api_key"]
        acme = _register(client, a_key, name="Acme Corporation", domain="acme.com")
        globex = _register(
            client, a_key, name="Globex", domain="globex.com", amount="20000.00", currency="EUR"
        )
        small = _register(client, a_key, name="Initech", domain="initech.com", amount="1000.00")
        waiting = _register(
            client, b_key, name="Acme Corporation", domain="acme.com", amount="50000.00"
        )
        assert [acme["status"], globex["status"], small["status"]] == [
            "approved",
            "approved",
            "rejected",
        ]
        assert (waiting["status"], waiting["reason_code"]) == ("rejected", "ALREADY_REGISTERED")

        # The account view (ops): A holds Acme, B waits behind it.
        account = await wait_until(lambda: _account_if(client, admin, partners=2), timeout=30)
        assert [(p["partner_id"], p["role"]) for p in account["partners"]] == [
            (a["id"], "sourced"),
            (b["id"], "waitlist"),
        ]
        assert (
            client.get(
                "/v1/analytics/accounts", params={"name": "Acme"}, headers=bearer(a_key)
            ).status_code
            == 403
        )

        # The CRM link of each approved registration reaches its row through deal_registration's
        # own consumer, after the decision, and moves the row's change time: take the cursor
        # once it has, so that only the win comes after it.
        for approved in (acme, globex):
            linked = wait_for_view(
                client, a_key, approved["id"], lambda v: v.get("crm") is not None
            )
            assert linked.get("crm") is not None, linked

        # A's export before the win: three registrations; the cursor to send next time.
        first = await wait_until(
            lambda: _export_if(client, a_key, "registrations", rows=3), timeout=30
        )
        cursor = first.headers["X-Next-Updated-Since"]
        steps = await wait_until(lambda: _export_if(client, a_key, "history", rows=6), timeout=30)
        history_cursor = steps.headers["X-Next-Updated-Since"]  # 3 submitted, 3 decided
        assert {row["id"] for row in _lines(first.text)} == {acme["id"], globex["id"], small["id"]}

    deal = await wait_until(lambda: _deal_of(sandbox, acme["id"]), timeout=30)
    async with EventTail(stack.kafka_bootstrap, stack.topic_prefix + DECISIONS.name) as tail:
        sandbox.control(
            "POST",
            f"/hubspot/deals/{deal['id']}",
            json={"stage": "closedwon", "amount": "130000.00"},
        )
        credited = await tail.wait_for(
            lambda e: e.type == DealAttributed.event_type and e.subject == acme["id"], timeout=30
        )
    attributed = credited.data
    assert (attributed.model, str(attributed.amount.value), attributed.amount.currency) == (
        "even_split",
        "130000.00",
        "USD",
    )
    assert [(line.partner_id, line.role, str(line.amount.value)) for line in attributed.lines] == [
        (a["id"], "sourced", "130000.00")
    ]

    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as client:
        mine = await wait_until(lambda: _won_figures(client, a_key), timeout=30)
        # By hand: 3 registered, 2 approved of 3 decided, 1 won (none lost), 130,000 USD
        # sourced, Globex's 20,000 EUR still protected = 22,000 USD at the policy's 1.10.
        assert [p["partner_id"] for p in mine["partners"]] == [a["id"]]
        assert mine["tiers"] == []
        alpha = mine["partners"][0]
        assert (alpha["registrations"], alpha["approved"], alpha["decided"]) == (3, 2, 3)
        assert alpha["approval_rate"] == 0.6667
        assert (alpha["won"], alpha["lost"], alpha["win_rate"]) == (1, 0, 1.0)
        assert alpha["registration_to_won"] == 0.3333
        assert alpha["sourced_revenue"] == {
            "value": "130000.00",
            "currency": "USD",
            "unconverted": [],
        }
        assert alpha["influenced_revenue"]["value"] == "0.00"
        assert alpha["protected_pipeline"] == {
            "value": "22000.00",
            "currency": "USD",
            "unconverted": [],
        }
        assert alpha["first_win_at"] is not None

        theirs = _figures(client, b_key)
        assert [p["partner_id"] for p in theirs["partners"]] == [b["id"]]
        beta = theirs["partners"][0]
        assert (beta["registrations"], beta["approved"], beta["approval_rate"]) == (1, 0, 0.0)
        assert beta["sourced_revenue"]["value"] == "0.00"

        everyone = _figures(client, admin)
        assert {p["partner_id"] for p in everyone["partners"]} >= {a["id"], b["id"]}
        (gold,) = [t for t in everyone["tiers"] if t["tier"] == "gold"]
        assert (gold["registrations"], gold["approved"], gold["decided"]) == (4, 2, 4)
        assert gold["approval_rate"] == 0.5
        assert client.get("/v1/analytics/churn", headers=bearer(a_key)).status_code == 403
        assert client.get("/v1/analytics/churn", headers=bearer(admin)).status_code == 200

        # Only what changed since the cursor: Acme (won), not Globex or Initech.
        since = await wait_until(
            lambda: _export_if(client, a_key, "registrations", rows=1, updated_since=cursor),
            timeout=30,
        )
        (changed,) = _lines(since.text)
        assert (changed["id"], changed["status"]) == (acme["id"], "won")
        later = _lines(
            client.get(
                "/v1/export/history",
                params={"updated_since": history_cursor},
                headers=bearer(a_key),
            ).text
        )
        assert (acme["id"], "won") in {(step["registration_id"], step["status"]) for step in later}
        assert small["id"] not in {step["registration_id"] for step in later}
        as_csv = client.get(
            "/v1/export/attributions", headers={**bearer(a_key), "Accept": "text/csv"}
        )
        assert as_csv.headers["content-type"].startswith("text/csv")
        (credit,) = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert (credit["registration_id"], credit["amount_value"]) == (acme["id"], "130000.00")
        b_rows = _lines(client.get("/v1/export/registrations", headers=bearer(b_key)).text)
        assert [row["id"] for row in b_rows] == [waiting["id"]]
        assert client.get("/v1/export/registrations", headers=bearer(admin)).status_code == 403

        # A rebuild from the topics (in the reverse order of the topics, even) gives the same.
        before = {"ops": _figures(client, admin), "a": _figures(client, a_key)}
        await _rebuild(stack)
        after = {"ops": _figures(client, admin), "a": _figures(client, a_key)}
    for figures in (*before.values(), *after.values()):
        figures.pop("generated_at")
    assert after == before


def _account_if(client: httpx.Client, token: str, *, partners: int) -> dict[str, Any] | None:
    answer = client.get(
        "/v1/analytics/accounts",
        params={"name": "Acme Corporation", "domain": "acme.com", "country": "US"},
        headers=bearer(token),
    ).json()
    return dict(answer) if len(answer["partners"]) == partners else None


def _export_if(
    client: httpx.Client, key: str, dataset: str, *, rows: int, updated_since: str | None = None
) -> httpx.Response | None:
    params = {"format": "jsonl", **({"updated_since": updated_since} if updated_since else {})}
    answer = client.get(f"/v1/export/{dataset}", params=params, headers=bearer(key))
    assert answer.status_code == 200, answer.text
    return answer if len(_lines(answer.text)) == rows else None


def _won_figures(client: httpx.Client, key: str) -> dict[str, Any] | None:
    figures = _figures(client, key)
    alpha = figures["partners"][0]
    done = alpha["won"] == 1 and alpha["sourced_revenue"]["value"] != "0.00"
    return figures if done else None


class _Replayed:
    """What a projection handler reads of the event it is given."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.now = datetime.now(UTC)


async def _rebuild(stack: ServiceStack) -> None:
    """Empty the projection and fold every event on the topics into it again."""
    events = []
    for topic in (CRM, DECISIONS, REGISTRATIONS):
        events.extend(await read_all(stack.kafka_bootstrap, stack.topic_prefix + topic.name))
    engine = create_engine(stack.database_urls["deal_registration"])
    try:
        sessions = create_session_factory(engine)
        async with sessions() as session, session.begin():
            for table in (analytics_registrations, analytics_credits, exchange_rates):
                await session.execute(delete(table))
            replayed = _Replayed(session)
            for envelope in events:
                payload = envelope.data
                if isinstance(payload, DealAttributed):
                    await analytics.project_attribution(payload, replayed)  # type: ignore[arg-type]
                elif isinstance(payload, ExchangeRatesPublished):
                    await analytics.project_rates(payload, replayed)  # type: ignore[arg-type]
                elif isinstance(payload, analytics.Projected):
                    await analytics.project(payload, replayed)  # type: ignore[arg-type]
    finally:
        await engine.dispose()
