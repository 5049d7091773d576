"""Fixtures shared by every test folder: real Kafka and PostgreSQL, started once per session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from tests.support import infra


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


@pytest.fixture
async def postgres_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test (asyncpg URL for SQLAlchemy)."""
    async with fresh_database(postgres_server) as url:
        yield url


class fresh_database:
    """Create a uniquely named database and drop it afterwards."""

    def __init__(self, server: str) -> None:
        self._server = server
        self.name = f"t_{uuid.uuid4().hex[:16]}"

    async def __aenter__(self) -> str:
        connection = await asyncpg.connect(f"postgresql://{self._server}/postgres")
        try:
            await connection.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await connection.close()
        return f"postgresql+asyncpg://{self._server}/{self.name}"

    async def __aexit__(self, *_exc: object) -> None:
        connection = await asyncpg.connect(f"postgresql://{self._server}/postgres")
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await connection.close()


@pytest.fixture
def topic_prefix() -> str:
    """A namespace of topics and consumer groups of this test's own."""
    return f"t{uuid.uuid4().hex[:10]}."
