"""Two verdicts on a protection: may it be extended, and what does the policy decide for a
case at its review deadline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from conflict_resolver.domain.policy import Policy


@dataclass(frozen=True)
class ExtensionDecision:
    granted: bool
    reason: str
    reason_code: str | None = None
    protection_expires_at: datetime | None = None


def decide_extension(
    *,
    holds_protection: bool,
    expires_at: datetime | None,
    extensions_so_far: int,
    policy: Policy,
    now: datetime,
) -> ExtensionDecision:
    """A partner may extend once (default 30 days) before the window ends, if the deal is
    still open; otherwise the extension is denied with the reason."""
    if not holds_protection or expires_at is None:
        return ExtensionDecision(
            False, "Only a registration that holds protection can be extended.", "NOT_PROTECTED"
        )
    if expires_at <= now:
        return ExtensionDecision(False, "The protection window has already ended.", "WINDOW_OVER")
    if extensions_so_far >= policy.extension.max_extensions:
        return ExtensionDecision(
            False, "This registration has already been extended.", "ALREADY_EXTENDED"
        )
    new_expiry = expires_at + policy.extension.duration
    return ExtensionDecision(
        True,
        f"Extended: you hold protection until {new_expiry.date().isoformat()}.",
        protection_expires_at=new_expiry,
    )


@dataclass(frozen=True)
class DeadlineDecision:
    approve: bool
    reason: str


def decide_at_deadline(
    policy: Policy,
    *,
    submission_seq: int,
    competing_live_seqs: tuple[int, ...],
    protection_held_by_another: bool,
) -> DeadlineDecision | None:
    """What the policy decides for a case still open at its SLA deadline; None = escalate.

    ``approve_first`` approves the registration under review when it is the earliest live
    claim and nobody else holds protection (so approving cannot break exclusivity), else
    rejects it; ``reject`` rejects it; ``none`` leaves it to a human (escalation).
    """
    if policy.sla_auto_decision == "none":
        return None
    if policy.sla_auto_decision == "reject":
        return DeadlineDecision(False, "Not decided within the review deadline.")
    earliest = all(submission_seq < seq for seq in competing_live_seqs)
    if earliest and not protection_held_by_another:
        return DeadlineDecision(True, "Approved at the review deadline: registered first.")
    return DeadlineDecision(False, "Rejected at the review deadline: another claim came first.")
