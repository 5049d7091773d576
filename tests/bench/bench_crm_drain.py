"""How fast crm_sync drains a backlog of approvals into a rate-limited HubSpot (issue 12, goal 6).

    .venv/bin/python -m tests.bench.bench_crm_drain [approvals, default 10000] [--short]
        [--latency MS]

Starts Kafka and PostgreSQL (the test scripts; ``DEALREG_TEST_*_PORT`` or the bench ports), the
CRM sandbox as a process with HubSpot's documented limits (100 requests in any rolling 10
seconds per token, a 429 with HubSpot's body and ``X-HubSpot-RateLimit-*`` headers past it;
search 5 a second), puts N ``registration.approved`` events on the decisions topic first (as the
resolver publishes them: one customer domain each, so every deal also needs its company), then
starts crm_sync (HubSpot connector, default limiter settings) on a fresh database and reads the
sandbox's counters every second until every approval is a deal. ``--short`` is 1,000 (the
integration test runs it for correctness only). ``--latency MS`` makes every HubSpot answer MS
milliseconds late (the sandbox's latency fault), as a real HubSpot's answers are, where the
sandbox on an idle machine answers in a few milliseconds. Kafka's and PostgreSQL's ports are
``DEALREG_TEST_KAFKA_PORT`` and ``DEALREG_TEST_PG_PORT``; crm_sync's settings come from the
environment (``DEALREG_CRM_PUSH_PIPELINE_DEPTH`` for one).

The ceiling is what the limit allows, in the same run's terms: requests per window x batch size
(100 deals an upsert), and the honest figure, dividing by the requests the sandbox counted per
100 deals (upsert, company search, company create, association). Reports deals a second over the
drain, the 429s the sandbox served (all, and after the first 10-second window), and duplicates
(deals per registration id in the sandbox). Writes ``docs/bench/crm-drain.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("DEALREG_TEST_KAFKA_PORT", "19592")
os.environ.setdefault("DEALREG_TEST_PG_PORT", "55493")

import httpx
from sqlalchemy import func, select

from crm_sync.adapters.tables import mirrored_deals
from schemas.envelope import EventEnvelope
from schemas.topics import DECISIONS
from services.db import create_engine
from services.kafka.admin import ensure_topics
from tests.support import infra
from tests.support.crm_events import approval, publish
from tests.support.crm_sandbox import CrmSandbox
from tests.support.databases import fresh_database
from tests.support.stack import ServiceStack, free_port

SHORT = 1_000
DEFAULT = 10_000
BATCH = 100  # HubSpot's batch upsert takes at most 100 inputs
# What 100 new deals cost against the 10-second window: the upsert, creating their companies
# and associating them (the company search counts against search's own 5 a second).
REQUESTS_PER_FULL_BATCH = 3
WINDOW_SECONDS = 10.0
CLIENT_SECRET = "bench-hubspot-client-secret"
PLOT = infra.ROOT / "docs" / "bench" / "crm-drain.png"


def approvals(count: int) -> list[EventEnvelope[Any]]:
    return [approval(index) for index in range(count)]


@dataclass
class Sample:
    seconds: float
    deals: int
    calls: int
    rate_limited: int
    mirrored: int  # approvals crm_sync has consumed into its mirror table


@dataclass
class CrmDrain:
    count: int
    per_ten_seconds: int  # the sandbox's limit
    latency_ms: int = 0  # every HubSpot answer this late (``--latency``)
    samples: list[Sample] = field(default_factory=list)
    deals_per_registration: Counter[str] = field(default_factory=Counter)

    @property
    def _first(self) -> int:
        return next(i for i, s in enumerate(self.samples) if s.deals > 0)

    @property
    def started(self) -> float:
        return self.samples[self._first].seconds

    @property
    def elapsed(self) -> float:
        """From the sample before the first deal to the one that saw the last."""
        first = self._first
        begin = self.samples[first - 1].seconds if first > 0 else 0.0
        return self.samples[-1].seconds - begin

    @property
    def per_second(self) -> float:
        return self.count / self.elapsed

    @property
    def calls(self) -> int:
        return self.samples[-1].calls

    @property
    def rate_limited(self) -> int:
        return self.samples[-1].rate_limited

    @property
    def rate_limited_after_first_window(self) -> int:
        """429s served after the first 10 seconds of calls (the limiter has had a window)."""
        first_call = next(s.seconds for s in self.samples if s.calls > 0)
        settled = next(
            (s for s in self.samples if s.seconds >= first_call + WINDOW_SECONDS), self.samples[-1]
        )
        return self.rate_limited - settled.rate_limited

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.deals_per_registration.values() if n > 1)

    def rates(self) -> list[tuple[float, float]]:
        """(seconds since the first deal, deals a second over the last interval)."""
        start = self.started
        return [
            (b.seconds - start, (b.deals - a.deals) / (b.seconds - a.seconds))
            for a, b in zip(self.samples, self.samples[1:], strict=False)
            if b.deals > 0
        ]

    def limits(self) -> dict[str, float]:
        """Deals a second the limit allows: nominal (one request per 100 deals), honest (the
        requests a full batch of new deals costs), and the requests measured per 100 deals."""
        nominal = self.per_ten_seconds / WINDOW_SECONDS * BATCH
        return {
            "nominal": nominal,
            "honest": nominal / REQUESTS_PER_FULL_BATCH,
            "requests_per_batch": self.calls / (self.count / BATCH),
        }


async def _stats(client: httpx.AsyncClient, sandbox: CrmSandbox) -> dict[str, Any]:
    response = await client.get(f"{sandbox.url}/_sandbox/stats")
    response.raise_for_status()
    return dict(response.json())


async def drain(
    database_url: str,
    bootstrap: str,
    prefix: str,
    events: list[EventEnvelope[Any]],
    *,
    artifacts: Path | None = None,
    within: float = 1_800,
    every: float = 1.0,
    progress: Callable[[Sample], None] | None = None,
    crm_env: dict[str, str] | None = None,
    latency_ms: int = 0,
) -> CrmDrain:
    """Publish ``events`` on the decisions topic, then start the sandbox and crm_sync and count
    deals until every approval is one; the sandbox's deals are counted per registration id."""
    artifacts = artifacts or Path(tempfile.mkdtemp(prefix="dealreg-crm-drain-"))
    await ensure_topics(bootstrap, prefix=prefix)
    await publish(bootstrap, prefix, DECISIONS.name, events)
    sandbox = CrmSandbox(artifacts=artifacts)
    sandbox.start(hubspot_client_secret=CLIENT_SECRET, seed=7)
    if latency_ms:
        sandbox.control("POST", "/faults", json={"target": "hubspot", "latency_ms": latency_ms})
    port = free_port()
    stack = ServiceStack(
        kafka_bootstrap=bootstrap,
        database_urls={"crm_sync": database_url},
        topic_prefix=prefix,
        artifacts=artifacts,
        ports={"crm_sync": port},
    )
    try:
        credentials = sandbox.credentials()
        stack.extra_env.update(
            {
                "DEALREG_LOG_LEVEL": "WARNING",
                "DEALREG_CRM_CONNECTOR": "hubspot",
                "DEALREG_CRM_HUBSPOT_BASE_URL": sandbox.url,
                "DEALREG_CRM_HUBSPOT_TOKEN": credentials["hubspot_token"],
                "DEALREG_CRM_HUBSPOT_APP_ID": credentials["hubspot_app_id"],
                "DEALREG_CRM_HUBSPOT_CLIENT_SECRET": CLIENT_SECRET,
                **(crm_env or {}),
            }
        )
        stack.migrate("crm_sync")
        result = CrmDrain(len(events), per_ten_seconds=_sandbox_limit(), latency_ms=latency_ms)
        engine = create_engine(database_url)
        mirrored = select(func.count()).select_from(mirrored_deals)
        async with httpx.AsyncClient(timeout=30) as client:
            began = time.perf_counter()
            stack.start("crm_sync", migrate=False)
            deals = 0
            while deals < len(events):
                if time.perf_counter() - began > within:
                    raise TimeoutError(f"{deals} of {len(events)} deals in {within}s")
                if stack.processes["crm_sync"].poll() is not None:
                    raise RuntimeError(f"crm_sync exited; see {artifacts}")
                await asyncio.sleep(every)
                stats = await _stats(client, sandbox)
                async with engine.connect() as connection:
                    consumed = int((await connection.execute(mirrored)).scalar_one())
                deals = int(stats["hubspot_deals"])
                sample = Sample(
                    time.perf_counter() - began,
                    deals,
                    int(stats["calls"]["hubspot"]),
                    int(stats["rate_limited"]),
                    consumed,
                )
                result.samples.append(sample)
                if progress is not None:
                    progress(sample)
            response = await client.get(f"{sandbox.url}/_sandbox/hubspot/deals")
            result.deals_per_registration = Counter(
                deal["properties"].get("dealreg_registration_id")
                for deal in response.json()
                if not deal["archived"]
            )
        await engine.dispose()
        return result
    finally:
        stack.stop_all()
        sandbox.stop()


def _sandbox_limit() -> int:
    from crm_sync.sandbox.settings import SandboxSettings

    return SandboxSettings().rate_per_ten_seconds


def plot(result: CrmDrain, path: Path = PLOT) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    limits = result.limits()
    seconds, rates = zip(*result.rates(), strict=True)
    figure, axes = plt.subplots(figsize=(8, 4))
    axes.plot(seconds, rates, label="deals created/s (1 s intervals)")
    start = result.started
    consumed = [
        (b.seconds - start, (b.mirrored - a.mirrored) / (b.seconds - a.seconds))
        for a, b in zip(result.samples, result.samples[1:], strict=False)
        if b.deals > 0
    ]
    axes.plot(
        [t for t, _ in consumed],
        [r for _, r in consumed],
        linewidth=0.8,
        alpha=0.6,
        label="approvals consumed into crm_sync's mirror/s",
    )
    axes.axhline(result.per_second, linestyle="--", color="grey", label="mean over the drain")
    axes.axhline(
        limits["honest"],
        linestyle=":",
        color="red",
        label=f"limit ÷ {REQUESTS_PER_FULL_BATCH} requests per 100 deals",
    )
    axes.set_xlabel("seconds since the first deal")
    axes.set_ylabel("deals created per second")
    axes.set_title(
        f"crm_sync draining {result.count:,} approvals into the HubSpot sandbox "
        f"({result.per_ten_seconds} requests / 10 s; nominal {limits['nominal']:,.0f} deals/s"
        + (f"; answers {result.latency_ms} ms late)" if result.latency_ms else ")"),
        fontsize=9,
    )
    axes.set_ylim(bottom=0)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def report(result: CrmDrain) -> None:
    limits = result.limits()
    rates = [rate for _, rate in result.rates()]
    third = max(1, len(rates) // 3)
    print(f"| approvals drained | {result.count:,} |")
    print(f"| deals created per second, whole drain | {result.per_second:,.1f} |")
    print(
        f"| deals per second, first / last third | "
        f"{sum(rates[:third]) / third:,.1f} / {sum(rates[-third:]) / third:,.1f} |"
    )
    print(
        f"| limit: {result.per_ten_seconds} requests / 10 s x {BATCH} deals (nominal ceiling) "
        f"| {limits['nominal']:,.0f} deals/s |"
    )
    print(
        f"| requests to the sandbox per {BATCH} deals (measured) "
        f"| {limits['requests_per_batch']:.2f} ({result.calls:,} in all) |"
    )
    print(
        f"| limit ÷ {REQUESTS_PER_FULL_BATCH} requests per full batch (honest ceiling) "
        f"| {limits['honest']:,.0f} deals/s |"
    )
    print(f"| drain / nominal ceiling | {result.per_second / limits['nominal']:.0%} |")
    print(f"| drain / honest ceiling | {result.per_second / limits['honest']:.0%} |")
    print(f"| 429s served by the sandbox, all | {result.rate_limited} |")
    print(f"| 429s after the first 10 s window | {result.rate_limited_after_first_window} |")
    print(f"| duplicate deals | {result.duplicates} |")


async def main(count: int, latency_ms: int = 0) -> None:
    bootstrap = infra.start_kafka()
    server = infra.start_postgres()
    prefix = f"crmdrain{uuid.uuid4().hex[:6]}."
    load = os.getloadavg()
    try:
        async with fresh_database(server) as url:
            result = await drain(
                url,
                bootstrap,
                prefix,
                approvals(count),
                latency_ms=latency_ms,
                progress=lambda s: print(
                    f"  {s.seconds:7.1f} s  {s.deals:>6} deals  {s.calls:>5} calls  "
                    f"{s.rate_limited:>3} 429s  {s.mirrored:>6} mirrored",
                    flush=True,
                ),
            )
    finally:
        if not infra.keep_running():
            infra.stop_kafka()
            infra.stop_postgres()
    print(f"load average at the start: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if latency_ms:
        print(f"every HubSpot answer {latency_ms} ms late (--latency)")
    report(result)
    if count >= DEFAULT or "--plot" in sys.argv:
        plot(result)
        print(f"plot: {PLOT.relative_to(infra.ROOT)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="crm_sync draining approvals into HubSpot")
    parser.add_argument("approvals", nargs="?", type=int, default=DEFAULT)
    parser.add_argument("--short", action="store_true", help=f"{SHORT:,} approvals")
    parser.add_argument("--plot", action="store_true", help="plot a drain shorter than the default")
    parser.add_argument("--latency", type=int, default=0, metavar="MS", help="HubSpot answers late")
    options = parser.parse_args()
    asyncio.run(main(SHORT if options.short else options.approvals, options.latency))
