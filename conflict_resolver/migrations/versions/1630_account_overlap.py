"""Account overlap (issue 16): the partner keys learnt from dealreg.principals, each partner's
overlap-key version, its uploaded list of keyed hashes and both sides' opt-ins

Revision ID: 1630
Revises: 1620_attributions
Create Date: 2026-12-02 23:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1630"
down_revision: str | Sequence[str] | None = "1620_attributions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partner_keys",
        sa.Column("key_id", sa.String(length=36), nullable=False),
        sa.Column("partner_id", sa.String(length=36), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_index("ix_partner_keys_partner_id", "partner_keys", ["partner_id"])
    op.create_table(
        "overlap_keys",
        sa.Column("partner_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("partner_id"),
    )
    op.create_table(
        "overlap_uploads",
        sa.Column("partner_id", sa.String(length=36), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accounts", sa.Integer(), nullable=True),
        sa.Column("partner_opted_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("vendor_opted_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("vendor_opted_in_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("partner_id"),
    )
    op.create_table(
        "overlap_hashes",
        sa.Column("partner_id", sa.String(length=36), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("partner_id", "hash"),
    )


def downgrade() -> None:
    op.drop_table("overlap_hashes")
    op.drop_table("overlap_uploads")
    op.drop_table("overlap_keys")
    op.drop_index("ix_partner_keys_partner_id", table_name="partner_keys")
    op.drop_table("partner_keys")
