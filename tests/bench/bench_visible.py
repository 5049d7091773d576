"""Time to a decision as the partner sees it, at a steady offered rate, against the system's
own recorded time to decision in the same run (issue 12, goal 2).

    .venv/bin/python -m tests.bench.bench_visible [--rates 5,15,30] [--seconds 10]
        [--databases sqlite,postgresql] [--poll-ms 25]

Starts Kafka and, for PostgreSQL, the test cluster (``DEALREG_TEST_*_PORT`` or the bench
ports), then for each database the three services as processes (``make run`` settings, the
rate limit lifted). The method is the outside probe's (``../shared/tools/visible_rate.py``):
registrations are posted at a steady rate (open loop: each POST leaves at its scheduled
moment from its own task, so a slow answer does not lower the offered rate), and each is
polled (``GET /v1/registrations/{id}``, every ``--poll-ms``; the probe polls every 250 ms)
until its status is no longer ``submitted``. Partner-visible latency: from sending the POST
to the first read showing the decision.

Beside it, from the same registrations: the recorded time to decision, from the history
(``submitted`` on deal_registration's clock to the rules' answer on the resolver's clock:
the relay, Kafka and the resolver). What the partner waits beyond it is the way back (the
decision's outbox, Kafka, deal_registration's consumer) and the polling.

Each database's stack is warmed up first (10 registrations at 5 a second, not counted), then
the rates run one after another on it. Prints a table and writes ``docs/bench/visible.png``
(percentiles against offered rate).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

os.environ.setdefault("DEALREG_TEST_KAFKA_PORT", "19592")
os.environ.setdefault("DEALREG_TEST_PG_PORT", "55493")

from tests.bench.bench_flow import percentile
from tests.bench.bench_whatif import company
from tests.support import infra
from tests.support.api import bearer, create_partner, registration_body
from tests.support.databases import fresh_database
from tests.support.stack import SERVICES, ServiceStack

PLOT = infra.ROOT / "docs" / "bench" / "visible.png"
GIVE_UP_SECONDS = 60.0


@dataclass(frozen=True)
class Point:
    database: str
    offered: float
    count: int
    sent_per_second: float
    visible: list[float]  # ms, POST sent -> decided status read
    recorded: list[float]  # ms, submitted -> the rules' answer (the history)
    undecided: int  # not decided within a minute, or the POST failed

    def row(self) -> str:
        def pair(values: list[float]) -> str:
            return f"{percentile(values, 0.5):,.0f} / {percentile(values, 0.99):,.0f}"

        ratio = percentile(self.visible, 0.5) / max(percentile(self.recorded, 0.5), 0.1)
        return (
            f"| {self.database} | {self.offered:g} | {self.sent_per_second:.1f} | {self.count} "
            f"| {pair(self.visible)} | {max(self.visible):,.0f} | {pair(self.recorded)} "
            f"| {ratio:.1f}x | {self.undecided} |"
        )


HEADER = (
    "| database | offered /s | sent /s | registrations | partner-visible p50 / p99 ms | max ms "
    "| recorded decision p50 / p99 ms | visible / recorded (p50) | failed or undecided |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


@contextmanager
def stack_on(database: str, bootstrap: str, pg_server: str | None) -> Iterator[ServiceStack]:
    artifacts = Path(tempfile.mkdtemp(prefix="dealreg-bench-visible-"))
    opened = []
    if database == "sqlite":
        urls = {
            service: f"sqlite+aiosqlite:///{artifacts}/{service}.sqlite" for service in SERVICES
        }
    else:
        assert pg_server is not None
        opened = [fresh_database(pg_server) for _ in SERVICES]
        urls = {
            service: asyncio.run(db.__aenter__())
            for service, db in zip(SERVICES, opened, strict=True)
        }
    stack = ServiceStack(
        kafka_bootstrap=bootstrap,
        database_urls=urls,
        topic_prefix=f"visible{uuid.uuid4().hex[:6]}.",
        artifacts=artifacts,
        extra_env={
            "DEALREG_RATE_LIMIT_PER_SECOND": "100000",
            "DEALREG_RATE_LIMIT_BURST": "100000",
            "DEALREG_LOG_LEVEL": "WARNING",
        },
    )
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()
        for db in opened:
            asyncio.run(db.__aexit__(None, None, None))


def measure(
    stack: ServiceStack, database: str, rate: float, seconds: float, poll: float, tag: str
) -> Point:
    return asyncio.run(_measure(stack, database, rate, seconds, poll, tag))


async def _measure(
    stack: ServiceStack, database: str, rate: float, seconds: float, poll: float, tag: str
) -> Point:
    count = max(1, int(rate * seconds))
    base_url = stack.url("deal_registration")
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    with httpx.Client(base_url=base_url, timeout=30) as admin:
        partners = [
            create_partner(admin, stack.admin_token, name=f"Partner {tag} {i}")["api_key"]
            for i in range(4)
        ]
    rng = random.Random(12)
    bodies = [
        registration_body(name=f"{name} {tag}{index}", domain=domain and f"{tag}{index}-{domain}")
        for index, (name, domain) in enumerate(
            company(index if index % 4 else index // 4, rng) for index in range(count)
        )
    ]
    visible: list[float | None] = [None] * count
    ids: list[tuple[str, str] | None] = [None] * count
    sent: list[float] = []
    failed = 0
    # Two connection pools, so that polling never delays a POST on the client's side.
    posting = httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits)
    polling = httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits)
    start = time.perf_counter() + 0.5

    async def one(index: int) -> None:
        nonlocal failed
        await asyncio.sleep(max(0.0, start + index / rate - time.perf_counter()))
        key = partners[index % len(partners)]
        t0 = time.perf_counter()
        sent.append(t0)
        try:
            response = await posting.post(
                "/v1/registrations", json=bodies[index], headers=bearer(key)
            )
            if response.status_code != 202:
                failed += 1
                return
            registration_id = response.json()["id"]
            ids[index] = (registration_id, key)
            while time.perf_counter() - t0 < GIVE_UP_SECONDS:
                view = await polling.get(
                    f"/v1/registrations/{registration_id}", headers=bearer(key)
                )
                if view.status_code == 200 and view.json()["status"] != "submitted":
                    visible[index] = (time.perf_counter() - t0) * 1000
                    return
                await asyncio.sleep(poll)
        except httpx.HTTPError:
            failed += 1

    try:
        await asyncio.gather(*(one(index) for index in range(count)))
        recorded = []
        for index, entry in enumerate(ids):
            if entry is not None and visible[index] is not None:
                recorded.append(await _recorded_ms(polling, *entry))
    finally:
        await posting.aclose()
        await polling.aclose()
    decided = [value for value in visible if value is not None]
    span = max(sent) - min(sent) if len(sent) > 1 else 0.0
    return Point(
        database=database,
        offered=rate,
        count=count,
        sent_per_second=(len(sent) - 1) / span if span else float(len(sent)),
        visible=decided or [float("nan")],
        recorded=recorded or [float("nan")],
        undecided=count - len(decided),
    )


async def _recorded_ms(client: httpx.AsyncClient, registration_id: str, key: str) -> float:
    steps = await client.get(f"/v1/registrations/{registration_id}/history", headers=bearer(key))
    submitted, answered = steps.json()["items"][:2]
    delta = datetime.fromisoformat(answered["at"]) - datetime.fromisoformat(submitted["at"])
    return delta.total_seconds() * 1000


def plot(points: list[Point], path: Path = PLOT) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    styles = {"sqlite": "tab:blue", "postgresql": "tab:orange"}
    for database in sorted({point.database for point in points}):
        mine = [point for point in points if point.database == database]
        rates = [point.offered for point in mine]
        colour = styles.get(database, "tab:grey")
        for share, line in ((0.5, "-"), (0.99, ":")):
            axes.plot(
                rates,
                [percentile(point.visible, share) for point in mine],
                line,
                marker="o",
                color=colour,
                label=f"{database}: partner-visible p{int(share * 100)}",
            )
        axes.plot(
            rates,
            [percentile(point.recorded, 0.5) for point in mine],
            "--",
            marker="x",
            color=colour,
            alpha=0.6,
            label=f"{database}: recorded decision p50",
        )
    axes.set_yscale("log")
    axes.set_xlabel("offered registrations per second")
    axes.set_ylabel("ms (log scale)")
    axes.set_title(
        "POST to the decided status readable by the partner (2 shared cores)", fontsize=9
    )
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="5,15,30")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--poll-ms", type=float, default=25.0)
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args()
    rates = [float(rate) for rate in args.rates.split(",")]
    databases = args.databases.split(",")
    bootstrap = infra.start_kafka()
    pg_server = infra.start_postgres() if "postgresql" in databases else None
    points: list[Point] = []
    try:
        for database in databases:
            with stack_on(database, bootstrap, pg_server) as stack:
                # Warm-up, not counted: consumer groups joined, the policy stored, pools filled.
                warm = measure(stack, database, 5, 2, args.poll_ms / 1000, "warm")
                print(f"warm-up: {warm.row()}", flush=True)
                for number, rate in enumerate(rates):
                    point = measure(
                        stack, database, rate, args.seconds, args.poll_ms / 1000, f"r{number}"
                    )
                    print(point.row(), flush=True)
                    points.append(point)
    finally:
        if not infra.keep_running():
            infra.stop_kafka()
            if pg_server is not None:
                infra.stop_postgres()
    print(HEADER)
    for point in points:
        print(point.row())
    if not args.no_plot:
        plot(points)


if __name__ == "__main__":
    main()
