"""Direct-sales guard: direct opportunities filed under blocking keys; a registration may
have several conflict cases (``DIRECT_ENCROACHMENT`` cases name the protected registration)

Revision ID: 1530
Revises: 1520
Create Date: 2026-12-02 17:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1530"
down_revision: str | Sequence[str] | None = "1520"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0002 left the unique constraint unnamed: PostgreSQL named it, SQLite's batch mode needs one.
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _unique_name() -> str:
    if op.get_bind().dialect.name == "postgresql":
        return "conflicts_registration_id_key"
    return "uq_conflicts_registration_id"


def upgrade() -> None:
    op.create_table(
        "direct_opportunity_keys",
        sa.Column("blocking_key", sa.String(length=300), nullable=False),
        sa.Column("crm_system", sa.String(length=20), nullable=False),
        sa.Column("opportunity_id", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("blocking_key", "crm_system", "opportunity_id"),
    )
    with op.batch_alter_table("conflicts", naming_convention=_SQLITE_NAMES) as batch:
        batch.drop_constraint(_unique_name(), type_="unique")
        batch.create_index("ix_conflicts_registration", ["registration_id"], unique=False)
        batch.add_column(sa.Column("resolution", sa.String(length=30), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conflicts", naming_convention=_SQLITE_NAMES) as batch:
        batch.drop_column("resolution")
        batch.drop_index("ix_conflicts_registration")
        batch.create_unique_constraint(_unique_name(), ["registration_id"])
    op.drop_table("direct_opportunity_keys")
