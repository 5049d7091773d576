"""The database's word on a write another transaction made first, in the domain's terms."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError

from conflict_resolver.domain.protection import ProtectionConflictError


@contextmanager
def exclusivity_refusals(message: str) -> Iterator[None]:
    """Around a transaction whose write a primary key may refuse because another writer made
    it after our read (``protections``: a second holder; ``expiry_notices``: a notice another
    instance recorded): the refusal becomes a :class:`ProtectionConflictError` with
    ``message``, and the whole transaction has rolled back."""
    try:
        yield
    except IntegrityError as error:
        raise ProtectionConflictError(message) from error
