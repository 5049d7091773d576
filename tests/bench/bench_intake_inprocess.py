"""Intake's CPU per accepted registration in one process, without the network or the server.

    .venv/bin/python -m tests.bench.bench_intake_inprocess [--databases sqlite,postgresql]
        [--registrations 800] [--concurrency 16] [--rounds 3]

deal_registration runs in this process (as the integration tests run it: a fresh database,
the outbox relay publishing to Kafka) and registrations are posted through httpx's ASGI
transport by ``--concurrency`` tasks, so the whole ASGI stack runs, the client's share
included. Each round prints the process's CPU time (``time.process_time``) per accepted
registration: a figure that moves much less with the machine's load than rates do, to compare
two trees back to back. Kafka and PostgreSQL listen on ``DEALREG_TEST_KAFKA_PORT`` and
``DEALREG_TEST_PG_PORT`` as in the tests; a broker or server already listening there is used
as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DEALREG_TEST_KAFKA_PORT", "19692")
os.environ.setdefault("DEALREG_TEST_PG_PORT", "55693")

from tests.support import infra
from tests.support.api import registration_body
from tests.support.databases import Databases, PostgresDatabases, SqliteDatabases
from tests.support.intake import in_days, intake_app


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _kafka() -> str:
    port = int(os.environ["DEALREG_TEST_KAFKA_PORT"])
    return f"127.0.0.1:{port}" if _listening(port) else infra.start_kafka()


def _databases(kind: str) -> Databases:
    if kind == "sqlite":
        return SqliteDatabases(Path(tempfile.mkdtemp()))
    port = int(os.environ["DEALREG_TEST_PG_PORT"])
    server = f"dealreg:dealreg@127.0.0.1:{port}" if _listening(port) else infra.start_postgres()
    return PostgresDatabases(server)


async def measure(kind: str, registrations: int, concurrency: int, rounds: int) -> None:
    async with intake_app(
        kafka_bootstrap=_kafka(), databases=_databases(kind), topic_prefix=f"inproc{os.getpid()}."
    ) as app:
        key = (await app.new_partner())["api_key"]
        body = registration_body()
        body["expected_close_date"] = in_days(120)

        async def post(count: int) -> None:
            for _ in range(count):
                answer = await app.register(key, body)
                assert answer.status_code == 202, answer.text

        await post(50)  # warm-up: caches, pools, the producer's metadata
        for number in range(rounds):
            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.gather(*(post(registrations // concurrency) for _ in range(concurrency)))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            posted = registrations // concurrency * concurrency
            print(
                f"{kind} round {number}: {1000 * cpu / posted:.2f} ms CPU per 202, "
                f"{posted / wall:.0f} a second",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--registrations", type=int, default=800)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for kind in args.databases.split(","):
        asyncio.run(measure(kind, args.registrations, args.concurrency, args.rounds))


if __name__ == "__main__":
    main()
