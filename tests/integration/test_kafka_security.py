"""The services' Kafka clients against the project's own broker in SASL/SCRAM mode with ACLs.

The broker (``deploy/scripts/kafka.sh`` with ``KAFKA_SASL=1``) has the super user ``admin``
and SCRAM-SHA-512 users without any ACL. What users and other services can observe: the right
credentials publish and consume end to end, a wrong password gets nothing, a principal with no
WRITE ACL cannot produce on ``dealreg.principals``, and an ops key event on that topic from a
source other than deal_registration is dead-lettered and mints no key.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr
from sqlalchemy import MetaData, Table

from deal_registration.adapters.tables import inbox as intake_inbox
from deal_registration.adapters.tables import outbox as intake_outbox
from schemas.envelope import EventEnvelope, new_envelope
from schemas.flows import CRM_SYNC
from schemas.principals import OpsKeyIssued
from schemas.topics import CRM, PRINCIPALS
from services.clock import SystemClock, new_id
from services.db import create_engine, create_session_factory
from services.events import Emitter, EventContext, Subscriptions, UnitOfWork
from services.http.problems import ProblemError
from services.http.security import hash_api_key, new_api_key
from services.kafka.acls import ServiceAcls, acl_command_args, service_acls
from services.kafka.admin import ensure_topics
from services.kafka.consumer import KafkaEventConsumer
from services.kafka.dead_letters import DeadLetterFilter, list_dead_letters, read_topic
from services.kafka.probe import BrokerProbe
from services.kafka.producer import KafkaEventPublisher
from services.kafka.security import ClientOptions, client_options
from services.migrations import upgrade
from services.principals import OpsAuthenticator, ops_keys_table, principal_handlers
from services.runtime import ServiceRuntime
from services.settings import DatabaseSettings, KafkaSettings, SecuritySettings, ServiceSettings
from services.tables import inbox_table
from services.uow import TransactionRunner
from tests.support import infra
from tests.support.consumers import running

pytestmark = pytest.mark.integration

CONSUMER = "conflict_resolver.principals"
ACL_COMMAND = "org.apache.kafka.tools.AclCommand"


@pytest.fixture(scope="module")
def sasl_bootstrap() -> Iterator[str]:
    bootstrap = infra.start_sasl_kafka()
    yield bootstrap
    if not infra.keep_running():
        infra.stop_sasl_kafka()


def security(user: str, password: str) -> ClientOptions:
    """What a service configured with ``DEALREG_KAFKA_*`` hands its clients."""
    return client_options(
        KafkaSettings(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username=user,
            sasl_password=SecretStr(password),
        )
    )


ADMIN = ("admin", infra.SASL_ADMIN_PASSWORD)


@pytest.fixture
async def topics(sasl_bootstrap: str, topic_prefix: str) -> str:
    await ensure_topics(sasl_bootstrap, prefix=topic_prefix, security=security(*ADMIN))
    return topic_prefix


@contextlib.asynccontextmanager
async def publisher(
    bootstrap: str, prefix: str, creds: tuple[str, str], options: ClientOptions | None = None
) -> AsyncIterator[KafkaEventPublisher]:
    started = KafkaEventPublisher(
        bootstrap_servers=bootstrap,
        client_id="test",
        topic_prefix=prefix,
        security=options or security(*creds),
    )
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


def ops_key_issued(source: str) -> tuple[str, EventEnvelope[Any]]:
    """A fresh ops key (the bearer token) and the ``OpsKeyIssued`` event ``source`` sends."""
    key, principal = new_api_key(), new_id()
    payload = OpsKeyIssued(
        key_id=new_id(),
        principal_id=principal,
        name="Olivia Ops",
        key_hash=hash_api_key(key),
        issued_at=datetime.now(UTC),
    )
    envelope = new_envelope(
        payload,
        event_id=new_id(),
        source=source,
        subject=principal,
        time=datetime.now(UTC),
        correlation_id=new_id(),
        causation_id=None,
        partition_key=principal,
    )
    return key, envelope


@dataclass
class OpsKeys:
    """A service's copy of the ops keys, filled from ``dealreg.principals`` by its consumer."""

    authenticator: OpsAuthenticator
    consumer: KafkaEventConsumer

    async def is_live(self, key: str) -> bool:
        try:
            await self.authenticator.authenticate(key)
        except ProblemError:
            return False
        return True


@contextlib.asynccontextmanager
async def ops_keys_service(
    bootstrap: str, prefix: str, dead_letters: KafkaEventPublisher, database: Path
) -> AsyncIterator[OpsKeys]:
    metadata = MetaData()
    ops_keys: Table = ops_keys_table(metadata)
    inbox = inbox_table(metadata)
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    transactions = TransactionRunner(create_session_factory(engine), None)
    consumer = KafkaEventConsumer(
        group_id=CONSUMER,
        topics=[PRINCIPALS.name],
        handlers=principal_handlers(
            transactions=transactions,
            ops_keys=ops_keys,
            inbox=inbox,
            consumer=CONSUMER,
            clock=SystemClock(),
        ),
        bootstrap_servers=bootstrap,
        dead_letters=dead_letters,
        topic_prefix=prefix,
        security=security(*ADMIN),
    )
    try:
        async with running(consumer):
            yield OpsKeys(
                OpsAuthenticator(
                    transactions=transactions, ops_keys=ops_keys, admin_token="x" * 32
                ),
                consumer,
            )
    finally:
        await engine.dispose()


async def wait_until_async(check: Callable[[], Awaitable[bool]], within: float = 60) -> None:
    """Wait for an async condition; a bound on waiting, not a speed goal."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition never held")
        await asyncio.sleep(0.05)


async def eventually_live(keys: OpsKeys, key: str) -> None:
    async def live() -> bool:
        return await keys.is_live(key)

    await wait_until_async(live)


async def test_with_credentials_an_ops_key_is_published_and_consumed_end_to_end(
    sasl_bootstrap: str, topics: str, tmp_path: Path
) -> None:
    probe = BrokerProbe(
        bootstrap_servers=sasl_bootstrap,
        client_id="test-probe",
        timeout_seconds=10,
        cache_seconds=0,
        security=security(*ADMIN),
    )
    assert (await probe.reachable())[0]
    async with publisher(sasl_bootstrap, topics, ADMIN) as events:
        key, issued = ops_key_issued("/dealreg/deal_registration")
        await events.publish(PRINCIPALS.name, [issued])
        async with ops_keys_service(sasl_bootstrap, topics, events, tmp_path / "a.db") as keys:
            await eventually_live(keys, key)


async def test_an_ops_key_from_another_source_is_dead_lettered_and_mints_nothing(
    sasl_bootstrap: str, topics: str, tmp_path: Path
) -> None:
    async with publisher(sasl_bootstrap, topics, ADMIN) as events:
        forged_key, forged = ops_key_issued("/dealreg/crm_sync")
        evil_key, evil = ops_key_issued("/evil")
        real_key, real = ops_key_issued("/dealreg/deal_registration")
        for envelope in (forged, evil, real):  # one partition each: order across them is free
            await events.publish(PRINCIPALS.name, [envelope])
        async with ops_keys_service(sasl_bootstrap, topics, events, tmp_path / "b.db") as keys:
            await eventually_live(keys, real_key)
            letters: list[Any] = []

            async def both_dead_lettered() -> bool:
                letters[:] = await list_dead_letters(
                    sasl_bootstrap,
                    topic_prefix=topics,
                    where=DeadLetterFilter(consumer=CONSUMER),
                    security=security(*ADMIN),
                )
                return len(letters) == 2

            await wait_until_async(both_dead_lettered)
            assert not await keys.is_live(forged_key)
            assert not await keys.is_live(evil_key)
    assert {letter.header("ce_id") for letter in letters} == {forged.id, evil.id}
    assert all("untrusted source" in letter.reason for letter in letters)
    assert any("'/evil'" in letter.reason for letter in letters)


async def test_a_wrong_password_is_refused(sasl_bootstrap: str, topics: str) -> None:
    wrong = KafkaEventPublisher(
        bootstrap_servers=sasl_bootstrap,
        client_id="test",
        topic_prefix=topics,
        security=security("deal-registration", "not-the-password"),
    )
    with pytest.raises(KafkaConnectionError):
        await wrong.start()
    probe = BrokerProbe(
        bootstrap_servers=sasl_bootstrap,
        client_id="test-probe",
        timeout_seconds=10,
        cache_seconds=0,
        security=security("deal-registration", "not-the-password"),
    )
    reachable, detail = await probe.reachable()
    assert not reachable, detail


async def test_a_principal_without_any_acl_cannot_produce_on_principals(
    sasl_bootstrap: str, topics: str
) -> None:
    intruder = ("intruder", infra.SASL_USERS["intruder"])
    _key, forged = ops_key_issued("/dealreg/deal_registration")
    # No WRITE anywhere: refused already the idempotent producer's id, else on the topic.
    with pytest.raises((TopicAuthorizationFailedError, ClusterAuthorizationFailedError)):
        async with publisher(sasl_bootstrap, topics, intruder) as events:
            await events.publish(PRINCIPALS.name, [forged])


def apply_generated_acls(acls: ServiceAcls, bootstrap: str, workdir: Path) -> None:
    """Run the generated ``kafka-acls`` commands with the broker's own AclCommand."""
    admin_config = workdir / "admin.properties"
    admin_config.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="admin" password="{infra.SASL_ADMIN_PASSWORD}";\n'
    )
    admin_config.chmod(0o600)
    for args in acl_command_args(acls, bootstrap=bootstrap, command_config=str(admin_config)):
        subprocess.run(
            ["java", "-cp", str(infra.ROOT / "deploy/kafka/lib/*"), ACL_COMMAND, *args],
            check=True,
            capture_output=True,
        )


async def test_crm_sync_with_its_generated_acls_writes_crm_but_not_principals(
    sasl_bootstrap: str, topics: str, tmp_path: Path
) -> None:
    acls = service_acls(CRM_SYNC, prefix=topics)
    await asyncio.to_thread(apply_generated_acls, acls, sasl_bootstrap, tmp_path)
    crm_sync = (acls.principal, infra.SASL_USERS[acls.principal])
    async with publisher(sasl_bootstrap, topics, crm_sync) as events:
        await events.send_raw(CRM.name, key=b"k", value=b"{}", headers=[])
        _key, forged = ops_key_issued("/dealreg/deal_registration")
        with pytest.raises(TopicAuthorizationFailedError):
            await events.publish(PRINCIPALS.name, [forged])


def over_tls(cafile: Path | None) -> ClientOptions:
    """SASL_SSL as admin, trusting ``cafile`` (None: only the system's CAs)."""
    return client_options(
        KafkaSettings(
            security_protocol="SASL_SSL",
            sasl_username=ADMIN[0],
            sasl_password=SecretStr(ADMIN[1]),
            ssl_cafile=None if cafile is None else str(cafile),
        )
    )


async def test_over_tls_a_client_trusting_the_ca_publishes_and_consumes(
    sasl_bootstrap: str, topics: str
) -> None:
    tls_bootstrap = f"127.0.0.1:{infra.SASL_TLS_PORT}"
    _key, issued = ops_key_issued("/dealreg/deal_registration")
    options = over_tls(infra.sasl_ca())
    async with publisher(tls_bootstrap, topics, ADMIN, options) as events:
        await events.publish(PRINCIPALS.name, [issued])
    records = await read_topic(tls_bootstrap, topics + PRINCIPALS.name, security=options)
    assert [dict(record.headers)["ce_id"].decode() for record in records] == [issued.id]


async def test_over_tls_a_broker_certificate_from_an_unknown_ca_is_refused(
    sasl_bootstrap: str, topics: str
) -> None:
    untrusting = KafkaEventPublisher(
        bootstrap_servers=f"127.0.0.1:{infra.SASL_TLS_PORT}",
        client_id="test",
        topic_prefix=topics,
        security=over_tls(None),
    )
    with pytest.raises(KafkaConnectionError):
        await untrusting.start()


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


async def test_a_service_runtime_configured_for_sasl_creates_topics_publishes_and_consumes(
    sasl_bootstrap: str, tmp_path: Path
) -> None:
    """``DEALREG_KAFKA_*`` reach every client the runtime builds (topics, producer, consumers)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'runtime.db'}"
    await asyncio.to_thread(upgrade, "deal_registration", url)
    settings = ServiceSettings(
        log_json=False,
        database=DatabaseSettings(url=url),
        security=SecuritySettings(admin_token="t" * 32, env="test"),
        kafka=KafkaSettings(
            bootstrap_servers=sasl_bootstrap,
            topic_prefix=f"t{new_id()[:10]}.",
            security_protocol="SASL_PLAINTEXT",
            sasl_username=ADMIN[0],
            sasl_password=SecretStr(ADMIN[1]),
        ),
    )
    runtime = ServiceRuntime(settings=settings, outbox=intake_outbox, clock=_Clock())
    unit = UnitOfWork(
        transactions=runtime.transactions,
        clock=_Clock(),
        inbox=intake_inbox,
        emitter=Emitter(source="/dealreg/deal_registration", outbox=intake_outbox),
    )
    seen: list[str] = []

    async def on_issued(issued: OpsKeyIssued, event: EventContext) -> None:
        seen.append(issued.key_id)

    runtime.subscribe(
        Subscriptions(consumer="test.principals", unit=unit, trusted_senders_only=True).on(
            OpsKeyIssued, on_issued
        )
    )
    await runtime.start()
    try:
        checks = runtime.readiness_checks()

        async def kafka_and_consumers_ready() -> bool:
            return (await checks["kafka"]()).ok and (await checks["consumers"]()).ok

        await wait_until_async(kafka_and_consumers_ready)
        _key, issued = ops_key_issued("/dealreg/deal_registration")
        await runtime.publisher.publish(PRINCIPALS.name, [issued])

        async def consumed() -> bool:
            return seen == [issued.data.key_id]

        await wait_until_async(consumed)
    finally:
        await runtime.stop()
