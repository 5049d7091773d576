"""The chaos run's moving parts as processes: PostgreSQL, a three-node Kafka cluster, the CRM
sandbox, and two uvicorn instances of every service, each one killable and restartable.

Everything is started through the project's own scripts (``deploy/scripts``) or as plain child
processes of the runner, and stopped by pid: never by name.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from tests.support.crm_sandbox import CrmSandbox
from tests.support.infra import ROOT, SCRIPTS
from tests.support.stack import SERVICES, free_port

ADMIN_TOKEN = "chaos-admin-token-0123456789abcdef"
HUBSPOT_SECRET = "chaos-hubspot-client-secret"
INSTANCES_PER_SERVICE = 2


def run_script(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(
        args, env={**os.environ, **env}, capture_output=True, text=True, check=False, cwd=ROOT
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip()


@dataclass
class Postgres:
    port: int

    @property
    def env(self) -> dict[str, str]:
        return {"PG_PORT": str(self.port)}

    def start(self) -> None:
        run_script([str(SCRIPTS / "postgres.sh"), "start"], self.env)

    def stop(self) -> None:
        run_script([str(SCRIPTS / "postgres.sh"), "stop"], self.env)

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://dealreg:dealreg@127.0.0.1:{self.port}/{database}"

    async def fresh_database(self, name: str) -> str:
        """Drop and create ``name``: every run starts from empty databases."""
        connection = await asyncpg.connect(
            f"postgresql://dealreg:dealreg@127.0.0.1:{self.port}/postgres"
        )
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return self.url(name)


@dataclass
class KafkaCluster:
    base_port: int
    data_dir: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            "KAFKA_CLUSTER_BASE_PORT": str(self.base_port),
            "KAFKA_CLUSTER_DIR": str(self.data_dir),
        }

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.base_port + n}" for n in range(3))

    def _script(self, *args: str) -> str:
        return run_script([str(SCRIPTS / "kafka-cluster.sh"), *args], self.env)

    def start(self) -> None:
        self._script("start")

    def stop(self) -> None:
        self._script("stop")

    def kill(self, node: int) -> None:
        self._script("kill", str(node))

    def restart(self, node: int) -> None:
        self._script("restart", str(node))


@dataclass
class Instance:
    """One uvicorn process of one service, on a port it keeps across restarts."""

    service: str
    index: int
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Stack:
    """The whole system for one chaos run."""

    run_dir: Path
    postgres: Postgres
    cluster: KafkaCluster
    topic_prefix: str
    sandbox: CrmSandbox = field(init=False)
    webhook_proxy_port: int = field(default_factory=free_port)
    database_urls: dict[str, str] = field(default_factory=dict)
    instances: list[Instance] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sandbox = CrmSandbox(artifacts=self.run_dir / "logs")
        for service in SERVICES:
            for index in range(1, INSTANCES_PER_SERVICE + 1):
                log_path = self.run_dir / "logs" / f"{service}-{index}.log"
                self.instances.append(Instance(service, index, free_port(), log_path))

    def of(self, service: str) -> list[Instance]:
        return [instance for instance in self.instances if instance.service == service]

    def urls(self, service: str) -> list[str]:
        return [instance.url for instance in self.of(service)]

    # --- start and stop -------------------------------------------------------------------

    async def start(self) -> None:
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.postgres.start)
        await asyncio.to_thread(self.cluster.start)
        for service in SERVICES:
            self.database_urls[service] = await self.postgres.fresh_database(f"chaos_{service}")
        await asyncio.to_thread(
            self.sandbox.start,
            hubspot_client_secret=HUBSPOT_SECRET,
            hubspot_webhook_url=f"http://127.0.0.1:{self.webhook_proxy_port}/v1/webhooks/hubspot",
            seed=7,
        )
        for service in SERVICES:
            await asyncio.to_thread(self.migrate, service)
        for instance in self.instances:
            self.spawn(instance)
        await self.wait_all_ready(within=180)

    def stop(self) -> None:
        for instance in self.instances:
            if instance.alive():
                assert instance.process is not None
                instance.process.terminate()
        for instance in self.instances:
            if instance.process is None:
                continue
            try:
                instance.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                instance.process.kill()
                instance.process.wait()
        self.sandbox_resume()
        self.sandbox.stop()
        for action in (self.cluster.stop, self.postgres.stop):
            try:
                action()
            except RuntimeError as error:
                print(f"chaos: {error}", file=sys.stderr)

    # --- the services ---------------------------------------------------------------------

    def env(self, service: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DEALREG_ENV": "test",
            "DEALREG_SERVICE_NAME": service,
            "DEALREG_DATABASE_URL": self.database_urls[service],
            "DEALREG_KAFKA_BOOTSTRAP_SERVERS": self.cluster.bootstrap,
            "DEALREG_KAFKA_TOPIC_PREFIX": self.topic_prefix,
            "DEALREG_KAFKA_REPLICATION_FACTOR": "3",
            "DEALREG_KAFKA_MIN_INSYNC_REPLICAS": "2",
            "DEALREG_ADMIN_TOKEN": ADMIN_TOKEN,
            "DEALREG_OUTBOX_POLL_INTERVAL_SECONDS": "0.1",
            "DEALREG_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
            "DEALREG_WEBHOOK_RETRY_SCHEDULE_SECONDS": "[1, 2, 5, 10]",
        }
        if service == "crm_sync":
            env.update(self.crm_env())
        return env

    def crm_env(self) -> dict[str, str]:
        credentials = self.sandbox.credentials()
        return {
            "DEALREG_CRM_CONNECTOR": "hubspot",
            "DEALREG_CRM_HUBSPOT_BASE_URL": self.sandbox.url,
            "DEALREG_CRM_HUBSPOT_TOKEN": credentials["hubspot_token"],
            "DEALREG_CRM_HUBSPOT_APP_ID": credentials["hubspot_app_id"],
            "DEALREG_CRM_HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET,
            "DEALREG_CRM_WEBHOOK_PUBLIC_BASE_URL": f"http://127.0.0.1:{self.webhook_proxy_port}",
            "DEALREG_CRM_RECONCILE_INTERVAL_SECONDS": "15",
            "DEALREG_CRM_HTTP_BACKOFF_INITIAL_SECONDS": "0.1",
            "DEALREG_CRM_HTTP_BACKOFF_MAX_SECONDS": "2",
            "DEALREG_CRM_PUSH_BACKOFF_INITIAL_SECONDS": "0.5",
            "DEALREG_CRM_PUSH_BACKOFF_MAX_SECONDS": "10",
        }

    def migrate(self, service: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "services.migrations", service, "upgrade", "head"],
            env=self.env(service),
            cwd=ROOT,
            check=True,
            capture_output=True,
        )

    def spawn(self, instance: Instance) -> None:
        with instance.log_path.open("ab") as log:
            instance.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    f"{instance.service}.app:create_app",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(instance.port),
                    "--no-access-log",
                ],
                env=self.env(instance.service),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self, instance: Instance) -> None:
        """SIGKILL, as a crash: no shutdown hooks run."""
        if instance.process is not None and instance.alive():
            instance.process.send_signal(signal.SIGKILL)
            instance.process.wait(timeout=30)

    async def ready(self, instance: Instance) -> bool:
        try:
            async with httpx.AsyncClient(timeout=3) as client:
                return (await client.get(f"{instance.url}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def wait_ready(self, instance: Instance, *, within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not instance.alive():
                self.spawn(instance)  # it gave up (e.g. broker down at start): a supervisor's job
            if await self.ready(instance):
                return True
            await asyncio.sleep(0.5)
        return False

    async def wait_all_ready(self, *, within: float) -> bool:
        results = await asyncio.gather(
            *(self.wait_ready(instance, within=within) for instance in self.instances)
        )
        return all(results)

    async def all_ready(self) -> bool:
        return all(await asyncio.gather(*(self.ready(i) for i in self.instances)))

    # --- the CRM sandbox going away (its state is in memory, so it is paused, not stopped) --

    def sandbox_pause(self) -> None:
        if self.sandbox.process is not None and self.sandbox.process.poll() is None:
            self.sandbox.process.send_signal(signal.SIGSTOP)

    def sandbox_resume(self) -> None:
        if self.sandbox.process is not None and self.sandbox.process.poll() is None:
            self.sandbox.process.send_signal(signal.SIGCONT)
