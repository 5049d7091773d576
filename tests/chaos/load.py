"""The load generator: partners, registrations with deliberate conflicts, withdrawals,
extensions, ops decisions and CRM-side stage changes, over the public HTTP APIs only.

Calls spread over the two instances of a service and fail over to the other one, as a load
balancer would; a registration is retried with the same ``Idempotency-Key`` until it gets an
answer, so one offer is one registration however often the network fails. Every answer is
written to the :class:`Ledger`, which the checks compare with the event history.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

from tests.chaos.processes import ADMIN_TOKEN

PRODUCT_LINES = ("network-security", "endpoint", "quick-line")
QUICK_LINE = "quick-line"  # a short protection window: expiries, extensions and waitlists
_WORDS = ("vantor", "qualix", "brennic", "solvane", "tamrock", "orbelle", "kestrin", "lumio")
_KINDS = ("systems", "dynamics", "labs", "networks", "logistics", "foods", "health", "energy")


@dataclass
class Registration:
    id: str
    partner: str
    key: str
    product_line: str
    account: str
    accepted_at: float


@dataclass
class Ledger:
    """What the load generator did and what it was told."""

    offered: int = 0
    accepted: dict[str, Registration] = field(default_factory=dict)
    not_accepted: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    withdrawals: list[str] = field(default_factory=list)
    extensions: list[str] = field(default_factory=list)
    ops_decisions: list[dict[str, Any]] = field(default_factory=list)
    crm_stage_set: dict[str, str] = field(default_factory=dict)  # deal id -> last stage we set
    partners: dict[str, str] = field(default_factory=dict)  # partner id -> api key


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Api:
    """httpx over the instances of each service, failing over when one does not answer."""

    def __init__(self, urls: dict[str, list[str]], rng: random.Random, ledger: Ledger) -> None:
        self._urls = urls
        self._rng = rng
        self._ledger = ledger
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(8.0, connect=2.0))

    async def close(self) -> None:
        await self._client.aclose()

    async def call(
        self, service: str, method: str, path: str, *, patience: float = 30, **kwargs: Any
    ) -> httpx.Response | None:
        """Retry transport errors, 5xx and 429 on any instance for up to ``patience`` s."""
        deadline = time.monotonic() + patience
        delay = 0.2
        while True:
            url = self._rng.choice(self._urls[service])
            try:
                response = await self._client.request(method, url + path, **kwargs)
                self._ledger.answers[f"{service} {response.status_code}"] += 1
                if response.status_code < 500 and response.status_code != 429:
                    return response
            except httpx.HTTPError as error:
                self._ledger.answers[f"{service} {type(error).__name__}"] += 1
            if time.monotonic() + delay > deadline:
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3)


def account_pool(rng: random.Random, size: int) -> list[tuple[str, str]]:
    """(company name, domain) of ``size`` distinct customers."""
    pool: list[tuple[str, str]] = []
    for index in range(size):
        word, kind = rng.choice(_WORDS), rng.choice(_KINDS)
        stem = f"{word}{index}"
        pool.append((f"{stem.capitalize()} {kind.capitalize()}", f"{stem}{kind}.com"))
    return pool


def spelling(rng: random.Random, name: str, domain: str) -> dict[str, Any]:
    """One customer, spelled one of several ways partners really use."""
    stem = domain.removesuffix(".com")
    variants: list[dict[str, Any]] = [
        {"name": name, "domain": domain},
        {"name": f"{name.upper()} Inc.", "domain": f"www.{domain}"},
        {"name": f"{name} GmbH", "domain": f"{stem}.de"},
        {"name": f"The {name} Corporation"},
        {"name": f"{name}, Corp."},
    ]
    return {**rng.choice(variants), "country": "US"}


def registration_body(
    rng: random.Random, customer: dict[str, Any], product_line: str
) -> dict[str, Any]:
    amount = rng.choice(("2500.00", *(f"{rng.randint(6, 250) * 1000}.00" for _ in range(9))))
    return {
        "customer": customer,
        "product_line": product_line,
        "deal_type": "new",
        "amount": {"value": amount, "currency": "USD"},
        "expected_close_date": (date.today() + timedelta(days=120)).isoformat(),  # noqa: DTZ011
        "contact": {"name": "Dana Lee", "email": "dana.lee@example.com"},
        "partner_reference": f"CHAOS-{rng.randrange(10**6)}",
    }


def chaos_policy(quick_window_seconds: int) -> dict[str, Any]:
    """The default policy, plus a product line whose protection ends within the run, short
    extensions, and SLA auto-approval: expiries, extensions, waitlist promotions and SLA
    decisions all happen while faults are injected."""
    return {
        "product_lines": {QUICK_LINE: {"protection_window": f"PT{quick_window_seconds}S"}},
        "extension": {"max_extensions": 1, "duration": f"PT{quick_window_seconds // 2}S"},
        "review_sla": "PT90S",
        "sla_auto_decision": "approve_first",
    }


class Load:
    def __init__(
        self, api: Api, ledger: Ledger, rng: random.Random, *, accounts: int, rate: float
    ) -> None:
        self.api, self.ledger, self.rng = api, ledger, rng
        self.accounts = account_pool(rng, accounts)
        self.rate = rate
        self.partner_ids: list[str] = []

    async def create_partner(self, name: str) -> tuple[str, str]:
        body = {"name": name, "tier": "gold", "product_lines": list(PRODUCT_LINES)}
        response = await self.api.call(
            "deal_registration", "POST", "/v1/partners", json=body, headers=bearer(ADMIN_TOKEN)
        )
        if response is None or response.status_code != 201:
            raise RuntimeError(f"cannot create partner {name}: {response and response.text}")
        created = response.json()
        self.ledger.partners[created["id"]] = created["api_key"]
        return str(created["id"]), str(created["api_key"])

    async def setup(
        self, *, partners: int, quick_window_seconds: int, hook_ports: tuple[int, int]
    ) -> int:
        """Partners (every third with a webhook that hangs), and the chaos policy. Returns
        how many partners have a hanging webhook receiver."""
        hanging = 0
        for index in range(partners):
            partner_id, key = await self.create_partner(f"Chaos Partner {index}")
            self.partner_ids.append(partner_id)
            port = hook_ports[1] if index % 3 == 0 else hook_ports[0]
            hanging += port == hook_ports[1]
            await self.api.call(
                "deal_registration",
                "PUT",
                "/v1/webhook",
                json={"url": f"http://127.0.0.1:{port}/hooks/dealreg"},
                headers=bearer(key),
            )
        response = await self.api.call(
            "conflict_resolver",
            "PUT",
            "/v1/policy",
            json=chaos_policy(quick_window_seconds),
            headers=bearer(ADMIN_TOKEN),
        )
        if response is None or response.status_code != 200:
            raise RuntimeError(f"cannot publish the chaos policy: {response and response.text}")
        return hanging

    # --- registrations --------------------------------------------------------------------

    async def register(
        self,
        partner_id: str,
        customer: dict[str, Any],
        product_line: str,
        account: str,
        *,
        patience: float = 90,
    ) -> Registration | None:
        key = self.ledger.partners[partner_id]
        self.ledger.offered += 1
        headers = {**bearer(key), "Idempotency-Key": str(uuid.uuid4())}
        body = registration_body(self.rng, customer, product_line)
        response = await self.api.call(
            "deal_registration",
            "POST",
            "/v1/registrations",
            json=body,
            headers=headers,
            patience=patience,
        )
        if response is None or response.status_code != 202:
            self.ledger.not_accepted[str(response.status_code if response else "no answer")] += 1
            return None
        registration = Registration(
            response.json()["id"], partner_id, key, product_line, account, time.monotonic()
        )
        self.ledger.accepted[registration.id] = registration
        return registration

    async def one_registration(self) -> None:
        name, domain = self.rng.choice(self.accounts)
        line = self.rng.choice(PRODUCT_LINES)
        partner = self.rng.choice(self.partner_ids)
        registration = await self.register(partner, spelling(self.rng, name, domain), line, domain)
        if registration is not None and self.rng.random() < 0.05:
            await self.withdraw(registration)  # races the decision on purpose

    async def same_instant(self) -> None:
        """Several partners post the same account (spelled differently) at the same moment."""
        name, domain = self.rng.choice(self.accounts)
        line = self.rng.choice(PRODUCT_LINES)
        partners = self.rng.sample(self.partner_ids, k=min(3, len(self.partner_ids)))
        await asyncio.gather(
            *(self.register(p, spelling(self.rng, name, domain), line, domain) for p in partners)
        )

    async def withdraw(self, registration: Registration) -> None:
        response = await self.api.call(
            "deal_registration",
            "POST",
            f"/v1/registrations/{registration.id}/withdraw",
            headers=bearer(registration.key),
        )
        if response is not None and response.status_code == 202:
            self.ledger.withdrawals.append(registration.id)

    async def extend(self, registration: Registration) -> None:
        response = await self.api.call(
            "deal_registration",
            "POST",
            f"/v1/registrations/{registration.id}/extension",
            headers=bearer(registration.key),
        )
        if response is not None and response.status_code == 202:
            self.ledger.extensions.append(registration.id)

    def _pick(self, *, quick_older_than: float | None = None) -> Registration | None:
        candidates = list(self.ledger.accepted.values())
        if quick_older_than is not None:
            now = time.monotonic()
            candidates = [
                r
                for r in candidates
                if r.product_line == QUICK_LINE and now - r.accepted_at > quick_older_than
            ] or candidates
        return self.rng.choice(candidates[-200:]) if candidates else None

    async def step(self, quick_window_seconds: int) -> None:
        roll = self.rng.random()
        if roll < 0.72:
            await self.one_registration()
        elif roll < 0.84:
            await self.same_instant()
        elif roll < 0.92:
            if (picked := self._pick()) is not None:
                await self.withdraw(picked)
        elif (picked := self._pick(quick_older_than=quick_window_seconds * 0.8)) is not None:
            await self.extend(picked)  # near the end of a short window: races the expiry

    async def drive(self, stop: asyncio.Event, quick_window_seconds: int) -> None:
        """Start one step every 1/rate seconds until ``stop`` is set; waits for them (bounded)."""
        tasks: set[asyncio.Task[None]] = set()
        while not stop.is_set():
            task = asyncio.create_task(self.step(quick_window_seconds))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await asyncio.sleep(self.rng.expovariate(self.rate))
        if tasks:
            await asyncio.wait(tasks, timeout=120)

    # --- sales ops and the CRM ------------------------------------------------------------

    async def ops_loop(self, stop: asyncio.Event) -> None:
        """Decide open conflicts as a reviewer would: approve one claim, or none."""
        while not stop.is_set():
            await asyncio.sleep(self.rng.uniform(2, 5))
            response = await self.api.call(
                "conflict_resolver",
                "GET",
                "/v1/conflicts",
                params={"state": "open", "limit": 20},
                headers=bearer(ADMIN_TOKEN),
                patience=5,
            )
            if response is None or response.status_code != 200 or not response.json()["items"]:
                continue
            case = self.rng.choice(response.json()["items"])
            claims = [c["registration_id"] for c in case.get("claims", [])]
            approve = self.rng.choice([*claims, None]) if claims else None
            answer = await self.api.call(
                "conflict_resolver",
                "POST",
                f"/v1/conflicts/{case['id']}/decision",
                json={"approve": approve, "reason": "chaos reviewer"},
                headers=bearer(ADMIN_TOKEN),
                patience=10,
            )
            status = answer.status_code if answer is not None else None
            self.ledger.ops_decisions.append(
                {"case": case["id"], "approve": approve, "status": status}
            )

    async def crm_loop(self, sandbox_url: str, stop: asyncio.Event) -> None:
        """A salesperson moves mirrored deals: closed-won, closed-lost, or another stage."""
        async with httpx.AsyncClient(timeout=5) as client:
            while not stop.is_set():
                await asyncio.sleep(self.rng.uniform(2, 5))
                try:
                    deals = (await client.get(f"{sandbox_url}/_sandbox/hubspot/deals")).json()
                except (httpx.HTTPError, ValueError):
                    continue  # the sandbox is paused (a fault): try later
                open_deals = [
                    d
                    for d in deals
                    if d["properties"].get("dealreg_registration_id")
                    and d["properties"].get("dealstage") not in ("closedwon", "closedlost")
                ]
                if not open_deals:
                    continue
                deal = self.rng.choice(open_deals)
                stage = self.rng.choice(("closedwon", "closedlost", "contractsent"))
                try:
                    await client.post(
                        f"{sandbox_url}/_sandbox/hubspot/deals/{deal['id']}", json={"stage": stage}
                    )
                    self.ledger.crm_stage_set[deal["id"]] = stage
                except httpx.HTTPError:
                    continue
