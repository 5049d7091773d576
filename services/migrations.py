"""Alembic, driven from code: each service keeps its migrations in ``<service>/migrations``.

``python -m services.migrations <service> upgrade head`` (the database URL comes from
``DEALREG_DATABASE_URL``). Each service's ``env.py`` calls :func:`run_env` with its metadata.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any, Literal

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from services.db import DatabaseTimeouts, create_engine
from services.logging import configure_logging_from_env
from services.tables import UtcDateTime

SERVICES = ("deal_registration", "conflict_resolver", "crm_sync")


def alembic_config(service: str, database_url: str) -> Config:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; one of {SERVICES}")
    config = Config()
    config.set_main_option("script_location", f"{service}:migrations")
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, database_url), revision)


def downgrade(service: str, database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(service, database_url), revision)


def run_env(metadata: MetaData) -> None:
    """The body of every service's ``env.py`` (online mode, async engine)."""
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("sqlalchemy.url is not set")
    asyncio.run(_run_online(url, metadata))


async def _run_online(url: str, metadata: MetaData) -> None:
    engine = create_engine(url, timeouts=DatabaseTimeouts(statement=None))
    async with engine.connect() as connection:
        await connection.run_sync(_run_migrations, metadata)
        await connection.commit()
    await engine.dispose()


def _run_migrations(connection: Connection, metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def _render_item(type_: str, obj: Any, _autogen_context: Any) -> str | Literal[False]:
    """Autogenerate writes our ``UtcDateTime`` as the plain column type it compiles to."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def main() -> None:
    service, action, revision = ([*sys.argv[1:], "", "", "head"])[:3]
    # Alembic's "Running upgrade ..." lines in the same JSON as the services' (a Job's logs).
    configure_logging_from_env(service or "migrations")
    url = os.environ["DEALREG_DATABASE_URL"]
    if action == "upgrade":
        upgrade(service, url, revision or "head")
    elif action == "downgrade":
        downgrade(service, url, revision)
    else:
        raise SystemExit("usage: python -m services.migrations <service> upgrade|downgrade [rev]")


if __name__ == "__main__":
    main()
