"""Faults at seeded random moments, one at a time, each followed by a measured recovery.

A fault is injected, held, healed; then a probe registration (a fresh account, so the rules
approve it) is posted and the time until it is decided, and until its deal is in the CRM, is
the fault's recovery time. Faults do not overlap, so each recovery time belongs to one fault.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from tests.chaos.load import Load, bearer
from tests.chaos.processes import Stack
from tests.support.stack import SERVICES


@dataclass(frozen=True)
class Profile:
    """How hard to push: the full run and the short (CI) run differ only in these."""

    kills_per_instance: int
    every_instance: bool  # else one instance of each service, picked at random
    broker_kills: int
    postgres_outages: int
    postgres_seconds: float
    crm_error_seconds: float
    crm_away_seconds: float
    recovery_bound_seconds: float  # a fault not recovered by then counts as not recovered


FULL = Profile(3, True, 2, 2, 30, 60, 120, 180)
SHORT = Profile(1, False, 1, 1, 10, 15, 20, 60)


@dataclass
class Fault:
    kind: str
    target: str
    hold_seconds: float
    at: float = 0.0  # seconds after the load started
    injected_at: float | None = None
    healed_at: float | None = None
    readyz_red_during: bool | None = None
    decided_after: float | None = None
    mirrored_after: float | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan(rng: random.Random, stack: Stack, profile: Profile) -> list[Fault]:
    victims = stack.instances
    if not profile.every_instance:
        victims = [rng.choice(stack.of(service)) for service in SERVICES]
    faults = [
        Fault("service_kill", instance.name, rng.uniform(1, 4))
        for instance in victims
        for _ in range(profile.kills_per_instance)
    ]
    faults += [
        Fault("broker_kill", f"node-{rng.randint(1, 3)}", rng.uniform(10, 25))
        for _ in range(profile.broker_kills)
    ]
    faults += [
        Fault("postgres_stop", "postgres", profile.postgres_seconds)
        for _ in range(profile.postgres_outages)
    ]
    faults += [
        Fault("crm_429", "sandbox", profile.crm_error_seconds),
        Fault("crm_500", "sandbox", profile.crm_error_seconds),
        Fault("crm_unreachable", "sandbox", profile.crm_away_seconds),
    ]
    rng.shuffle(faults)
    return faults


def schedule(rng: random.Random, faults: list[Fault], *, start: float, end: float) -> None:
    """Spread the faults over [start, end) at random, in order, with room to recover."""
    busy = sum(f.hold_seconds + 15 for f in faults)
    free = max(0.0, end - start - busy)
    cuts = sorted(rng.uniform(0, free) for _ in faults)
    moment = start
    previous_cut = 0.0
    for fault, cut in zip(faults, cuts, strict=True):
        moment += cut - previous_cut
        previous_cut = cut
        fault.at = moment
        moment += fault.hold_seconds + 15


@dataclass
class Injector:
    stack: Stack
    load: Load
    recovery_bound: float
    probe_partner: tuple[str, str] = ("", "")
    log: list[Fault] = field(default_factory=list)

    async def run(self, faults: list[Fault], load_started: float, until: float) -> None:
        self.probe_partner = await self.load.create_partner("Chaos Probe Partner")
        for fault in faults:
            wait = load_started + fault.at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if time.monotonic() > until:
                fault.note = "not injected: past the run's last moment for faults"
                self.log.append(fault)
                continue
            await self.inject(fault, load_started)
            self.log.append(fault)

    async def inject(self, fault: Fault, load_started: float) -> None:
        actions: dict[str, tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]] = {
            "service_kill": (lambda: self._kill(fault), lambda: self._restart(fault)),
            "broker_kill": (
                lambda: asyncio.to_thread(self.stack.cluster.kill, _node(fault)),
                lambda: asyncio.to_thread(self.stack.cluster.restart, _node(fault)),
            ),
            "postgres_stop": (
                lambda: asyncio.to_thread(self.stack.postgres.stop),
                lambda: asyncio.to_thread(self.stack.postgres.start),
            ),
            "crm_429": (lambda: self._crm_status(429), self._crm_clear),
            "crm_500": (lambda: self._crm_status(500), self._crm_clear),
            "crm_unreachable": (
                lambda: asyncio.to_thread(self.stack.sandbox_pause),
                lambda: asyncio.to_thread(self.stack.sandbox_resume),
            ),
        }
        begin, heal = actions[fault.kind]
        say(f"t+{time.monotonic() - load_started:5.0f}s {fault.kind} {fault.target}")
        fault.injected_at = time.monotonic() - load_started
        try:
            await begin()
            await asyncio.sleep(fault.hold_seconds / 2)
            fault.readyz_red_during = not await self.stack.all_ready()
            await asyncio.sleep(fault.hold_seconds / 2)
        except Exception as error:  # a fault that cannot be injected is reported, not fatal
            fault.note = f"injecting failed: {error}"[:300]
        finally:
            try:
                await heal()
            except Exception as error:
                fault.note += f" healing failed: {error}"[:300]
        healed = time.monotonic()
        fault.healed_at = healed - load_started
        await self.measure_recovery(fault, healed)
        say(
            f"t+{time.monotonic() - load_started:5.0f}s healed {fault.kind}: decided after "
            f"{fault.decided_after} s, in the CRM after {fault.mirrored_after} s {fault.note}"
        )

    async def _kill(self, fault: Fault) -> None:
        instance = next(i for i in self.stack.instances if i.name == fault.target)
        await asyncio.to_thread(self.stack.kill, instance)

    async def _restart(self, fault: Fault) -> None:
        instance = next(i for i in self.stack.instances if i.name == fault.target)
        self.stack.spawn(instance)

    async def _crm_status(self, status: int) -> None:
        body = {"status": status, "count": 1_000_000, "target": "any", "retry_after": 1}
        async with httpx.AsyncClient(timeout=5) as client:
            await client.post(f"{self.stack.sandbox.url}/_sandbox/faults", json=body)

    async def _crm_clear(self) -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            await client.delete(f"{self.stack.sandbox.url}/_sandbox/faults")

    async def measure_recovery(self, fault: Fault, healed: float) -> None:
        """Ready again, then a fresh registration decided and mirrored: bounded."""
        deadline = healed + self.recovery_bound
        if not await self.stack.wait_all_ready(within=self.recovery_bound):
            fault.note = "not every instance was ready again within the bound"
        partner_id, key = self.probe_partner
        stem = f"probe{uuid.uuid4().hex[:10]}"
        customer = {
            "name": f"{stem.capitalize()} Holdings",
            "domain": f"{stem}.com",
            "country": "US",
        }
        patience = max(5.0, deadline - time.monotonic())
        registration = await self.load.register(
            partner_id, customer, "network-security", stem, patience=patience
        )
        if registration is None:
            fault.note += " probe registration was not accepted"
            return
        view = await self._poll(
            f"/v1/registrations/{registration.id}",
            key,
            deadline,
            lambda v: v["status"] != "submitted",
        )
        if view is None:
            fault.note += " probe not decided within the bound"
            return
        fault.decided_after = round(time.monotonic() - healed, 1)
        if view["status"] != "approved":
            return
        mirrored = await self._poll(
            f"/v1/registrations/{registration.id}", key, deadline, lambda v: bool(v.get("crm"))
        )
        if mirrored is not None:
            fault.mirrored_after = round(time.monotonic() - healed, 1)
        else:
            fault.note += " probe not mirrored to the CRM within the bound"

    async def _poll(
        self, path: str, key: str, deadline: float, done: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any] | None:
        while time.monotonic() < deadline:
            response = await self.load.api.call(
                "deal_registration", "GET", path, headers=bearer(key), patience=5
            )
            if response is not None and response.status_code == 200 and done(response.json()):
                return dict(response.json())
            await asyncio.sleep(0.5)
        return None


def say(line: str) -> None:
    print(f"chaos: {line}", flush=True)


def _node(fault: Fault) -> int:
    return int(fault.target.removeprefix("node-"))
