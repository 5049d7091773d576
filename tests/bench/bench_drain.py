"""How fast one resolver drains a backlog of submissions, against two ceilings in the same run.

    .venv/bin/python -m tests.bench.bench_drain [registrations, default 100000] [--short]
        [--instances=1,2] [--plot]

Starts Kafka and PostgreSQL (the test scripts; ``DEALREG_TEST_*_PORT`` or the bench ports),
puts N ``registration.submitted`` events on the registrations topic first (made-up companies,
a quarter of them another spelling of an earlier one, 10 partners, one product line), then
starts one conflict_resolver process on a fresh PostgreSQL database and counts its decisions
every second until all N are decided. ``--short`` is 2,000 (the integration test runs it for
correctness only). The ceilings, measured on the same records in the same run:

- consuming them with no work: Kafka's own consumer performance tool
  (``org.apache.kafka.tools.ConsumerPerformance``, from the broker's jars);
- inserting the claims and blocking keys those decisions write, in bulk (one transaction).

With ``--instances=1,2`` the same backlog (on topics of its own) is drained again by two
resolver processes in one consumer group, and the CPU seconds each part used (resolvers,
PostgreSQL, the broker; from /proc) give a decision's cost per part: the input of the
projection to a larger machine in docs/benchmarks.md.

Prints a table and writes ``docs/bench/drain.png`` (decisions per second over time).
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("DEALREG_TEST_KAFKA_PORT", "19592")
os.environ.setdefault("DEALREG_TEST_PG_PORT", "55493")

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from conflict_resolver.adapters.tables import claim_keys, claims
from conflict_resolver.domain.protection import customer_keys
from schemas.envelope import EventEnvelope
from schemas.topics import REGISTRATIONS
from services.db import create_engine
from services.kafka.admin import ensure_topics
from services.kafka.producer import KafkaEventPublisher
from services.migrations import upgrade
from tests.bench.bench_whatif import company
from tests.support import infra
from tests.support.databases import fresh_database
from tests.support.stack import ServiceStack

SHORT = 2_000
PARTNERS = 10
PRODUCT_LINE = "network-security"
PLOT = infra.ROOT / "docs" / "bench" / "drain.png"


def registrations(count: int, *, seed: int = 11) -> list[EventEnvelope[Any]]:
    """``count`` submissions; every fourth is another spelling of an earlier account."""
    from tests.support.resolver import submitted

    rng = random.Random(seed)
    events = []
    for index in range(count):
        name, domain = company(index if index % 4 else index // 4, rng)
        events.append(
            submitted(
                partner=f"p{index % PARTNERS}",
                name=name,
                domain=domain,
                product_line=PRODUCT_LINE,
                seq=index + 1,
                registration_id=f"r{index + 1:07d}",
            )
        )
    return events


async def publish(bootstrap: str, prefix: str, events: list[EventEnvelope[Any]]) -> None:
    await ensure_topics(bootstrap, prefix=prefix)
    publisher = KafkaEventPublisher(
        bootstrap_servers=bootstrap, client_id="bench-drain", topic_prefix=prefix
    )
    await publisher.start()
    try:
        for start in range(0, len(events), 5_000):
            await publisher.publish(REGISTRATIONS.name, events[start : start + 5_000])
    finally:
        await publisher.stop()


def consume_ceiling(bootstrap: str, topic: str, count: int) -> float:
    """Seconds Kafka's own consumer takes to read ``count`` records of ``topic``, no work."""
    classpath = str(infra.ROOT / "deploy" / "kafka" / "lib" / "*")
    command = [
        "java",
        "-Xmx512m",
        "-cp",
        classpath,
        "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--num-records",
        str(count),
        "--group",
        f"bench-perf-{uuid.uuid4().hex[:6]}",
        "--timeout",
        "60000",
    ]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    # The summary's fetch.time.ms leaves out the JVM start and the group join: the consuming.
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("start.time"))
    summary = dict(zip(lines[header].split(", "), lines[header + 1].split(", "), strict=True))
    fetch_ms = float(summary["fetch.time.ms"])
    return fetch_ms / 1000 if fetch_ms > 0 else wall


async def insert_ceiling(server: str, events: list[EventEnvelope[Any]]) -> float:
    """Seconds to insert the claims and blocking keys of ``events`` in bulk, one transaction."""
    claim_rows, key_rows = [], []
    for envelope in events:
        data = envelope.data
        claim_rows.append(
            {
                "registration_id": data.registration_id,
                "submission_seq": data.submission_seq,
                "partner_id": data.partner.id,
                "account_key": data.account_key,
                "product_line": data.product_line,
                "submitted": data.model_dump(mode="json"),
                "status": "approved",
                "correlation_id": envelope.correlationid,
                "protection_key": data.account_key,
                "waitlisted": False,
                "extension_count": 0,
            }
        )
        key_rows += [
            {"blocking_key": key, "product_line": data.product_line, "registration_id": rid}
            for rid, key in ((data.registration_id, k) for k in customer_keys(data.customer))
        ]
    async with fresh_database(server) as url:
        await asyncio.to_thread(upgrade, "conflict_resolver", url)
        engine = create_engine(url)
        try:
            started = time.perf_counter()
            async with engine.begin() as connection:
                for start in range(0, len(claim_rows), 5_000):
                    await connection.execute(insert(claims), claim_rows[start : start + 5_000])
                for start in range(0, len(key_rows), 10_000):
                    await connection.execute(insert(claim_keys), key_rows[start : start + 10_000])
            return time.perf_counter() - started
        finally:
            await engine.dispose()


@dataclass
class Drain:
    count: int
    instances: int = 1
    samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds, decided)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per part, during the drain

    def cpu_ms_per_decision(self) -> dict[str, float]:
        return {part: seconds * 1000 / self.count for part, seconds in self.cpu.items()}

    @property
    def started(self) -> float:
        """When the first decisions were counted (the consumer group has joined)."""
        return next(t for t, decided in self.samples if decided > 0)

    @property
    def elapsed(self) -> float:
        first = next(i for i, (_, decided) in enumerate(self.samples) if decided > 0)
        # The interval before the first non-zero sample is counted, from the sample before it.
        begin = self.samples[first - 1][0] if first > 0 else 0.0
        return self.samples[-1][0] - begin

    @property
    def per_second(self) -> float:
        return self.count / self.elapsed

    def rates(self) -> list[tuple[float, float]]:
        """(seconds since the first decision, decisions per second over the last interval)."""
        start = self.started
        return [
            (t1 - start, (d1 - d0) / (t1 - t0))
            for (t0, d0), (t1, d1) in zip(self.samples, self.samples[1:], strict=False)
            if d1 > 0
        ]


async def _decided(engine: AsyncEngine) -> int:
    query = select(func.count()).select_from(claims).where(claims.c.decision.is_not(None))
    async with engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


async def drain(
    url: str,
    bootstrap: str,
    prefix: str,
    count: int,
    *,
    instances: int = 1,
    within: float = 3_600,
    every: float = 1.0,
    progress: Callable[[float, int], None] | None = None,
) -> Drain:
    """Start ``instances`` resolver processes (one consumer group) on ``url`` and count
    decisions until ``count`` are made; the CPU each part used meanwhile is in the result."""
    artifacts = Path(tempfile.mkdtemp(prefix="dealreg-drain-"))
    stacks = [
        ServiceStack(
            kafka_bootstrap=bootstrap,
            database_urls={"conflict_resolver": url},
            topic_prefix=prefix,
            artifacts=artifacts / f"instance-{number}",
            extra_env={"DEALREG_LOG_LEVEL": "WARNING"},
        )
        for number in range(instances)
    ]
    engine = create_engine(url)
    result = Drain(count, instances=instances)
    try:
        stacks[0].migrate("conflict_resolver")
        began = time.perf_counter()
        for stack in stacks:
            stack.start("conflict_resolver", migrate=False)
        resolvers = [stack.processes["conflict_resolver"].pid for stack in stacks]
        cpu_before = cpu_seconds(resolvers)
        decided = 0
        while decided < count:
            if time.perf_counter() - began > within:
                raise TimeoutError(f"{decided} of {count} decided in {within}s")
            if any(stack.processes["conflict_resolver"].poll() is not None for stack in stacks):
                raise RuntimeError(f"a resolver exited; see {artifacts}")
            await asyncio.sleep(every)
            decided = await _decided(engine)
            result.samples.append((time.perf_counter() - began, decided))
            if progress is not None:
                progress(result.samples[-1][0], decided)
        cpu_after = cpu_seconds(resolvers)
        result.cpu = {part: cpu_after[part] - cpu_before.get(part, 0.0) for part in cpu_after}
        return result
    finally:
        for stack in stacks:
            stack.stop_all()
        await engine.dispose()


def _pid_file(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _process_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used so far), from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command: state, ppid, ..., utime (14th field overall), stime (15th).
        table[int(stat.parent.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    return table


def cpu_seconds(resolvers: list[int]) -> dict[str, float]:
    """CPU seconds used so far by the resolvers, PostgreSQL (the postmaster and its backends)
    and the Kafka broker: the per-decision costs a larger machine's projection rests on."""
    table = _process_table()
    postmaster = _pid_file(infra.STATE / f"postgres-{infra.TEST_PG_PORT}.pid")
    broker = _pid_file(infra.STATE / f"test-kafka-{infra.TEST_KAFKA_PORT}" / "kafka.pid")

    def tree(root: int | None) -> float:
        if root is None:
            return 0.0
        members = {root}
        for pid, (parent, _cpu) in table.items():
            if parent in members or parent == root:
                members.add(pid)
        return sum(table[pid][1] for pid in members if pid in table)

    return {
        "resolver": sum(tree(pid) for pid in resolvers),
        "postgresql": tree(postmaster),
        "kafka": tree(broker),
    }


def plot(drain_result: Drain, ceilings: dict[str, float], path: Path = PLOT) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds, rates = zip(*drain_result.rates(), strict=True)
    figure, axes = plt.subplots(figsize=(8, 4))
    axes.plot(seconds, rates, label="decisions/s (1 s intervals)")
    axes.axhline(drain_result.per_second, linestyle="--", color="grey", label="mean")
    axes.set_xlabel("seconds since the first decision")
    axes.set_ylabel("decisions per second")
    axes.set_title(
        f"One resolver draining {drain_result.count:,} submissions "
        f"(Kafka alone {ceilings['consume']:,.0f}/s, bulk insert {ceilings['insert']:,.0f}/s)",
        fontsize=9,
    )
    axes.set_ylim(bottom=0)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


async def main(count: int, instances: list[int]) -> None:
    bootstrap = infra.start_kafka()
    server = infra.start_postgres()
    events = registrations(count)
    results: list[Drain] = []
    try:
        for number in instances:
            # Each drain has its own topics (so its own consumer group starts at the beginning)
            # and its own empty database.
            prefix = f"drain{uuid.uuid4().hex[:6]}."
            await publish(bootstrap, prefix, events)
            if not results:
                consume = consume_ceiling(bootstrap, prefix + REGISTRATIONS.name, count)
                bulk = await insert_ceiling(server, events)
            async with fresh_database(server) as url:
                results.append(
                    await drain(
                        url,
                        bootstrap,
                        prefix,
                        count,
                        instances=number,
                        progress=lambda t, n: print(f"  {t:7.1f} s  {n:>7} decided", flush=True),
                    )
                )
    finally:
        if not infra.keep_running():
            infra.stop_kafka()
            infra.stop_postgres()
    ceilings = {"consume": count / consume, "insert": count / bulk}
    report(results[0], ceilings, consume=consume, bulk=bulk)
    if len(results) > 1:
        report_scaling(results)
    if count >= 10_000 or "--plot" in sys.argv:
        plot(results[0], ceilings)
        print(f"plot: {PLOT.relative_to(infra.ROOT)}")


def report(result: Drain, ceilings: dict[str, float], *, consume: float, bulk: float) -> None:
    count = result.count
    rates = [rate for _, rate in result.rates()]
    third = max(1, len(rates) // 3)
    print(f"| registrations drained | {count:,} |")
    print(f"| decisions per second, whole drain | {result.per_second:,.0f} |")
    print(
        f"| decisions per second, first / last third | "
        f"{sum(rates[:third]) / third:,.0f} / {sum(rates[-third:]) / third:,.0f} |"
    )
    print(f"| Kafka consumer, no work (ceiling) | {ceilings['consume']:,.0f}/s ({consume:.2f} s) |")
    print(f"| bulk insert of the same claims and keys (ceiling) | {ceilings['insert']:,.0f}/s |")
    print(f"| drain time / Kafka consume time | {result.elapsed / consume:,.0f}x |")
    print(f"| drain time / bulk insert time | {result.elapsed / bulk:,.0f}x |")
    costs = result.cpu_ms_per_decision()
    print(
        f"| CPU ms per decision: resolver / PostgreSQL / Kafka | {costs['resolver']:.1f} / "
        f"{costs['postgresql']:.1f} / {costs['kafka']:.1f} |"
    )


def report_scaling(results: list[Drain]) -> None:
    """Instances against one, and the CPU a decision costs in each part (the projection's
    input: a machine with C cores for these parts decides about C / (sum of the costs))."""
    base = results[0].per_second
    print()
    print(
        "| resolver instances | decisions/s | vs one | CPU ms per decision: resolver / "
        "PostgreSQL / Kafka | cores busy (all three) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for result in results:
        costs = result.cpu_ms_per_decision()
        busy = sum(result.cpu.values()) / result.elapsed
        print(
            f"| {result.instances} | {result.per_second:,.0f} | {result.per_second / base:.2f}x | "
            f"{costs['resolver']:.1f} / {costs['postgresql']:.1f} / {costs['kafka']:.1f} | "
            f"{busy:.2f} |"
        )


if __name__ == "__main__":
    arguments = [argument for argument in sys.argv[1:] if not argument.startswith("--")]
    total = SHORT if "--short" in sys.argv else int(arguments[0]) if arguments else 100_000
    chosen = next((a for a in sys.argv[1:] if a.startswith("--instances=")), "--instances=1")
    asyncio.run(main(total, [int(n) for n in chosen.split("=", 1)[1].split(",")]))
