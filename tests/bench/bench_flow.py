"""Time to decision through the real services, against Kafka's own round trip in the same run.

    .venv/bin/python -m tests.bench.bench_flow [registrations, default 1000]

Starts Kafka and PostgreSQL (the test scripts, bench ports), the three services as processes,
posts registrations from 10 partners over 8 connections (made-up companies, a quarter of
them another spelling of an earlier one), and reads each registration's history: the time
from ``submitted`` to the rules' answer (approved, rejected or pending_review) is the time to
a decision, through the outbox relay, Kafka, the resolver and back.
The ceiling is a bare aiokafka produce-then-consume round trip of the same number of records,
measured in the same run: the ratio is what the machine's noise does not move much.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

os.environ.setdefault("DEALREG_TEST_KAFKA_PORT", "19592")
os.environ.setdefault("DEALREG_TEST_PG_PORT", "55493")

from tests.bench.bench_whatif import company
from tests.conftest import fresh_database
from tests.support import infra
from tests.support.api import bearer, create_partner, registration_body
from tests.support.stack import SERVICES, ServiceStack


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def kafka_round_trip(bootstrap: str, count: int) -> float:
    """Seconds to produce ``count`` 1 KiB records (acks=all) and consume them all back."""
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=12, replication_factor=1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await producer.start()
    await consumer.start()
    started = time.perf_counter()
    for index in range(count):
        await producer.send(topic, b"x" * 1024, key=str(index % 97).encode())
    await producer.flush()
    received = 0
    while received < count:
        batches = await consumer.getmany(timeout_ms=1000)
        received += sum(len(records) for records in batches.values())
    elapsed = time.perf_counter() - started
    await producer.stop()
    await consumer.stop()
    return elapsed


async def run_flow(count: int, bootstrap: str, server: str) -> dict[str, float]:
    databases = {service: fresh_database(server) for service in SERVICES}
    urls = {service: await database.__aenter__() for service, database in databases.items()}
    stack = ServiceStack(
        kafka_bootstrap=bootstrap,
        database_urls=urls,
        topic_prefix=f"bench{uuid.uuid4().hex[:6]}.",
        artifacts=Path(tempfile.mkdtemp(prefix="dealreg-bench-")),
        extra_env={
            "DEALREG_RATE_LIMIT_PER_SECOND": "100000",
            "DEALREG_RATE_LIMIT_BURST": "100000",
            "DEALREG_LOG_LEVEL": "WARNING",
        },
    )
    try:
        stack.start_all()
        return await asyncio.to_thread(_drive, stack, count)
    finally:
        stack.stop_all()
        for database in databases.values():
            await database.__aexit__(None, None, None)


def _drive(stack: ServiceStack, count: int) -> dict[str, float]:
    client = httpx.Client(base_url=stack.url("deal_registration"), timeout=30)
    partners = [create_partner(client, stack.admin_token, name=f"Partner {i}") for i in range(10)]

    rng = random.Random(11)
    spellings = [company(index if index % 4 else index // 4, rng) for index in range(count)]

    def submit(index: int) -> tuple[str, str]:
        key = partners[index % len(partners)]["api_key"]
        name, domain = spellings[index]  # every fourth is another spelling of an earlier one
        body = registration_body(name=name, domain=domain)
        response = client.post("/v1/registrations", json=body, headers=bearer(key))
        response.raise_for_status()
        return response.json()["id"], key

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        submitted = list(pool.map(submit, range(count)))
    accepted_in = time.perf_counter() - started
    _wait_decided(client, submitted)
    drained_in = time.perf_counter() - started
    latencies = [_time_to_decision(client, rid, key) for rid, key in submitted]
    paced = _paced_latencies(client, partners, spellings[:100], per_second=10)
    client.close()
    return {
        "paced_p50": statistics.median(paced),
        "paced_p95": percentile(paced, 0.95),
        "accepted_per_second": count / accepted_in,
        "decided_per_second": count / drained_in,
        "p50": statistics.median(latencies),
        "p95": percentile(latencies, 0.95),
        "max": max(latencies),
        "drained_in": drained_in,
    }


def _paced_latencies(
    client: httpx.Client,
    partners: list[dict[str, str]],
    spellings: list[tuple[str, str | None]],
    *,
    per_second: float,
) -> list[float]:
    """Time to decision when registrations arrive slower than the system's capacity."""
    submitted = []
    for index, (name, domain) in enumerate(spellings):
        key = partners[index % len(partners)]["api_key"]
        body = registration_body(name=f"{name} Paced", domain=domain and f"paced-{domain}")
        response = client.post("/v1/registrations", json=body, headers=bearer(key))
        response.raise_for_status()
        submitted.append((response.json()["id"], key))
        time.sleep(1 / per_second)
    _wait_decided(client, submitted)
    return [_time_to_decision(client, rid, key) for rid, key in submitted]


def _time_to_decision(client: httpx.Client, registration_id: str, key: str) -> float:
    steps = client.get(f"/v1/registrations/{registration_id}/history", headers=bearer(key))
    submitted, answered = steps.json()["items"][:2]
    return (
        datetime.fromisoformat(answered["at"]) - datetime.fromisoformat(submitted["at"])
    ).total_seconds()


def _wait_decided(client: httpx.Client, submitted: list[tuple[str, str]]) -> list[dict[str, str]]:
    views: dict[str, dict[str, str]] = {}
    deadline = time.monotonic() + 600
    while len(views) < len(submitted) and time.monotonic() < deadline:
        for registration_id, key in submitted:
            if registration_id in views:
                continue
            view = client.get(f"/v1/registrations/{registration_id}", headers=bearer(key)).json()
            if view["status"] != "submitted":
                views[registration_id] = view
        time.sleep(0.2)
    return [views[registration_id] for registration_id, _ in submitted]


async def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    bootstrap = infra.start_kafka()
    server = infra.start_postgres()
    try:
        ceiling = await kafka_round_trip(bootstrap, count)
        flow = await run_flow(count, bootstrap, server)
    finally:
        infra.stop_kafka()
        infra.stop_postgres()
    print(f"| registrations | {count} |")
    print(f"| accepted (POST 202) per second | {flow['accepted_per_second']:.0f} |")
    print(f"| decided per second (submit to last decision) | {flow['decided_per_second']:.0f} |")
    print(
        f"| time to decision p50 / p95 / max | {flow['p50'] * 1000:.0f} / "
        f"{flow['p95'] * 1000:.0f} / {flow['max'] * 1000:.0f} ms |"
    )
    print(
        f"| time to decision at 10 registrations/s, p50 / p95 | {flow['paced_p50'] * 1000:.0f} / "
        f"{flow['paced_p95'] * 1000:.0f} ms |"
    )
    print(f"| bare Kafka round trip of {count} records (ceiling) | {ceiling:.2f} s |")
    print(f"| whole flow / bare Kafka round trip | {flow['drained_in'] / ceiling:.1f}x |")


if __name__ == "__main__":
    asyncio.run(main())
