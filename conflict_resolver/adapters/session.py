"""The names handlers use for what the stores give and take, so that no handler imports
SQLAlchemy (an import-linter contract): the session of one transaction, and a row as a store
returns it (read by column name)."""

from __future__ import annotations

from typing import TypeAlias

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

Session: TypeAlias = AsyncSession
Row: TypeAlias = RowMapping
