"""Intake throughput against its ceiling, measured in the same run (issue 12, goal 3).

    .venv/bin/python -m tests.bench.bench_intake [--seconds 15] [--concurrency 16,64,256]
        [--databases sqlite,postgresql] [--plot docs/bench/intake.png] [--profile flame.svg]

For each database kind it starts deal_registration as ``make run`` does (one uvicorn process,
the outbox relay publishing to a real broker, the rate limit lifted) and the ceiling
(`tests.bench.ceiling_app`: a bare FastAPI endpoint that validates the same body and inserts a
row and an outbox row in one transaction, same server settings), and drives both with wrk at
each concurrency, alternating so that the machine's noise falls on both. It reports accepted
registrations a second (202s only), the p50 / p99 of the answer, the ratio to the ceiling and
each server's CPU time per accepted registration, and writes a plot. Then, for goal 3's
"p99 under 50 ms at half the peak rate", it posts to deal_registration at a steady half of the
highest rate it reached (open loop) and reports the 202's p50 / p99. Needs ``wrk`` (Debian's
package; ``make bench`` installs it).
"""

from __future__ import annotations

import argparse
import asyncio
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

os.environ.setdefault("DEALREG_TEST_KAFKA_PORT", "19692")
os.environ.setdefault("DEALREG_TEST_PG_PORT", "55693")

from services.outbox import _RELAY_LOCK_ID as RELAY_LOCK_ID
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
    # The server's CPU time (user + system, all its threads) per accepted registration: unlike
    # the rate, it hardly moves when other work shares the cores.
    cpu_ms_per_accepted: float = 0.0


def wrk(url: str, key: str, concurrency: int, seconds: int) -> dict[str, float]:
    threads = min(2, concurrency)
    output = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s",
         "-s", str(LUA), url],
        env={**os.environ, "DEALREG_KEY": key},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return dict(json.loads(output.strip().splitlines()[-1]))


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    target: str, database: str, url: str, key: str, concurrency: int, seconds: int, pid: int
) -> Sample:
    cpu_before = cpu_seconds(pid)
    figures = wrk(url, key, concurrency, seconds)
    cpu = cpu_seconds(pid) - cpu_before
    return Sample(
        target=target,
        database=database,
        concurrency=concurrency,
        accepted_per_second=round(figures["accepted"] / figures["seconds"], 1),
        p50_ms=figures["p50_ms"],
        p99_ms=figures["p99_ms"],
        other_answers=int(figures["other"]),
        socket_errors=int(figures["errors"]),
        cpu_ms_per_accepted=round(1000 * cpu / figures["accepted"], 2)
        if figures["accepted"]
        else 0,
    )


@dataclass(frozen=True)
class SteadySample:
    """deal_registration at a steady offered rate (open loop): goal 3's "p99 under 50 ms at
    half the peak rate"."""

    database: str
    offered_per_second: float
    accepted: int
    p50_ms: float
    p99_ms: float
    other_answers: int


def steady(database: str, url: str, key: str, rate: float, seconds: int) -> SteadySample:
    """POST registrations at ``rate`` a second for ``seconds``: one task each, sent at its
    scheduled moment, so a slow answer delays no later request (no coordinated omission); a
    202's latency counts from that moment."""
    return asyncio.run(_steady(database, url, key, rate, seconds))


async def _steady(database: str, url: str, key: str, rate: float, seconds: int) -> SteadySample:
    count = max(1, int(rate * seconds))
    close = (datetime.now(UTC).date() + timedelta(days=60)).isoformat()
    latencies: list[float] = []
    other = 0
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:
        start = time.perf_counter() + 0.5

        async def one(index: int) -> None:
            nonlocal other
            due = start + index / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            body = {
                "customer": {"name": f"Steadyco {index} Systems", "country": "US",
                             "domain": f"steadyco-{index}-{uuid.uuid4().hex[:8]}.com"},
                "product_line": "network-security",
                "deal_type": "new",
                "amount": {"value": "50000.00", "currency": "USD"},
                "expected_close_date": close,
            }  # fmt: skip
            try:
                response = await client.post(
                    "/v1/registrations", json=body, headers={"Authorization": f"Bearer {key}"}
                )
            except httpx.HTTPError:
                other += 1
                return
            if response.status_code == 202:
                latencies.append((time.perf_counter() - due) * 1000)
            else:
                other += 1

        await asyncio.gather(*(one(index) for index in range(count)))
    ordered = sorted(latencies) or [float("nan")]
    return SteadySample(
        database=database,
        offered_per_second=round(rate, 1),
        accepted=len(latencies),
        p50_ms=round(ordered[len(ordered) // 2], 1),
        p99_ms=round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
        other_answers=other,
    )


@contextmanager
def ceiling(database_url: str, workdir: Path) -> Iterator[tuple[str, int]]:
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
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def intake(kafka: str, database_url: str, workdir: Path) -> Iterator[tuple[str, str, int]]:
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
        yield url, key, stack.processes["deal_registration"].pid
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


@contextmanager
def profiled(pid: int, seconds: int, svg: Path | None) -> Iterator[None]:
    """A py-spy flame graph of the process ``pid`` (and its children) over the next
    ``seconds``, written to ``svg``; nothing when ``svg`` is None. py-spy is not in the lock:
    ``.venv/bin/pip install py-spy`` in your own environment."""
    if svg is None:
        yield
        return
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        sys.exit("--profile needs py-spy: .venv/bin/pip install py-spy (not in the lock)")
    svg.parent.mkdir(parents=True, exist_ok=True)
    # FILE.txt: collapsed stacks (one line per stack and its count), for reading as text.
    kind = "raw" if svg.suffix == ".txt" else "flamegraph"
    recorder = subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--duration",
         str(seconds), "--format", kind, "--output", str(svg)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        recorder.wait(timeout=seconds + 60)


@contextmanager
def relay_paused(database_url: str | None) -> Iterator[None]:
    """deal_registration's outbox relay standing by while the block runs (None: as usual).

    A session of psql's own holds the relay's lock (PostgreSQL's advisory lock that keeps one
    relay per database), so the relay that deal_registration starts waits for it and publishes
    nothing: the registrations stay in the outbox, and the CPU measured is intake's alone."""
    if database_url is None:
        yield
        return
    url = database_url.replace("postgresql+asyncpg://", "postgresql://")
    lock = f"SELECT pg_advisory_lock({RELAY_LOCK_ID})"
    holder = subprocess.Popen(
        ["psql", url, "-q", "-c", lock, "-c", "SELECT pg_sleep(86400)"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    held = (
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "  # noqa: S608 (our constant)
        f"AND objid = {RELAY_LOCK_ID:d}"
    )
    try:
        while subprocess.run(
            ["psql", url, "-tAq", "-c", held], capture_output=True, text=True, check=True
        ).stdout.strip() in ("", "0"):
            time.sleep(0.1)
        yield
    finally:
        holder.terminate()
        holder.wait(timeout=20)


def run_kind(
    kind: str,
    kafka: str,
    concurrencies: list[int],
    seconds: int,
    profile: Path | None = None,
    pause_relay: bool = False,
) -> tuple[list[Sample], SteadySample]:
    """``profile``: a flame graph of deal_registration under the first concurrency's load;
    ``pause_relay``: deal_registration's outbox relay stands by (PostgreSQL only). Then
    deal_registration at a steady half of the highest rate it reached here."""
    samples: list[Sample] = []
    workdir = Path(tempfile.mkdtemp(prefix=f"dealreg-bench-intake-{kind}-"))
    with (
        database_urls(kind, workdir) as (dealreg_db, ceiling_db),
        relay_paused(dealreg_db if pause_relay else None),
        intake(kafka, dealreg_db, workdir) as (dealreg_url, key, pid),
        ceiling(ceiling_db, workdir) as (ceiling_url, ceiling_pid),
    ):
        for url in (dealreg_url, ceiling_url):
            wrk(url, key, 8, 3)  # warm-up: connections, caches, the first pages of each table
        for concurrency in concurrencies:
            for target, url, server in (
                ("dealreg", dealreg_url, pid),
                ("ceiling", ceiling_url, ceiling_pid),
            ):
                svg = profile if target == "dealreg" and concurrency == concurrencies[0] else None
                with profiled(pid, seconds, svg):
                    sample = measure(target, kind, url, key, concurrency, seconds, server)
                print(json.dumps(asdict(sample)), flush=True)
                samples.append(sample)
        peak = max(s.accepted_per_second for s in samples if s.target == "dealreg")
        half = steady(kind, dealreg_url, key, max(1.0, peak / 2), seconds)
        print(json.dumps(asdict(half)), flush=True)
    shutil.rmtree(workdir, ignore_errors=True)
    return samples, half


def table(samples: list[Sample]) -> str:
    lines = [
        "| database | concurrency | dealreg accepted/s | p50 / p99 ms | ceiling accepted/s "
        "| p50 / p99 ms | dealreg / ceiling | CPU ms per 202: dealreg / ceiling |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
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
            f"{top.p50_ms:.0f} / {top.p99_ms:.0f} | {ratio:.0%} | "
            f"{ours.cpu_ms_per_accepted:.1f} / {top.cpu_ms_per_accepted:.1f} |"
        )
    return "\n".join(lines)


def steady_table(halves: list[SteadySample]) -> str:
    lines = [
        "| database | offered /s (half the peak) | accepted | p50 / p99 ms of the 202 | other |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {h.database} | {h.offered_per_second:,.1f} | {h.accepted} "
        f"| {h.p50_ms:,.0f} / {h.p99_ms:,.0f} | {h.other_answers} |"
        for h in halves
    ]
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
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="write a py-spy flame graph (SVG) of deal_registration under the first "
        "concurrency's load, on the first database (needs py-spy, not in the lock)",
    )
    parser.add_argument(
        "--relay-paused",
        action="store_true",
        help="deal_registration's outbox relay stands by, holding its lock from another "
        "session: intake's CPU without the publishing (PostgreSQL only)",
    )
    args = parser.parse_args()
    if args.relay_paused and args.databases != "postgresql":
        sys.exit("--relay-paused holds PostgreSQL's relay lock: use --databases postgresql")
    if shutil.which("wrk") is None:
        sys.exit("bench_intake needs wrk (apt-get install wrk; `make bench` installs it)")
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    kafka = infra.start_kafka()
    try:
        runs = [
            run_kind(
                kind,
                kafka,
                concurrencies,
                args.seconds,
                args.profile if index == 0 else None,
                pause_relay=args.relay_paused,
            )
            for index, kind in enumerate(args.databases.split(","))
        ]
        samples = [sample for swept, _ in runs for sample in swept]
        halves = [half for _, half in runs]
    finally:
        infra.stop_kafka()
        infra.stop_postgres()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([asdict(s) for s in samples], indent=2))
    print(table(samples))
    print(steady_table(halves))
    plot(samples, args.plot)
    print(f"plot: {args.plot}; figures: {args.json}")


if __name__ == "__main__":
    main()
