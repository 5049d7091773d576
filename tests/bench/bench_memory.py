"""Resident memory of each service before, during and after a sustained load (issue 12, goal 5).

    .venv/bin/python -m tests.bench.bench_memory [--minutes 10] [--rate 20] [--every 2]
        [--database sqlite|postgresql]

Starts Kafka (the test script; ``DEALREG_TEST_KAFKA_PORT`` or the bench port), the CRM sandbox
and the three services as ``make run`` has them (one uvicorn process each, a SQLite file per
service, or with ``--database postgresql`` a database per service on the test PostgreSQL,
``DEALREG_TEST_PG_PORT``; crm_sync mirroring into the sandbox's HubSpot; the intake rate limit
lifted), creates
10 partners, then posts registrations at a steady ``--rate`` a second for ``--minutes``
(made-up companies, a quarter of them another spelling of an earlier one), with an idle
minute before and after. Every ``--every`` seconds it reads VmRSS from ``/proc/<pid>/status``
of each process the stack started.

Reports per service: before the load, after warm-up (the first minute of load, or the first
third of a shorter one), peak, end, growth after warm-up (least-squares slope over the rest of
the load, MB a minute) and whether the peak stays under 200 MB; writes
``docs/bench/memory.png`` (RSS over time; ``memory-postgresql.png`` on PostgreSQL). At the end
of the load it reads the resolver's matching caches from its ``/metrics`` (hit rate, entries).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("DEALREG_TEST_KAFKA_PORT", "19592")
os.environ.setdefault("DEALREG_TEST_PG_PORT", "55493")

import httpx

from tests.bench.bench_whatif import company
from tests.support import infra
from tests.support.api import bearer, create_partner, registration_body
from tests.support.crm_sandbox import CrmSandbox
from tests.support.databases import Databases, PostgresDatabases, SqliteDatabases
from tests.support.stack import SERVICES, ServiceStack, free_port

CEILING_MB = 200.0
CLIENT_SECRET = "bench-hubspot-client-secret"
PLOT = infra.ROOT / "docs" / "bench" / "memory.png"


def rss_mb(pid: int, field: str = "VmRSS") -> float | None:
    """Resident memory of ``pid`` in MB (``VmRSS``; ``RssAnon`` is the heap's share), or None
    once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        return None
    return None


@dataclass
class Memory:
    load_from: float = 0.0  # seconds since the start of sampling
    load_to: float = 0.0
    warm_until: float = 0.0
    samples: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    anonymous: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    database: str = "sqlite"
    caches: dict[str, dict[str, float]] = field(default_factory=dict)
    posted: int = 0
    failed: int = 0
    load_seconds: float = 0.0

    def add(self, name: str, seconds: float, mb: float) -> None:
        self.samples.setdefault(name, []).append((seconds, mb))

    def summary(self, name: str) -> dict[str, float]:
        points = self.samples[name]
        before = [mb for t, mb in points if t < self.load_from]
        warmed = [mb for t, mb in points if t <= self.warm_until]
        steady = [(t, mb) for t, mb in points if self.warm_until <= t <= self.load_to]
        return {
            "before": before[-1] if before else points[0][1],
            "warm": warmed[-1],
            "peak": max(mb for _, mb in points),
            "end": points[-1][1],
            "slope": slope(steady) * 60,
        }


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``points`` (MB a second)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_mb = sum(mb for _, mb in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (mb - mean_mb) for t, mb in points) / spread if spread else 0.0


async def _sample(pids: dict[str, int], memory: Memory, began: float, every: float) -> None:
    while True:
        now = time.perf_counter() - began
        for name, pid in pids.items():
            mb, anon = rss_mb(pid), rss_mb(pid, "RssAnon")
            if mb is not None:
                memory.add(name, now, mb)
            if anon is not None:
                memory.anonymous.setdefault(name, []).append((now, anon))
        await asyncio.sleep(every)


async def _load(url: str, keys: list[str], rate: float, seconds: float, memory: Memory) -> None:
    """Post registrations at ``rate`` a second for ``seconds``, on a fixed schedule."""
    rng = random.Random(11)
    limits = httpx.Limits(max_connections=32)
    running: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def post(index: int) -> None:
            name, domain = company(index if index % 4 else index // 4, rng)
            body = registration_body(name=name, domain=domain)
            headers = bearer(keys[index % len(keys)])
            try:
                response = await client.post("/v1/registrations", json=body, headers=headers)
                ok = response.status_code == 202
            except httpx.HTTPError:
                ok = False
            memory.posted += ok
            memory.failed += not ok

        started = time.perf_counter()
        index = 0
        while (due := started + index / rate) < started + seconds:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            task = asyncio.create_task(post(index))
            running.add(task)
            task.add_done_callback(running.discard)
            index += 1
        if running:
            await asyncio.gather(*running)
        memory.load_seconds = time.perf_counter() - started


def matching_caches(metrics: str) -> dict[str, dict[str, float]]:
    """The ``dealreg_matching_cache_*`` samples of a ``/metrics`` page, by cache and measure."""
    caches: dict[str, dict[str, float]] = {}
    for line in metrics.splitlines():
        if not line.startswith("dealreg_matching_cache_"):
            continue
        sample, value = line.rsplit(" ", 1)
        measure, labels = sample.removeprefix("dealreg_matching_cache_").split("{", 1)
        cache = labels.split('"')[1]
        caches.setdefault(cache, {})[measure.removesuffix("_total")] = float(value)
    return caches


async def run(
    minutes: float, rate: float, every: float, idle: float, database: str = "sqlite"
) -> Memory:
    bootstrap = infra.start_kafka()
    artifacts = Path(tempfile.mkdtemp(prefix="dealreg-memory-"))
    databases: Databases = (
        PostgresDatabases(infra.start_postgres())
        if database == "postgresql"
        else SqliteDatabases(artifacts)
    )
    opened = {service: databases.fresh() for service in SERVICES}
    urls = {service: await database.__aenter__() for service, database in opened.items()}
    sandbox = CrmSandbox(artifacts=artifacts)
    crm_port = free_port()
    stack = ServiceStack(
        kafka_bootstrap=bootstrap,
        database_urls=urls,
        topic_prefix=f"memory{uuid.uuid4().hex[:6]}.",
        artifacts=artifacts,
        ports={"crm_sync": crm_port},
        extra_env={
            "DEALREG_RATE_LIMIT_PER_SECOND": "100000",
            "DEALREG_RATE_LIMIT_BURST": "100000",
            "DEALREG_LOG_LEVEL": "WARNING",
        },
    )
    memory = Memory(database=database)
    try:
        sandbox.start(
            hubspot_client_secret=CLIENT_SECRET,
            hubspot_webhook_url=f"http://127.0.0.1:{crm_port}/v1/webhooks/hubspot",
            seed=7,
        )
        credentials = sandbox.credentials()
        stack.extra_env.update(
            {
                "DEALREG_CRM_CONNECTOR": "hubspot",
                "DEALREG_CRM_HUBSPOT_BASE_URL": sandbox.url,
                "DEALREG_CRM_HUBSPOT_TOKEN": credentials["hubspot_token"],
                "DEALREG_CRM_HUBSPOT_APP_ID": credentials["hubspot_app_id"],
                "DEALREG_CRM_HUBSPOT_CLIENT_SECRET": CLIENT_SECRET,
            }
        )
        stack.start_all()
        assert sandbox.process is not None
        pids = {service: process.pid for service, process in stack.processes.items()}
        pids["crm sandbox"] = sandbox.process.pid
        url = stack.url("deal_registration")
        with httpx.Client(base_url=url, timeout=30) as client:
            keys = [
                create_partner(client, stack.admin_token, name=f"Partner {i}")["api_key"]
                for i in range(10)
            ]
        began = time.perf_counter()
        sampler = asyncio.create_task(_sample(pids, memory, began, every))
        print(
            f"idle {idle:.0f} s, load {minutes:g} min at {rate:g}/s, idle {idle:.0f} s", flush=True
        )
        await asyncio.sleep(idle)
        memory.load_from = time.perf_counter() - began
        load_seconds = minutes * 60
        memory.warm_until = memory.load_from + min(60.0, load_seconds / 3)
        await _load(url, keys, rate, load_seconds, memory)
        memory.load_to = time.perf_counter() - began
        async with httpx.AsyncClient(timeout=30) as client:
            page = await client.get(f"{stack.url('conflict_resolver')}/metrics")
        memory.caches = matching_caches(page.text)
        await asyncio.sleep(idle)
        sampler.cancel()
        for service, process in stack.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{service} exited during the run; see {artifacts}")
        return memory
    finally:
        stack.stop_all()
        sandbox.stop()
        for opened_database in opened.values():
            await opened_database.__aexit__(None, None, None)
        if not infra.keep_running():
            infra.stop_kafka()
            if database == "postgresql":
                infra.stop_postgres()


def plot(memory: Memory, rate: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4))
    for name, points in memory.samples.items():
        seconds, mb = zip(*points, strict=True)
        axes.plot([t / 60 for t in seconds], mb, label=name)
    axes.axvspan(memory.load_from / 60, memory.load_to / 60, color="grey", alpha=0.12)
    axes.axvline(memory.warm_until / 60, linestyle=":", color="grey", label="end of warm-up")
    axes.axhline(CEILING_MB, linestyle="--", color="red", label=f"{CEILING_MB:.0f} MB goal")
    axes.set_xlabel("minutes (shaded: registrations posted)")
    axes.set_ylabel("resident memory, MB (VmRSS)")
    axes.set_title(
        f"Resident memory, {rate:g} registrations/s offered, "
        f"{(memory.posted + memory.failed) / max(memory.load_seconds, 1):.1f}/s posted "
        f"({(memory.load_to - memory.load_from) / 60:.0f} min of load, "
        f"{database_label(memory)}, make run's layout)",
        fontsize=9,
    )
    axes.set_ylim(bottom=0)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def database_label(memory: Memory) -> str:
    return "PostgreSQL" if memory.database == "postgresql" else "SQLite"


def report(memory: Memory, rate: float) -> None:
    offered = memory.posted + memory.failed
    print(
        f"posted {offered:,} in {memory.load_seconds:.0f} s "
        f"({offered / memory.load_seconds:.1f}/s offered {rate:g}/s), {memory.failed} not accepted"
    )
    print(
        "| process | before MB | after warm-up MB | peak MB | end MB "
        "| growth after warm-up MB/min | under 200 MB | anonymous (heap) at the end MB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in memory.samples:
        s = memory.summary(name)
        print(
            f"| {name} | {s['before']:.0f} | {s['warm']:.0f} | {s['peak']:.0f} | {s['end']:.0f} "
            f"| {s['slope']:+.2f} | {'yes' if s['peak'] < CEILING_MB else 'no'} "
            f"| {memory.anonymous[name][-1][1]:.0f} |"
        )
    print("resolver's matching caches at the end of the load:")
    for cache, measures in sorted(memory.caches.items()):
        hits, misses = measures.get("hits", 0.0), measures.get("misses", 0.0)
        lookups = hits + misses
        rate_text = f"{hits / lookups:.1%}" if lookups else "n/a"
        print(
            f"  {cache}: hit rate {rate_text} of {lookups:,.0f} lookups, "
            f"{measures.get('entries', 0):,.0f} of {measures.get('max_entries', 0):,.0f} entries"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of load")
    parser.add_argument("--rate", type=float, default=20.0, help="registrations a second")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between samples")
    parser.add_argument("--idle", type=float, default=60.0, help="idle seconds before and after")
    parser.add_argument(
        "--database", choices=["sqlite", "postgresql"], default="sqlite", help="the services' store"
    )
    arguments = parser.parse_args()
    load = os.getloadavg()
    memory = asyncio.run(
        run(arguments.minutes, arguments.rate, arguments.every, arguments.idle, arguments.database)
    )
    print(f"load average at the start: {' '.join(f'{x:.1f}' for x in load)}")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"database: {database_label(memory)}")
    report(memory, arguments.rate)
    path = PLOT if arguments.database == "sqlite" else PLOT.with_name("memory-postgresql.png")
    plot(memory, arguments.rate, path)
    print(f"plot: {path.relative_to(infra.ROOT)}")


if __name__ == "__main__":
    main()
