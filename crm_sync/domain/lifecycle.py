"""What a mirrored deal's registration status is, whatever order the lifecycle events arrive in.

Approvals travel on ``dealreg.decisions`` and withdrawals on ``dealreg.registrations``: no
consumer can order them. So the status is a merge that gives the same answer in any order
(commutative, idempotent): a withdrawal or an expiry is final, and an extension never makes a
withdrawn or expired registration approved again. DOMAIN.md: the CRM shows the truth.

Sales' view, and ours: a registration approved and withdrawn (in either delivery order) is
mirrored as a deal whose ``registration_status`` is ``withdrawn``, exactly as if the events had
arrived in order, so the CRM never depends on delivery order and sales can see the partner's
claim was given up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Higher rank wins; equal ranks are the same status.
_RANK = {"approved": 0, "expired": 1, "withdrawn": 2, "transferred": 3}


def merged_status(current: str | None, incoming: str) -> str:
    """The status after ``incoming``: transferred (to another registration) beats withdrawn
    beats expired beats approved."""
    if current is None:
        return incoming
    return max(current, incoming, key=lambda status: _RANK.get(status, -1))


def later(current: datetime | None, incoming: datetime | None) -> datetime | None:
    """Protection only ever moves forward: the later expiry of the two."""
    if current is None:
        return incoming
    if incoming is None:
        return current
    return max(current, incoming)


@dataclass(frozen=True)
class LifecycleNote:
    """What the lifecycle events said about a registration before (or after) its approval."""

    status: str | None = None
    protection_expires_at: datetime | None = None

    def merge(self, other: LifecycleNote) -> LifecycleNote:
        return LifecycleNote(
            status=other.status
            if self.status is None
            else (
                self.status if other.status is None else merged_status(self.status, other.status)
            ),
            protection_expires_at=later(self.protection_expires_at, other.protection_expires_at),
        )

    def applied_to(self, desired: dict[str, str]) -> dict[str, str]:
        """The owned fields with this note folded in (an approval's, or the current desired)."""
        updated = dict(desired)
        if self.status is not None:
            updated["registration_status"] = merged_status(
                desired.get("registration_status"), self.status
            )
        if self.protection_expires_at is not None:
            known = desired.get("protection_expires_at")
            known_at = datetime.fromisoformat(known) if known else None
            newest = later(known_at, self.protection_expires_at)
            if newest is not None:
                updated["protection_expires_at"] = newest.isoformat()
        return updated
