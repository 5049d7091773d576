"""The outbox and inbox tables every service has in its own database.

They are defined by a function taking the service's ``MetaData`` so each service's Alembic
migrations own their copy.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database.

    SQLite keeps no time zone and hands back naive values; comparing those with aware ones
    fails (or worse, compares wrongly). This type refuses naive input and always returns UTC.
    Its DDL is plain ``TIMESTAMP WITH TIME ZONE``, so migrations use ``sa.DateTime(timezone=True)``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


def outbox_table(metadata: MetaData) -> Table:
    """Events waiting to be relayed to Kafka, written in the transaction that caused them."""
    return Table(
        "outbox",
        metadata,
        Column("id", BigIntId, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("partition_key", String(500), nullable=False),
        Column("envelope", JSON, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("published_at", UtcDateTime(), nullable=True),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("last_error", Text, nullable=True),
        # W3C trace context of the transaction that staged the event (services.tracing).
        Column("traceparent", String(64), nullable=True),
        Index(
            "ix_outbox_unpublished",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
        Index("ix_outbox_published_at", "published_at"),  # retention finds old published rows
    )


def inbox_table(metadata: MetaData) -> Table:
    """Event ids a consumer has applied, committed with the effects of applying them."""
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("processed_at", UtcDateTime(), nullable=False),
        Index("ix_inbox_processed_at", "processed_at"),  # retention finds old rows
    )
