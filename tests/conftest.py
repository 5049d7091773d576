"""Fixtures shared by every test folder: real Kafka, and fresh databases on SQLite and
PostgreSQL (the server started once per session, only when a test needs it)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support import infra
from tests.support.databases import (
    DATABASE_KINDS,
    DatabaseKind,
    Databases,
    PostgresDatabases,
    SqliteDatabases,
    fresh_database,
)

__all__ = ["fresh_database"]  # the benchmarks import it from here


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    bootstrap = infra.start_kafka()
    yield bootstrap
    if not infra.keep_running():
        infra.stop_kafka()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    server = infra.start_postgres()
    yield server
    if not infra.keep_running():
        infra.stop_postgres()


@pytest.fixture(scope="module", params=DATABASE_KINDS)
def database_kind(request: pytest.FixtureRequest) -> DatabaseKind:
    """Every database-backed test runs on SQLite (``make run``) and on PostgreSQL (CI).

    Module-scoped, so a module's shared app is built once per kind, not once per test.
    """
    kind: DatabaseKind = request.param
    return kind


@pytest.fixture(scope="module")
def databases(
    request: pytest.FixtureRequest,
    database_kind: DatabaseKind,
    tmp_path_factory: pytest.TempPathFactory,
) -> Databases:
    """Makes fresh databases of this run's kind; starts PostgreSQL only when it is asked for."""
    if database_kind == "postgresql":
        return PostgresDatabases(request.getfixturevalue("postgres_server"))
    return SqliteDatabases(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture
async def database_url(databases: Databases) -> AsyncIterator[str]:
    """A fresh, empty database for one test (SQLAlchemy async URL), on each engine."""
    async with databases.fresh() as url:
        yield url


@pytest.fixture
async def postgres_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database, for the few tests of PostgreSQL-only behaviour."""
    async with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture
def topic_prefix() -> str:
    """A namespace of topics and consumer groups of this test's own."""
    return f"t{uuid.uuid4().hex[:10]}."
