"""The sales-ops console in a real browser (Debian's Chromium driven by Playwright).

Sign in with an ops key, see a conflict appear live, compare the claims, decide, and see the
partner's registration change through deal_registration's API.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from schemas.accounts import account_key
from schemas.crm import DirectOpportunityOpened
from schemas.registration import CustomerData
from schemas.topics import CRM, REGISTRATIONS
from tests.support.api import bearer, create_partner, registration_body, wait_for_status
from tests.support.crm_events import publish
from tests.support.databases import only_on
from tests.support.infra import ROOT, require
from tests.support.resolver import envelope_of, submitted
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


def grant_console_key(stack: ServiceStack, client: httpx.Client) -> str:
    """An ops key issued by deal_registration, once the resolver has learnt it from Kafka."""
    created = client.post(
        "/v1/ops-users", json={"name": "Olivia Ops"}, headers=bearer(stack.admin_token)
    )
    assert created.status_code == 201, created.text
    api_key = str(created.json()["api_key"])
    deadline = time.monotonic() + 30  # a bound on a loaded machine, not a speed goal
    while time.monotonic() < deadline:
        probe = httpx.get(f"{stack.url('conflict_resolver')}/v1/conflicts", headers=bearer(api_key))
        if probe.status_code == 200:
            return api_key
        time.sleep(0.1)
    raise AssertionError("the resolver never accepted the ops key deal_registration issued")


def post_conflicting_registrations(
    stack: ServiceStack, client: httpx.Client, ops_key: str
) -> SeededConflict:
    """Two partners register what may be one company: the rules send the second to review.

    Partner A registers Acme Corporation (acme.com) and is approved; partner B registers
    "Acme Networks" with no domain, which resembles A's customer without being it beyond doubt
    (similarity in the review band): POSSIBLE_DUPLICATE, and a case opens.
    """
    partner_a = create_partner(client, stack.admin_token, name="Northwind Networks")
    partner_b = create_partner(client, stack.admin_token, name="Contoso Secure")
    first = client.post(
        "/v1/registrations", json=registration_body(), headers=bearer(partner_a["api_key"])
    )
    assert wait_for_status(client, partner_a["api_key"], first.json()["id"])["status"] == "approved"
    second = client.post(
        "/v1/registrations",
        json=registration_body(name="Acme Networks", domain=None, amount="180000.00"),
        headers=bearer(partner_b["api_key"]),
    )
    assert second.status_code == 202, second.text
    subject = second.json()["id"]
    view = wait_for_status(client, partner_b["api_key"], subject)
    assert (view["status"], view["reason_code"]) == ("pending_review", "POSSIBLE_DUPLICATE")
    cases = httpx.get(
        f"{stack.url('conflict_resolver')}/v1/conflicts?state=open", headers=bearer(ops_key)
    ).json()["items"]
    (case,) = [case for case in cases if case["registration_id"] == subject]
    return SeededConflict(subject, partner_b["api_key"], first.json()["id"], case["id"])


# SQLite only (a browser run is slow): the console as `make run` shows it; the queue's
# storage runs on both databases in tests/integration/test_conflict_queue.py.
@only_on("sqlite")
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

            seeded = post_conflicting_registrations(stack, client, ops_key)
            # The case arrives over the live stream, without a reload (how fast is a
            # benchmark's business, not a test's: this machine may be busy).
            row = page.locator(f'#cases li[data-id="{seeded.case_id}"]')
            row.wait_for(timeout=30_000)

            page.keyboard.press("j")
            page.keyboard.press("Enter")
            table = page.locator("table.claims")
            expect(table.locator("thead th")).to_have_count(3)
            expect(table.locator("thead")).to_contain_text("Northwind Networks")
            expect(table.locator("thead")).to_contain_text("Contoso Secure")
            expect(table.locator("tr.match").first).to_be_visible()  # matched fields highlighted
            expect(table).to_contain_text("86%")
            expect(page.locator("#countdown")).to_contain_text("SLA: due in 47h")
            _save_screenshot(page.screenshot(full_page=True))

            page.check(f'input[name="approve"][value="{seeded.registration_id}"]')
            page.keyboard.press("r")
            page.keyboard.type("Acme Networks is a separate company from Acme Corporation.")
            page.click('#decide button[type="submit"]')
            expect(row).to_have_count(0, timeout=5_000)
            expect(page.locator("#case")).to_contain_text("Decided by Olivia Ops")
            browser.close()

        view: dict[str, Any] = {}
        deadline = time.monotonic() + 30  # a bound on a loaded machine, not a speed goal
        while time.monotonic() < deadline:
            view = client.get(
                f"/v1/registrations/{seeded.registration_id}", headers=bearer(seeded.partner_key)
            ).json()
            if view["status"] == "approved":
                break
            time.sleep(0.1)
        assert view["status"] == "approved"
        assert view["protection_expires_at"] is not None


# SQLite only, as above: a direct deal (as crm_sync reports it) on a protected account.
@only_on("sqlite")
def test_ops_see_a_direct_encroachment_and_resolve_it(stack: ServiceStack) -> None:
    require(Path(CHROMIUM).exists(), "Chromium (/usr/bin/chromium)")
    from playwright.sync_api import expect, sync_playwright

    stack.start_all()
    console = f"{stack.url('conflict_resolver')}/console"
    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as client:
        ops_key = grant_console_key(stack, client)
        partner = create_partner(client, stack.admin_token, name="Northwind Networks")
        held = client.post(
            "/v1/registrations",
            json=registration_body(domain=None),
            headers=bearer(partner["api_key"]),
        )
        assert wait_for_status(client, partner["api_key"], held.json()["id"])["status"] == (
            "approved"
        )
        opened = DirectOpportunityOpened(
            crm_system="hubspot",
            opportunity_id="9001",
            account_key=account_key(name="ACME Inc", domain=None, country="US"),
            customer=CustomerData(name="ACME Inc", domain=None, country="US"),
            product_line="*",
            opened_at=datetime.now(UTC),
        )
        envelope = envelope_of(opened, key=opened.account_key, subject="9001")
        asyncio.run(publish(stack.kafka_bootstrap, stack.topic_prefix, CRM.name, [envelope]))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(console)
            page.fill("#key", ops_key)
            page.keyboard.press("Enter")
            row = page.locator("#cases li", has_text="DIRECT_ENCROACHMENT")
            row.wait_for(timeout=30_000)
            row.click()
            case = page.locator("#case")
            expect(case).to_contain_text("direct encroachment")
            expect(case).to_contain_text("Direct sales' deal: ACME Inc")
            expect(case).to_contain_text("none named (every line)")
            expect(case.locator("thead")).to_contain_text("Northwind Networks")
            page.check('input[name="resolution"][value="partner_keeps"]')
            page.fill("#reason", "Northwind registered the account before sales opened the deal.")
            page.click('#decide button[type="submit"]')
            expect(case).to_contain_text("Resolution: partner keeps", timeout=5_000)
            browser.close()
        history = client.get(
            f"/v1/registrations/{held.json()['id']}/history", headers=bearer(partner["api_key"])
        ).json()["items"]
        codes = [entry["reason_code"] for entry in history]
        deadline = time.monotonic() + 30  # a bound on a loaded machine, not a speed goal
        while "DIRECT_ENCROACHMENT_RESOLVED" not in codes and time.monotonic() < deadline:
            time.sleep(0.2)
            history = client.get(
                f"/v1/registrations/{held.json()['id']}/history",
                headers=bearer(partner["api_key"]),
            ).json()["items"]
            codes = [entry["reason_code"] for entry in history]
        assert "DIRECT_ENCROACHMENT" in codes
        assert "DIRECT_ENCROACHMENT_RESOLVED" in codes


def _save_screenshot(png: bytes) -> None:
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "console-case.png").write_bytes(png)


# --- Reviewers' answers: coded rejection, return for edit, protection transfer --------------


@contextmanager
def console_page(stack: ServiceStack, ops_key: str) -> Iterator[tuple[Any, list[str]]]:
    """A signed-in console page and the errors its console and scripts report."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{stack.url('conflict_resolver')}/console")
        page.fill("#key", ops_key)
        page.keyboard.press("Enter")
        expect(page.locator("#live")).to_have_text("live", timeout=10_000)
        yield page, errors
        browser.close()


def open_case_by_keyboard(page: Any, case_id: str) -> None:
    row = page.locator(f'#cases li[data-id="{case_id}"]')
    row.wait_for(timeout=30_000)
    page.locator("#cases").focus()
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.locator("#case table.claims").wait_for()


def partner_view(
    client: httpx.Client, partner_key: str, registration_id: str, status: str
) -> dict[str, Any]:
    view: dict[str, Any] = {}
    deadline = time.monotonic() + 30  # a bound on a loaded machine, not a speed goal
    while time.monotonic() < deadline:
        view = client.get(
            f"/v1/registrations/{registration_id}", headers=bearer(partner_key)
        ).json()
        if view["status"] == status:
            break
        time.sleep(0.1)
    return view


@only_on("sqlite")
def test_ops_reject_with_a_published_reason_code_the_partner_reads(stack: ServiceStack) -> None:
    require(Path(CHROMIUM).exists(), "Chromium (/usr/bin/chromium)")
    from playwright.sync_api import expect

    stack.start_all()
    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as client:
        ops_key = grant_console_key(stack, client)
        seeded = post_conflicting_registrations(stack, client, ops_key)
        with console_page(stack, ops_key) as (page, errors):
            open_case_by_keyboard(page, seeded.case_id)
            code = page.get_by_label("Reason code for the partner")
            expect(code).to_be_disabled()  # only a rejection carries a code
            page.get_by_label("Approve none (reject)").check()
            expect(code).to_be_enabled()
            code.focus()
            code.select_option("INSUFFICIENT_DETAILS")
            expect(page.locator("#reason-sentence")).to_contain_text(
                "the customer or opportunity details are incomplete"
            )
            page.keyboard.press("Escape")  # leave the select, so that `r` is a shortcut again
            page.keyboard.press("r")
            page.keyboard.type("No contact and no domain; nothing to verify.")
            page.locator('#decide button[type="submit"]').focus()
            page.keyboard.press("Enter")
            expect(page.locator("#case")).to_contain_text("Decided by Olivia Ops", timeout=5_000)
            expect(page.locator("#case")).to_contain_text("INSUFFICIENT_DETAILS")
            view = partner_view(client, seeded.partner_key, seeded.registration_id, "rejected")
            assert (view["status"], view["reason_code"]) == ("rejected", "INSUFFICIENT_DETAILS")

            # The partner appeals: the case reopens, live, labelled as an appeal.
            appealed = client.post(
                f"/v1/registrations/{seeded.registration_id}/appeal",
                json={"note": "The customer's domain is acme-networks.example."},
                headers=bearer(seeded.partner_key),
            )
            assert appealed.status_code == 202, appealed.text
            case = page.locator("#case")
            expect(case.locator(".kind")).to_contain_text("Appeal", timeout=30_000)
            expect(case).to_contain_text("appealed by")
            expect(case.locator("#decide")).to_be_visible()
            assert errors == []


@only_on("sqlite")
def test_ops_return_a_case_for_edit_with_chosen_fields(stack: ServiceStack) -> None:
    require(Path(CHROMIUM).exists(), "Chromium (/usr/bin/chromium)")
    from playwright.sync_api import expect

    stack.start_all()
    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as client:
        ops_key = grant_console_key(stack, client)
        seeded = post_conflicting_registrations(stack, client, ops_key)
        with console_page(stack, ops_key) as (page, errors):
            open_case_by_keyboard(page, seeded.case_id)
            # A similar customer, not the same one: its holder's protection cannot move here.
            expect(page.locator("#transfer")).to_have_count(0)
            returning = page.locator("#return")
            returning.get_by_label("customer.domain").focus()
            page.keyboard.press("Space")
            returning.get_by_label("contact").check()
            returning.get_by_label("Comments for the partner").fill(
                "Please give the customer's web domain and a contact."
            )
            returning.get_by_role("button", name="Return for edit").focus()
            page.keyboard.press("Enter")
            case = page.locator("#case")
            expect(case).to_contain_text("returned by", timeout=5_000)
            expect(case).to_contain_text("customer.domain, contact")
            assert errors == []
        view = partner_view(client, seeded.partner_key, seeded.registration_id, "action_required")
        assert view["status"] == "action_required"
        assert view["editable_fields"] == ["customer.domain", "contact"]


@only_on("sqlite")
def test_ops_transfer_a_protection_from_the_console(stack: ServiceStack) -> None:
    """A later registration was decided first (a cross-partition race) and holds protection;
    the earlier one waits in review (FIRST_TO_REGISTER_CONFLICT). Ops move the protection."""
    require(Path(CHROMIUM).exists(), "Chromium (/usr/bin/chromium)")
    from playwright.sync_api import expect

    stack.start_all()
    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as client:
        ops_key = grant_console_key(stack, client)
        earlier = submitted(partner="p1", name="Acme Inc", domain=None, seq=900_003)
        later = submitted(partner="p2", seq=900_005)
        asyncio.run(publish(stack.kafka_bootstrap, stack.topic_prefix, REGISTRATIONS.name, [later]))
        asyncio.run(
            publish(stack.kafka_bootstrap, stack.topic_prefix, REGISTRATIONS.name, [earlier])
        )
        with console_page(stack, ops_key) as (page, errors):
            row = page.locator("#cases li", has_text="FIRST_TO_REGISTER_CONFLICT")
            row.wait_for(timeout=30_000)
            row.click()
            case = page.locator("#case")
            expect(case).to_contain_text("first to register conflict")
            holder = later.data.registration_id
            transfer = page.locator("#transfer")
            expect(transfer).to_contain_text(holder)
            transfer.get_by_label("Why").select_option("first_to_register_conflict")
            transfer.get_by_label("Note for sales ops").fill("Accepted first; customer agrees.")
            transfer.get_by_role("button", name="Transfer protection to this registration").focus()
            page.keyboard.press("Enter")
            expect(case).to_contain_text("Protection transferred", timeout=5_000)
            expect(case).to_contain_text("Decided by Olivia Ops")
            assert errors == []


@only_on("sqlite")
def test_ops_grant_an_extension_request_labelled_as_one(stack: ServiceStack) -> None:
    """The policy sends extension requests to review: the console names the case's kind and
    offers grant or refuse (no partner code, no return, no transfer)."""
    require(Path(CHROMIUM).exists(), "Chromium (/usr/bin/chromium)")
    from playwright.sync_api import expect

    stack.start_all()
    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as client:
        ops_key = grant_console_key(stack, client)
        published = httpx.put(
            f"{stack.url('conflict_resolver')}/v1/policy",
            json={"extension": {"review": True}},
            headers=bearer(ops_key),
        )
        assert published.status_code == 200, published.text
        partner = create_partner(client, stack.admin_token, name="Northwind Networks")
        held = client.post(
            "/v1/registrations", json=registration_body(), headers=bearer(partner["api_key"])
        ).json()["id"]
        approved = wait_for_status(client, partner["api_key"], held)
        assert approved["status"] == "approved"
        asked = client.post(
            f"/v1/registrations/{held}/extension", headers=bearer(partner["api_key"])
        )
        assert asked.status_code == 202, asked.text
        with console_page(stack, ops_key) as (page, errors):
            row = page.locator("#cases li", has_text="EXTENSION_REVIEW")
            row.wait_for(timeout=30_000)
            row.click()
            case = page.locator("#case")
            expect(case.locator(".kind")).to_contain_text("Extension request")
            expect(case.locator("#reason-code, #return, #transfer")).to_have_count(0)
            case.get_by_label("Grant the extension").check()
            case.get_by_label("Reason (required)").fill("The customer's board meets next month.")
            case.get_by_role("button", name="Decide").focus()
            page.keyboard.press("Enter")
            expect(case).to_contain_text("Decided by Olivia Ops", timeout=5_000)
            assert errors == []
        deadline = time.monotonic() + 30  # a bound on a loaded machine, not a speed goal
        view: dict[str, Any] = {}
        while time.monotonic() < deadline:
            view = client.get(
                f"/v1/registrations/{held}", headers=bearer(partner["api_key"])
            ).json()
            if view["extension"] == "granted":
                break
            time.sleep(0.1)
        assert view["extension"] == "granted"
        assert view["protection_expires_at"] > approved["protection_expires_at"]


# --- Partner figures (issue 16) ---------------------------------------------------------------


@only_on("sqlite")
def test_ops_see_partner_figures_drawn_as_charts(stack: ServiceStack) -> None:
    """The dashboard draws each partner's registrations and wins, its approval and win rates,
    and each tier's revenue and protected pipeline, from deal_registration's figures."""
    require(Path(CHROMIUM).exists(), "Chromium (/usr/bin/chromium)")
    from playwright.sync_api import expect

    stack.start_all()
    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as client:
        ops_key = grant_console_key(stack, client)
        alpha = create_partner(client, stack.admin_token, name="Alpha Networks")
        beta = create_partner(client, stack.admin_token, name="Beta Systems")
        bodies = [
            (alpha, registration_body(name="Acme Corporation", domain="acme.com")),
            (alpha, registration_body(name="Initech", domain="initech.com", amount="1000.00")),
            (beta, registration_body(name="Globex", domain="globex.com", amount="40000.00")),
        ]
        for partner, body in bodies:
            created = client.post(
                "/v1/registrations", json=body, headers=bearer(partner["api_key"])
            )
            assert created.status_code == 202, created.text
            wait_for_status(client, partner["api_key"], created.json()["id"])
        with console_page(stack, ops_key) as (page, errors):
            activity = page.locator("#chart-activity")
            registered = activity.locator(
                'rect[data-label="Alpha Networks"][data-kind="registered"]'
            )
            expect(registered).to_have_attribute("data-value", "2", timeout=15_000)
            expect(activity).to_contain_text("2 registered")
            expect(page.locator("#chart-rates")).to_contain_text("approved 50%")  # 1 of 2
            expect(page.locator("#chart-rates")).to_contain_text("approved 100%")  # Beta
            # Acme (125,000) and Globex (40,000) are protected: 165,000 USD for gold.
            expect(page.locator("#chart-tiers")).to_contain_text("165,000 USD protected")
            expect(page.locator("#churn")).to_contain_text("No partner is slowing down")
            expect(page.locator("#dashboard")).to_contain_text("165,000 USD")
            artifacts = ROOT / "test-artifacts"
            artifacts.mkdir(exist_ok=True)
            page.locator("#partners").screenshot(path=str(artifacts / "console-partners.png"))
            assert errors == []
