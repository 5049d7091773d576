"""W3C trace context with each outbox row (the relay writes it into the Kafka record)

Revision ID: 1301
Revises: 0301
Create Date: 2026-12-02 14:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1301"
down_revision: str | Sequence[str] | None = "0301"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("traceparent")
