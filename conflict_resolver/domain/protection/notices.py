"""'Protection expires in N days': which of the policy's notices is due for a protection.

Rule, in DOMAIN.md's words: the holder is told by webhook, at the times the policy sets
(``expiry_notices``, e.g. 14, 3 and 1 days before), that its protection expires, each notice
once. A notice whose moment came before the protection was granted (a short window) is not
sent; when several are due at once (the job was paused), only the latest is sent and the
older ones are recorded as passed. Each expiry has its own notices: an extension's new expiry
is told again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class NoticePlan:
    send: timedelta | None  # the notice to send now, if any
    record: tuple[timedelta, ...]  # every notice now due, sent or passed (each once)


def notices_due(
    *,
    expires_at: datetime,
    granted_at: datetime | None,
    notices: Iterable[timedelta],
    recorded: Iterable[timedelta],
    now: datetime,
) -> NoticePlan:
    """The notices of this protection due at ``now`` that were not recorded yet."""
    if now >= expires_at:
        return NoticePlan(None, ())
    done = set(recorded)
    due = sorted(n for n in set(notices) if expires_at - n <= now and n not in done)
    if not due:
        return NoticePlan(None, ())
    latest = due[0]
    granted_first = granted_at is None or expires_at - latest >= granted_at
    return NoticePlan(latest if granted_first else None, tuple(due))


def notice_words(notice: timedelta) -> str:
    """``14 days``, ``1 day``, ``6 hours``: how long is left, as the partner reads it."""
    seconds = int(notice.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
