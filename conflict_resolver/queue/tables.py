"""The queue's own tables, in conflict_resolver's database (same ``MetaData`` as the rest).

``ops_keys`` is conflict_resolver's copy of the sales-ops keys deal_registration issues, filled
from ``dealreg.principals`` through the inbox (hashes only). ``conflict_history`` is the
append-only record of what happened to a case after it was opened: assigned, escalated,
decided, with who and why. ``match_decisions`` keeps each ops decision on a possible duplicate
as a labelled pair with its features (issue 17): the evidence ``dealreg matching calibrate``
learns the review band from.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Index, String, Table, Text, UniqueConstraint

from conflict_resolver.adapters.tables import metadata
from services.principals import ops_keys_table
from services.tables import BigIntId, UtcDateTime

ops_keys = ops_keys_table(metadata)

conflict_history = Table(
    "conflict_history",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("conflict_id", String(36), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("action", String(20), nullable=False),  # assigned, escalated, decided
    Column("actor", String(100), nullable=False),
    Column("reason", Text, nullable=True),
    Column("detail", JSON, nullable=True),
    Index("ix_conflict_history_case", "conflict_id", "id"),
)

match_decisions = Table(
    "match_decisions",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("conflict_id", String(36), nullable=False),
    Column("registration_id", String(36), nullable=False),
    Column("matched_registration_id", String(36), nullable=False),
    Column("similarity", Float, nullable=False),
    Column("same", Boolean, nullable=False),  # ops said: the same account
    Column("features", JSON, nullable=False),  # name score, domain, fields, both customers
    Column("decided_by", String(100), nullable=False),
    Column("decided_at", UtcDateTime(), nullable=False),
    UniqueConstraint("conflict_id", "matched_registration_id", name="uq_match_decisions_pair"),
    Index("ix_match_decisions_decided_at", "decided_at"),
)
