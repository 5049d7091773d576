"""Time and identifiers as ports: the domain never calls ``datetime.now`` or ``uuid4`` itself."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def new_id() -> str:
    """A new random identifier (UUID4 text)."""
    return str(uuid.uuid4())
