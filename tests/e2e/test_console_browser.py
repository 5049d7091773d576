"""The sales-ops console in a real browser (Debian's Chromium driven by Playwright).

Sign in with an ops key, see a conflict appear live, compare the claims, decide, and see the
partner's registration change through deal_registration's API.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select, update

from conflict_resolver.adapters.conflicts import open_case
from conflict_resolver.adapters.tables import claims, protections
from services.db import create_engine, create_session_factory
from services.uow import TransactionRunner
from tests.support.api import bearer, create_partner, registration_body, wait_for_status
from tests.support.conflicts import evidence
from tests.support.infra import ROOT, require
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e
T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class SeededConflict:
    registration_id: str  # the registration under review (partner B's)
    partner_key: str  # partner B's API key, to read its status back
    competitor_id: str
    case_id: str
    opened_at: float  # time.monotonic() when the case was committed


def grant_console_key(stack: ServiceStack, client: httpx.Client) -> str:
    """An ops key issued by deal_registration, once the resolver has learnt it from Kafka."""
    created = client.post(
        "/v1/ops-users", json={"name": "Olivia Ops"}, headers=bearer(stack.admin_token)
    )
    assert created.status_code == 201, created.text
    api_key = str(created.json()["api_key"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        probe = httpx.get(f"{stack.url('conflict_resolver')}/v1/conflicts", headers=bearer(api_key))
        if probe.status_code == 200:
            return api_key
        time.sleep(0.1)
    raise AssertionError("the resolver never accepted the ops key deal_registration issued")


def seed_conflict(stack: ServiceStack, client: httpx.Client) -> SeededConflict:
    """Two real registrations for the same customer, and a case for the second.

    Partner A registers Acme (approved); partner B registers "ACME Corp." (rejected, waitlisted).
    A's window is then made to have ended and B's claim is sent to review with a case, as the
    rules will once they open cases themselves. At merge this becomes: post two registrations
    whose customers are fuzzy duplicates and wait for POSSIBLE_DUPLICATE.
    """
    partner_a = create_partner(client, stack.admin_token, name="Northwind Networks")
    partner_b = create_partner(client, stack.admin_token, name="Contoso Secure")
    first = client.post(
        "/v1/registrations", json=registration_body(), headers=bearer(partner_a["api_key"])
    )
    assert wait_for_status(client, partner_a["api_key"], first.json()["id"])["status"] == "approved"
    second = client.post(
        "/v1/registrations",
        json=registration_body(name="ACME Corp.", domain="sales.acme.com", amount="180000.00"),
        headers=bearer(partner_b["api_key"]),
    )
    assert (
        wait_for_status(client, partner_b["api_key"], second.json()["id"])["status"] == "rejected"
    )
    competitor, subject = first.json()["id"], second.json()["id"]
    case_id = _run(_open_case_for(stack, subject, competitor, partner_a["id"]))
    return SeededConflict(subject, partner_b["api_key"], competitor, case_id, time.monotonic())


async def _open_case_for(
    stack: ServiceStack, subject: str, competitor: str, competitor_partner: str
) -> str:
    now = datetime.now(UTC)
    async with _resolver_db(stack) as transactions, transactions.transaction() as session:
        await session.execute(
            update(protections)
            .where(protections.c.registration_id == competitor)
            .values(expires_at=now - timedelta(seconds=1))
        )
        await session.execute(
            update(claims)
            .where(claims.c.registration_id == subject)
            .values(status="pending_review", reason_code="POSSIBLE_DUPLICATE")
        )
        account_key = (
            await session.execute(
                select(claims.c.account_key).where(claims.c.registration_id == subject)
            )
        ).scalar_one()
        case_id = await open_case(
            session,
            registration_id=subject,
            account_key=account_key,
            product_line="network-security",
            rule="possible_duplicate",
            reason_code="POSSIBLE_DUPLICATE",
            evidence=evidence(competitor, partner_id=competitor_partner),
            competing_registration_ids=[competitor],
            opened_at=now,
            due_at=now + timedelta(hours=48),
        )
    return case_id


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run database seeding on a thread of its own (Playwright's sync API owns this one's loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class _resolver_db:
    def __init__(self, stack: ServiceStack) -> None:
        self._engine = create_engine(stack.database_urls["conflict_resolver"])

    async def __aenter__(self) -> TransactionRunner:
        return TransactionRunner(create_session_factory(self._engine), None)

    async def __aexit__(self, *_exc: object) -> None:
        await self._engine.dispose()


def test_ops_see_a_conflict_live_compare_the_claims_and_decide(stack: ServiceStack) -> None:
    require(Path(CHROMIUM).exists(), "Chromium (/usr/bin/chromium)")
    from playwright.sync_api import expect, sync_playwright

    stack.start_all()
    console = f"{stack.url('conflict_resolver')}/console"
    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as client:
        ops_key = grant_console_key(stack, client)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(console)
            page.fill("#key", ops_key)
            page.keyboard.press("Enter")
            expect(page.locator("#live")).to_have_text("live", timeout=10_000)

            seeded = seed_conflict(stack, client)
            row = page.locator(f'#cases li[data-id="{seeded.case_id}"]')
            row.wait_for(timeout=5_000)
            appeared_after = time.monotonic() - seeded.opened_at
            assert appeared_after < 1.5, f"appeared {appeared_after:.2f}s after the case opened"

            page.keyboard.press("j")
            page.keyboard.press("Enter")
            table = page.locator("table.claims")
            expect(table.locator("thead th")).to_have_count(3)
            expect(table.locator("thead")).to_contain_text("Northwind Networks")
            expect(table.locator("thead")).to_contain_text("Contoso Secure")
            expect(table.locator("tr.match")).to_have_count(2)  # customer name and country
            expect(table).to_contain_text("86%")
            expect(page.locator("#countdown")).to_contain_text("SLA: due in 47h")
            _save_screenshot(page.screenshot(full_page=True))

            page.check(f'input[name="approve"][value="{seeded.registration_id}"]')
            page.keyboard.press("r")
            page.keyboard.type("Northwind's window ended; Contoso's deal is real.")
            page.click('#decide button[type="submit"]')
            expect(row).to_have_count(0, timeout=5_000)
            expect(page.locator("#case")).to_contain_text("Decided by Olivia Ops")
            browser.close()

        view: dict[str, Any] = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            view = client.get(
                f"/v1/registrations/{seeded.registration_id}", headers=bearer(seeded.partner_key)
            ).json()
            if view["status"] == "approved":
                break
            time.sleep(0.1)
        assert view["status"] == "approved"
        assert view["protection_expires_at"] is not None


def _save_screenshot(png: bytes) -> None:
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "console-case.png").write_bytes(png)
