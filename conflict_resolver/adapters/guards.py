"""The database's word on exclusivity, in the domain's terms."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError

from conflict_resolver.domain.protection import ProtectionConflictError


@contextmanager
def exclusivity_refusals(message: str) -> Iterator[None]:
    """Around a transaction that writes a protection: the primary key of ``protections``
    refusing a second holder (another writer took it after our read) becomes a
    :class:`ProtectionConflictError` with ``message``."""
    try:
        yield
    except IntegrityError as error:
        raise ProtectionConflictError(message) from error
