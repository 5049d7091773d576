"""match_decisions: ops' decisions on possible duplicates, kept as labelled pairs (issue 17)

Revision ID: 0301
Revises: 0201
Create Date: 2026-12-02 17:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0301"
down_revision: str | Sequence[str] | None = "0201"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "match_decisions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("conflict_id", sa.String(36), nullable=False),
        sa.Column("registration_id", sa.String(36), nullable=False),
        sa.Column("matched_registration_id", sa.String(36), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("same", sa.Boolean(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "conflict_id", "matched_registration_id", name="uq_match_decisions_pair"
        ),
    )
    op.create_index("ix_match_decisions_decided_at", "match_decisions", ["decided_at"])


def downgrade() -> None:
    op.drop_index("ix_match_decisions_decided_at", table_name="match_decisions")
    op.drop_table("match_decisions")
