"""The one place the resolver's SQL differs between PostgreSQL and SQLite: upserts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from services.db import dialect_name


def upsert(
    session: AsyncSession,
    table: Table,
    *,
    values: dict[str, Any],
    index_elements: list[str],
    update_columns: list[str],
) -> Insert:
    """``INSERT ... ON CONFLICT DO UPDATE`` in the session's dialect (PostgreSQL or SQLite)."""
    dialect: Any = postgresql if dialect_name(session) == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=index_elements,
        set_={column: statement.excluded[column] for column in update_columns},
    )
