"""Intake throughput against its ceiling, measured in the same run (issue 12, goal 3).

    .venv/bin/python -m tests.bench.bench_intake [--seconds 15] [--concurrency 16,64,256]
        [--databases sqlite,postgresql] [--plot docs/bench/intake.png]

For each database kind it starts deal_registration as ``make run`` does (one uvicorn process,
the outbox relay publishing to a real broker, the rate limit lifted) and the ceiling
(`tests.bench.ceiling_app`: a bare FastAPI endpoint that validates the same body and inserts a
row and an outbox row in one transaction, same server settings), and drives both with wrk at
each concurrency, alternating so that the machine's noise falls on both. It reports accepted
registrations a second (202s only) and the p50 / p99 of the answer, the ratio to the ceiling,
and writes a plot. Needs ``wrk`` (Debian's package; ``make bench`` installs it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

os.environ.setdefault("DEALREG_TEST_KAFKA_PORT", "19692")
os.environ.setdefault("DEALREG_TEST_PG_PORT", "55693")

from tests.support import infra
from tests.support.api import create_partner
from tests.support.stack import ServiceStack, free_port

HERE = Path(__file__).resolve().parent
LUA = HERE / "intake.lua"
UNLIMITED = {"DEALREG_RATE_LIMIT_PER_SECOND": "1000000", "DEALREG_RATE_LIMIT_BURST": "1000000"}


@dataclass(frozen=True)
class Sample:
    target: str  # "dealreg" or "ceiling"
    database: str
    concurrency: int
    accepted_per_second: float
    p50_ms: float
    p99_ms: float
    other_answers: int
    socket_errors: int


def wrk(url: str, key: str, concurrency: int, seconds: int) -> dict[str, float]:
    threads = min(2, concurrency)
    output = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s",
         "-s", str(LUA), url],
        env={**os.environ, "DEALREG_KEY": key},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return dict(json.loads(output.strip().splitlines()[-1]))


def measure(
    target: str, database: str, url: str, key: str, concurrency: int, seconds: int
) -> Sample:
    figures = wrk(url, key, concurrency, seconds)
    return Sample(
        target=target,
        database=database,
        concurrency=concurrency,
        accepted_per_second=round(figures["accepted"] / figures["seconds"], 1),
        p50_ms=figures["p50_ms"],
        p99_ms=figures["p99_ms"],
        other_answers=int(figures["other"]),
        socket_errors=int(figures["errors"]),
    )


@contextmanager
def ceiling(database_url: str, workdir: Path) -> Iterator[str]:
    port = free_port()
    with (workdir / "ceiling.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "tests.bench.ceiling_app:app", "--host",
             "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"],
            env={**os.environ, "DATABASE_URL": database_url}, cwd=infra.ROOT,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/docs", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def intake(kafka: str, database_url: str, workdir: Path) -> Iterator[tuple[str, str]]:
    stack = ServiceStack(
        kafka_bootstrap=kafka,
        database_urls={"deal_registration": database_url},
        topic_prefix=f"bench{uuid.uuid4().hex[:6]}.",
        artifacts=workdir,
        extra_env=UNLIMITED,
    )
    try:
        stack.start("deal_registration")
        stack.wait_ready("deal_registration")
        url = stack.url("deal_registration")
        with httpx.Client(base_url=url, timeout=10) as client:
            key = str(create_partner(client, stack.admin_token, name="Bench Partner")["api_key"])
        yield url, key
    finally:
        stack.stop_all()


@contextmanager
def database_urls(kind: str, workdir: Path) -> Iterator[tuple[str, str]]:
    """Two fresh databases of one kind: dealreg's and the ceiling's."""
    if kind == "sqlite":
        yield (f"sqlite+aiosqlite:///{workdir / 'dealreg.sqlite'}",
               f"sqlite+aiosqlite:///{workdir / 'ceiling.sqlite'}")  # fmt: skip
        return
    server = infra.start_postgres()
    names = [f"bench_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    admin = ["psql", f"postgresql://{server}/postgres", "-q", "-c"]
    for name in names:
        subprocess.run([*admin, f'CREATE DATABASE "{name}"'], check=True)
    try:
        yield tuple(f"postgresql+asyncpg://{server}/{name}" for name in names)  # type: ignore[misc]
    finally:
        for name in names:
            subprocess.run([*admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=False)


def run_kind(kind: str, kafka: str, concurrencies: list[int], seconds: int) -> list[Sample]:
    samples: list[Sample] = []
    workdir = Path(tempfile.mkdtemp(prefix=f"dealreg-bench-intake-{kind}-"))
    with (
        database_urls(kind, workdir) as (dealreg_db, ceiling_db),
        intake(kafka, dealreg_db, workdir) as (dealreg_url, key),
        ceiling(ceiling_db, workdir) as ceiling_url,
    ):
        for url in (dealreg_url, ceiling_url):
            wrk(url, key, 8, 3)  # warm-up: connections, caches, the first pages of each table
        for concurrency in concurrencies:
            for target, url in (("dealreg", dealreg_url), ("ceiling", ceiling_url)):
                sample = measure(target, kind, url, key, concurrency, seconds)
                print(json.dumps(asdict(sample)), flush=True)
                samples.append(sample)
    shutil.rmtree(workdir, ignore_errors=True)
    return samples


def table(samples: list[Sample]) -> str:
    lines = [
        "| database | concurrency | dealreg accepted/s | p50 / p99 ms | ceiling accepted/s "
        "| p50 / p99 ms | dealreg / ceiling |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    by_key = {(s.target, s.database, s.concurrency): s for s in samples}
    for (target, database, concurrency), ours in by_key.items():
        if target != "dealreg":
            continue
        top = by_key[("ceiling", database, concurrency)]
        ratio = ours.accepted_per_second / top.accepted_per_second if top.accepted_per_second else 0
        lines.append(
            f"| {database} | {concurrency} | {ours.accepted_per_second:.0f} | "
            f"{ours.p50_ms:.0f} / {ours.p99_ms:.0f} | {top.accepted_per_second:.0f} | "
            f"{top.p50_ms:.0f} / {top.p99_ms:.0f} | {ratio:.0%} |"
        )
    return "\n".join(lines)


def plot(samples: list[Sample], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (rate, latency) = plt.subplots(1, 2, figsize=(11, 4.2))
    for database in sorted({s.database for s in samples}):
        for target, style in (("dealreg", "-o"), ("ceiling", "--s")):
            mine = sorted(
                (s for s in samples if s.database == database and s.target == target),
                key=lambda s: s.concurrency,
            )
            label = f"{target} ({database})"
            xs = [s.concurrency for s in mine]
            rate.plot(xs, [s.accepted_per_second for s in mine], style, label=label)
            latency.plot(xs, [s.p99_ms for s in mine], style, label=label)
    for axis, title, unit in (
        (rate, "Accepted registrations per second", "202s / s"),
        (latency, "p99 of the 202", "ms"),
    ):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("concurrent connections (wrk)")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--concurrency", default="16,64,256")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--plot", type=Path, default=infra.ROOT / "docs" / "bench" / "intake.png")
    parser.add_argument("--json", type=Path, default=infra.STATE / "bench" / "intake.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench_intake needs wrk (apt-get install wrk; `make bench` installs it)")
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    kafka = infra.start_kafka()
    try:
        samples = [
            sample
            for kind in args.databases.split(",")
            for sample in run_kind(kind, kafka, concurrencies, args.seconds)
        ]
    finally:
        infra.stop_kafka()
        infra.stop_postgres()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([asdict(s) for s in samples], indent=2))
    print(table(samples))
    plot(samples, args.plot)
    print(f"plot: {args.plot}; figures: {args.json}")


if __name__ == "__main__":
    main()
