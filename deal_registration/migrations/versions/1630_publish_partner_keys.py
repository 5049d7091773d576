"""Publish the live partner keys issued before this version (hashes only), so that the
resolver, which serves partners account overlap from its own copy (issue 16), knows them too

A data migration: one ``dealreg.principal.partner_key_issued`` event per live partner key,
staged in the outbox (the relay publishes it as any other). Keys issued from now on are
published when issued. Downgrading leaves published events be (they cannot be unpublished;
the resolver keeping a copy of live keys is harmless).

Revision ID: 1630
Revises: 1620_analytics
Create Date: 2026-12-02 23:10:00

"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from schemas.envelope import new_envelope
from schemas.principals import PartnerKeyIssued
from schemas.topics import topic_for

revision: str = "1630"
down_revision: str | Sequence[str] | None = "1620_analytics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCE = "/dealreg/deal_registration"


def upgrade() -> None:
    bind = op.get_bind()
    api_keys = sa.table(
        "api_keys",
        sa.column("id", sa.String),
        sa.column("key_hash", sa.String),
        sa.column("role", sa.String),
        sa.column("partner_id", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("revoked_at", sa.DateTime(timezone=True)),
    )
    outbox = sa.table(
        "outbox",
        sa.column("event_id", sa.String),
        sa.column("topic", sa.String),
        sa.column("event_type", sa.String),
        sa.column("partition_key", sa.String),
        sa.column("envelope", sa.JSON),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    live = bind.execute(
        sa.select(
            api_keys.c.id, api_keys.c.key_hash, api_keys.c.partner_id, api_keys.c.created_at
        ).where(
            api_keys.c.role == "partner",
            api_keys.c.revoked_at.is_(None),
            api_keys.c.partner_id.is_not(None),
        )
    )
    now = datetime.now(UTC)
    rows = []
    for key_id, key_hash, partner_id, created_at in live:
        issued_at = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
        payload = PartnerKeyIssued(
            key_id=key_id, partner_id=partner_id, key_hash=key_hash, issued_at=issued_at
        )
        envelope = new_envelope(
            payload,
            event_id=str(uuid.uuid4()),
            source=SOURCE,
            subject=key_id,
            time=now,
            correlation_id=str(uuid.uuid4()),
            causation_id=None,
            partition_key=key_id,
        )
        rows.append(
            {
                "event_id": envelope.id,
                "topic": topic_for(PartnerKeyIssued).name,
                "event_type": envelope.type,
                "partition_key": key_id,
                "envelope": envelope.model_dump(mode="json"),
                "created_at": now,
            }
        )
    if rows:
        bind.execute(sa.insert(outbox), rows)


def downgrade() -> None:
    pass
