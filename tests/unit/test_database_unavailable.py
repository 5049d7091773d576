"""Which database errors mean "unavailable now, retry" (503) rather than a bug (500)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import exc

from services.http.problems import is_database_unavailable


def wrapped(error_class: type[exc.DBAPIError], orig: Exception, **flags: bool) -> exc.DBAPIError:
    return error_class("SELECT 1", {}, orig, **flags)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        TimeoutError(),
        exc.TimeoutError("QueuePool limit reached, connection timed out"),
        wrapped(exc.OperationalError, sqlite3.OperationalError("database is locked")),
        wrapped(exc.InterfaceError, Exception("connection is closed")),
        wrapped(exc.DBAPIError, Exception("terminating connection"), connection_invalidated=True),
    ],
    ids=["refused", "timeout", "pool-timeout", "sqlite-locked", "interface", "invalidated"],
)
def test_an_unreachable_or_busy_database_is_unavailable(error: BaseException) -> None:
    assert is_database_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        wrapped(exc.OperationalError, sqlite3.OperationalError("no such table: partners")),
        wrapped(exc.ProgrammingError, Exception("syntax error at or near")),
        wrapped(exc.IntegrityError, Exception("duplicate key value")),
        ValueError("a bug"),
    ],
    ids=["sqlite-no-table", "syntax", "integrity", "bug"],
)
def test_a_wrong_query_is_a_bug_not_an_outage(error: BaseException) -> None:
    assert not is_database_unavailable(error)
