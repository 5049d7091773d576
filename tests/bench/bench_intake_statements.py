"""CPU per accepted registration of intake's three statements (the key read, the registration
and its history row), built per call as they were (``insert(table).values(**row)``) against
built once with the row as parameters (``deal_registration.adapters.repository``), and what
an ORM session costs over a Core connection. SQLite in memory, synchronous: SQLAlchemy's own
work alone, without the driver's thread or the event loop (issue 12, goal 3).

    .venv/bin/python -m tests.bench.bench_intake_statements
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, insert, select
from sqlalchemy.orm import Session

from deal_registration.adapters import repository as repo
from deal_registration.adapters.tables import (
    api_keys,
    metadata,
    partners,
    registration_history,
    registrations,
)

NOW = datetime.now(UTC)
CALLS = 3000


def registration() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "partner_id": "p1",
        "customer_name": "Acme",
        "customer_domain": "acme.example",
        "customer_country": "DE",
        "account_key": "acme.example",
        "product_line": "network",
        "deal_type": "new",
        "amount_value": Decimal("10.00"),
        "amount_currency": "EUR",
        "expected_close_date": NOW.date(),
        "contact_name": None,
        "contact_email": None,
        "description": None,
        "partner_reference": None,
        "status": "submitted",
        "role": "sourced",
        "submitted_at": NOW,
        "correlation_id": str(uuid.uuid4()),
        "updated_at": NOW,
    }


def history(registration_id: str) -> dict[str, Any]:
    return {
        "registration_id": registration_id,
        "status": "submitted",
        "actor": "partner:p1",
        "at": NOW,
        "recorded_at": NOW,
    }


def built_per_call(db: Session | Connection) -> None:
    row = registration()
    db.execute(insert(registrations).values(**row).returning(registrations.c.submission_seq))
    db.execute(insert(registration_history).values(**history(row["id"])))
    labelled = [column.label(f"partner__{column.name}") for column in partners.c]
    query = (
        select(api_keys, *labelled)
        .outerjoin(partners, partners.c.id == api_keys.c.partner_id)
        .where(api_keys.c.key_hash == "hash", api_keys.c.revoked_at.is_(None))
    )
    db.execute(query).mappings().first()


def built_once(db: Session | Connection) -> None:
    row = registration()
    db.execute(repo._INSERT_REGISTRATION, row)
    db.execute(repo._APPEND_HISTORY, history(row["id"]))
    db.execute(repo._FIND_API_KEY, {"key_hash": "hash"}).mappings().first()


def cpu_ms(work: Callable[[], None]) -> float:
    for _ in range(CALLS // 10):  # warm the compiled cache
        work()
    start = time.process_time()
    for _ in range(CALLS):
        work()
    return 1000 * (time.process_time() - start) / CALLS


def main() -> None:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    for _ in range(2):
        for name, statements in (("built per call", built_per_call), ("built once", built_once)):
            with Session(engine) as session, session.begin():
                ms = cpu_ms(lambda: statements(session))  # noqa: B023 (used at once)
            print(f"ORM session, {name}: {ms:.3f} ms CPU per registration's three statements")
        with engine.begin() as connection:
            ms = cpu_ms(lambda: built_once(connection))
        print(f"Core connection, built once: {ms:.3f} ms")
        ms = cpu_ms(lambda: session_transaction(engine))
        print(f"a transaction of one history row, ORM session: {ms:.3f} ms")
        ms = cpu_ms(lambda: core_transaction(engine))
        print(f"a transaction of one history row, Core connection: {ms:.3f} ms")


def session_transaction(engine: Engine) -> None:
    """A transaction as ``services.uow.TransactionRunner`` opens one: a session of its own."""
    with Session(engine) as session, session.begin():
        session.execute(repo._APPEND_HISTORY, history("r1"))


def core_transaction(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(repo._APPEND_HISTORY, history("r1"))


if __name__ == "__main__":
    main()
