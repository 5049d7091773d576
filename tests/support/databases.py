"""Fresh, empty databases for tests, on either engine the services support.

SQLite (aiosqlite, a file per database) is what ``make run`` uses; PostgreSQL (asyncpg) is
what CI and production use. Tests that touch a database run on both, so a fix made for one
cannot quietly break the other. SQLite databases are files, never ``:memory:``: a service
opens several connections (the relay, the consumers, the API) and each must see one database.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Literal, Protocol

import asyncpg
import pytest

DatabaseKind = Literal["sqlite", "postgresql"]
DATABASE_KINDS: tuple[DatabaseKind, ...] = ("sqlite", "postgresql")


class Databases(Protocol):
    """Makes one fresh database per call and removes it when the block ends."""

    kind: DatabaseKind

    def fresh(self) -> AbstractAsyncContextManager[str]:
        """A block holding a new database; yields its SQLAlchemy async URL."""
        ...


class SqliteDatabases:
    kind: DatabaseKind = "sqlite"

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    @asynccontextmanager
    async def fresh(self) -> AsyncIterator[str]:
        path = self._directory / f"t_{uuid.uuid4().hex[:16]}.sqlite"
        try:
            yield f"sqlite+aiosqlite:///{path}"
        finally:
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)


class PostgresDatabases:
    kind: DatabaseKind = "postgresql"

    def __init__(self, server: str) -> None:
        self._server = server

    @asynccontextmanager
    async def fresh(self) -> AsyncIterator[str]:
        async with fresh_database(self._server) as url:
            yield url


class fresh_database:
    """Create a uniquely named PostgreSQL database and drop it afterwards."""

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


def only_on(kind: DatabaseKind) -> pytest.MarkDecorator:
    """Run a test on one kind of database instead of both; say why where it is used."""
    return pytest.mark.parametrize("database_kind", [kind], indirect=True)
