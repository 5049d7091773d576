"""The three services as real processes (uvicorn), for end-to-end tests.

Each service gets its own database (migrated with Alembic first), a free port and the test's
topic prefix, and logs to ``test-artifacts/<test>/<service>.log``. The databases are all of
one kind: a SQLite file per service (as ``make run`` has it) or a PostgreSQL database each.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import httpx

from tests.support.databases import DatabaseKind, Databases
from tests.support.infra import ROOT

SERVICES = ("deal_registration", "conflict_resolver", "crm_sync")


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free now that this process has not handed out before. The kernel may offer a
    port it just offered again at once (nothing bound it yet), and two fixtures then share it:
    crm_sync's port came back as the sandbox's Salesforce port, and crm_sync could not bind."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


@asynccontextmanager
async def service_databases(databases: Databases) -> AsyncIterator[dict[str, str]]:
    """One fresh database per service, removed when the block ends."""
    async with AsyncExitStack() as opened:
        yield {service: await opened.enter_async_context(databases.fresh()) for service in SERVICES}


@dataclass
class ServiceStack:
    kafka_bootstrap: str
    database_urls: dict[str, str]
    topic_prefix: str
    artifacts: Path
    admin_token: str = "test-admin-token-0123456789abcdef"
    extra_env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def database_kind(self) -> DatabaseKind:
        return "sqlite" if self.database_urls[SERVICES[0]].startswith("sqlite") else "postgresql"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def url_of_intake(self) -> str:
        return self.url("deal_registration") if "deal_registration" in self.ports else ""

    def env(self, service: str) -> dict[str, str]:
        return {
            **os.environ,
            "DEALREG_ENV": "test",
            "DEALREG_SERVICE_NAME": service,
            "DEALREG_DATABASE_URL": self.database_urls[service],
            "DEALREG_KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "DEALREG_KAFKA_TOPIC_PREFIX": self.topic_prefix,
            "DEALREG_ADMIN_TOKEN": self.admin_token,
            "DEALREG_OUTBOX_POLL_INTERVAL_SECONDS": "0.05",
            # The console's partner figures come from deal_registration (its port, once chosen).
            "DEALREG_INTAKE_URL": self.url_of_intake(),
            **self.extra_env,
        }

    def migrate(self, *services: str) -> None:
        """Run the services' Alembic upgrades side by side (as ops would, one CLI each)."""
        running = {
            service: subprocess.Popen(
                [sys.executable, "-m", "services.migrations", service, "upgrade", "head"],
                env=self.env(service),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for service in services
        }
        for service, process in running.items():
            output, _ = process.communicate()
            if process.returncode != 0:
                raise RuntimeError(f"migrating {service} failed:\n{output.decode()}")

    def start(self, service: str, *, migrate: bool = True) -> None:
        if migrate:
            self.migrate(service)
        self.ports.setdefault(service, free_port())
        self.artifacts.mkdir(parents=True, exist_ok=True)
        # The child keeps its own copy of the descriptor; ours closes when the block ends.
        with (self.artifacts / f"{service}.log").open("ab") as log:
            self.processes[service] = self._spawn(service, log)

    def _spawn(self, service: str, log: BinaryIO) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                f"{service}.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.ports[service]),
                "--no-access-log",
            ],
            env=self.env(service),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, service: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[service]
            if process.poll() is not None:
                raise RuntimeError(
                    f"{service} exited with {process.returncode}; see {self.artifacts}"
                )
            try:
                if httpx.get(f"{self.url(service)}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{service} not ready after {timeout}s; see {self.artifacts}")

    def start_all(self) -> None:
        self.migrate(*SERVICES)
        for service in SERVICES:
            self.start(service, migrate=False)
        for service in SERVICES:
            self.wait_ready(service)

    def kill(self, service: str, sig: signal.Signals = signal.SIGKILL) -> None:
        process = self.processes[service]
        process.send_signal(sig)
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
