"""A batch's new claims, their keys and their protections, held back and written together.

Deciding a batch one submission after another, each decision inserted its claim, its keys and
(if approved) its protection, three round trips of the four a decision cost. Here they are
held in the transaction (``defer_writes``) and written in one statement a table when the
batch ends (``write_pending``), or earlier, the moment any statement could see them: a
statement that names ``claims``, ``claim_keys`` or ``protections`` (or whose tables are not
known: raw SQL) writes them first (``_before_execute``, SQLAlchemy's ``do_orm_execute``
hook), unless its caller checked it cannot (``INDEPENDENT``: the candidate statement, when
no held key is among its probe keys and no held protection among its holder keys). So
every statement reads and writes as if each row had been inserted when the decision made it,
and the order of the rows in each table is the order of the decisions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ClauseElement, Table, TextClause, event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql.util import find_tables

from conflict_resolver.adapters.tables import claim_keys, claims, protections

# Execution option: the caller checked that the statement cannot see the held rows.
INDEPENDENT = "dealreg_independent_of_pending"
# Execution option: the statement writes held rows (``write_pending``), nothing else.
_WRITES_HELD = "dealreg_writes_held_rows"
# session.info: what a batch read of candidates holds (``claims_store``); valid only while the
# transaction changes no claim, key or protection that existed before the batch, so any other
# write to those tables drops it (``_before_execute``).
SNAPSHOT = "conflict_resolver.candidates_snapshot"

_PENDING = "conflict_resolver.pending_writes"  # session.info: this transaction's held rows
_HELD_TABLES = (claims, claim_keys, protections)  # written in this order: claims first


@dataclass
class Pending:
    rows: dict[Table, list[dict[str, Any]]] = field(
        default_factory=lambda: {table: [] for table in _HELD_TABLES}
    )
    claims: set[str] = field(default_factory=set)  # registration ids of the held claims
    keys: set[tuple[str, str]] = field(default_factory=set)  # (blocking key, line) held
    held: set[tuple[str, str]] = field(default_factory=set)  # (account key, line) protected
    # Since the batch began, held or written: its new claims, their keys and protections, for
    # the batch's candidate read to answer with (``SNAPSHOT``; valid while it is: a change to
    # any of these rows is a write that drops it).
    new_claims: dict[str, dict[str, Any]] = field(default_factory=dict)  # registration id ->
    new_postings: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # key -> ids
    new_protections: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> its row
    new_holders: dict[tuple[str, str], str] = field(default_factory=dict)  # held key -> id

    def take(self) -> dict[Table, list[dict[str, Any]]]:
        """The held rows, forgotten here (they are being written)."""
        rows = self.rows
        self.rows = {table: [] for table in _HELD_TABLES}
        self.claims.clear()
        self.keys.clear()
        self.held.clear()
        return rows

    def sees(self, keys: Iterable[str], holder_keys: Iterable[str], product_line: str) -> bool:
        """Whether the candidate statement for ``keys`` and ``holder_keys`` could read a held
        row: a held claim is found by its held keys or as the holder of a held protection
        (a protection is held only with its claim)."""
        return any((key, product_line) in self.keys for key in keys) or any(
            (key, product_line) in self.held for key in holder_keys
        )


def defer_writes(session: AsyncSession) -> None:
    """Hold this transaction's new claims, keys and protections until ``write_pending``
    (or a statement that could see them)."""
    if _PENDING in session.info:
        return
    session.info[_PENDING] = Pending()
    event.listen(session.sync_session, "do_orm_execute", _before_execute)


def pending(session: AsyncSession) -> Pending | None:
    """The transaction's held rows, if it holds them back."""
    held: Pending | None = session.info.get(_PENDING)
    return held


def hold_claim(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Hold a new claim's row; False if the transaction does not hold rows back."""
    held = pending(session)
    if held is None:
        return False
    held.rows[claims].append(row)
    held.claims.add(row["registration_id"])
    held.new_claims[row["registration_id"]] = row
    return True


def hold_keys(session: AsyncSession, registration_id: str, rows: list[dict[str, Any]]) -> bool:
    """Hold a held claim's key rows; False if its claim is not held (they are written now)."""
    held = pending(session)
    if held is None or registration_id not in held.claims:
        return False
    held.rows[claim_keys].extend(rows)
    filed = {(row["blocking_key"], row["product_line"]) for row in rows}
    held.keys.update(filed)
    for posting in dict.fromkeys((row["blocking_key"], row["product_line"]) for row in rows):
        held.new_postings.setdefault(posting, []).append(registration_id)
    return True


def hold_protection(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Hold a held claim's new protection; False if its claim is not held."""
    held = pending(session)
    if held is None or row["registration_id"] not in held.claims:
        return False
    held.rows[protections].append(row)
    held.held.add((row["account_key"], row["product_line"]))
    held.new_protections[row["registration_id"]] = row
    held.new_holders[row["account_key"], row["product_line"]] = row["registration_id"]
    return True


async def write_pending(session: AsyncSession) -> None:
    """Write the held rows now, one statement a table."""
    held = pending(session)
    if held is None:
        return
    for table, rows in held.take().items():
        if rows:
            await session.execute(insert(table), rows, execution_options={_WRITES_HELD: True})


def _before_execute(state: ORMExecuteState) -> None:
    """Write the held rows before a statement that could read or change them; forget the
    batch's candidate read before a statement that changes what it read."""
    options = state.execution_options
    if options.get(_WRITES_HELD) or options.get(INDEPENDENT):
        return
    info = state.session.info
    held: Pending | None = info.get(_PENDING)
    if (held is None or not held.claims) and SNAPSHOT not in info:
        return
    if not _touches_held_tables(state.statement):
        return
    if SNAPSHOT in info and not state.is_select:
        del info[SNAPSHOT]
    if held is not None and held.claims:
        _write_now(state.session, held)


def _touches_held_tables(statement: Any) -> bool:
    """Whether the statement names claims, claim_keys or protections (raw SQL: assumed).

    Remembered per statement shape: SQLAlchemy's cache key (made once per statement object
    and used again to look up its compiled form) names its tables and leaves out the bound
    values, so one walk of a shape's clauses answers for every statement of that shape."""
    if not isinstance(statement, ClauseElement) or isinstance(statement, TextClause):
        return True
    cache_key = statement._generate_cache_key()
    if cache_key is None:  # not cacheable: walk it each time
        return _names_held_tables(statement)
    touches = _TOUCHES.get(cache_key.key)
    if touches is None:
        if len(_TOUCHES) >= _TOUCHES_KEPT:
            _TOUCHES.clear()  # shapes are few (the code's statements); a bound all the same
        touches = _TOUCHES[cache_key.key] = _names_held_tables(statement)
    return touches


_TOUCHES: dict[Any, bool] = {}  # statement shape (cache key) -> ``_names_held_tables``
_TOUCHES_KEPT = 2_000


def _names_held_tables(statement: ClauseElement) -> bool:
    tables = find_tables(statement, check_columns=True, include_crud=True, include_joins=True)
    return not set(tables).isdisjoint(_HELD_TABLES)


def _write_now(session: Session, held: Pending) -> None:
    """``write_pending`` from inside a statement's execution (the session's own greenlet)."""
    for table, rows in held.take().items():
        if rows:
            session.execute(insert(table), rows, execution_options={_WRITES_HELD: True})
