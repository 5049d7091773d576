"""What crm_sync's use cases name of the database without importing SQLAlchemy themselves."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

# The session of the transaction a use case runs in (``services.uow.TransactionRunner``).
Session = AsyncSession
