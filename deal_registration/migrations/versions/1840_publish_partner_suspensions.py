"""Publish the suspensions made before this version, so that the resolver, which serves
partners account overlap from its own copy, refuses a suspended partner's writes there too

A data migration: one ``dealreg.principal.partner_status_changed`` event per partner
suspended now, staged in the outbox (the relay publishes it as any other). Changes from now on
are published when made. Downgrading leaves published events be.

Revision ID: 1840_publish_partner_suspensions
Revises: 1630
Create Date: 2026-12-03 02:00:00

"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from schemas.envelope import new_envelope
from schemas.principals import PartnerStatusChanged
from schemas.topics import topic_for

revision: str = "1840_publish_partner_suspensions"
down_revision: str | Sequence[str] | None = "1630"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCE = "/dealreg/deal_registration"


def upgrade() -> None:
    bind = op.get_bind()
    partners = sa.table(
        "partners",
        sa.column("id", sa.String),
        sa.column("status", sa.String),
        sa.column("updated_at", sa.DateTime(timezone=True)),
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
    suspended = bind.execute(
        sa.select(partners.c.id, partners.c.updated_at).where(partners.c.status == "suspended")
    )
    now = datetime.now(UTC)
    rows = []
    for partner_id, updated_at in suspended:
        changed_at = updated_at if updated_at.tzinfo else updated_at.replace(tzinfo=UTC)
        payload = PartnerStatusChanged(
            partner_id=partner_id, status="suspended", changed_at=changed_at
        )
        envelope = new_envelope(
            payload,
            event_id=str(uuid.uuid4()),
            source=SOURCE,
            subject=partner_id,
            time=now,
            correlation_id=str(uuid.uuid4()),
            causation_id=None,
            partition_key=partner_id,
        )
        rows.append(
            {
                "event_id": envelope.id,
                "topic": topic_for(PartnerStatusChanged).name,
                "event_type": envelope.type,
                "partition_key": partner_id,
                "envelope": envelope.model_dump(mode="json"),
                "created_at": now,
            }
        )
    if rows:
        bind.execute(sa.insert(outbox), rows)


def downgrade() -> None:
    pass
