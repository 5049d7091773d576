"""Every change to a protection, as pure functions that return one :class:`Outcome`.

The rules (``rules.decide``) say *what* a registration gets; this module says what that does
to the claims, the ``protections`` table, the blocking keys, the conflict queue and the event
history, for every path that changes a protection: a decision by the rules, an approval or
rejection from the conflict queue (a person or the SLA policy), an ending (expired,
withdrawn, won, lost), an extension, and the waitlist moving up. The automatic path, the queue
and the what-if replay all call these functions; the handlers only load the situation, call
one of them and persist the outcome (``adapters.outcomes``). No clock, no ids, no I/O: ``now``
and new case ids come in as arguments.

Rules of engagement written here, in DOMAIN.md's words:

- A protection ends early when the deal is won, lost or withdrawn, and at its expiry.
  If it ends without a win, the next in line on the waitlist, by submission order, is
  re-evaluated against the rules at that moment (``WAITLIST_PROMOTED`` when approved, or
  sent to review when the rules say so); a waitlisted registration leaves the waitlist when
  its own expected close date passes (``WAITLIST_LEFT``, told to the partner), whether a
  protection ends first or the waitlist job finds it.
- A partner may extend (``policy.extension.max_extensions`` times, by its duration) before the
  window ends, while it holds protection (``rules.decide_extension``).
- Sales ops may move a live protection to a registration in review or on the waitlist for
  the same customer and product line, in one step (``transfers``).
- A holder whose window has passed holds nothing, even before the expiry job has ended it:
  whoever finds it (a decision, an ops approval, the SLA policy) ends it properly first.
- Sales ops (or the SLA policy) approving a registration from the queue gives it the same
  window as the rules would (tier and product line). First-to-register still holds: an
  approval is refused while another registration holds live protection, or while a
  registration accepted *before* the one under review waits on the waitlist for the same
  account and product line (it is entitled first; ending the stale holder promotes it).
"""

from conflict_resolver.domain.protection.answers import (
    APPEAL_RULE,
    APPEALED,
    RETURNED_FOR_EDIT,
    reopen_on_appeal,
    return_for_edit,
)
from conflict_resolver.domain.protection.decisions import (
    WAITLIST_LEFT,
    WaitlistMove,
    WaitlistStep,
    leave_waitlist,
    leaves_waitlist,
    record_decision,
    summary_of,
    waitlist_move,
    waitlist_step,
)
from conflict_resolver.domain.protection.endings import (
    EXTENSION_REJECTED,
    EXTENSION_REVIEW,
    Ending,
    close_deal,
    close_waitlist,
    end,
    expire,
    extend,
    extension_from_review,
    withdraw,
)
from conflict_resolver.domain.protection.outcome import (
    CaseToClose,
    CaseToOpen,
    CaseToReopen,
    Cause,
    Claim,
    ClaimUpdate,
    Emission,
    IncumbentWrite,
    KeyFiling,
    Outcome,
    ProtectionConflictError,
    ProtectionMove,
    ProtectionWrite,
    WaitlistToMove,
    customer_keys,
    normalised,
    stale_holders,
    submission_of,
)
from conflict_resolver.domain.protection.review import (
    MANUAL_RULE,
    PARTNER_SENTENCE_APPROVED,
    PARTNER_SENTENCE_REJECTED,
    REVIEW_REJECTED,
    ReviewSituation,
    approval_refusal,
    approve_from_review,
    decision_at_deadline,
    reject_from_review,
)
from conflict_resolver.domain.protection.transfers import (
    TRANSFER_RULE,
    TransferReason,
    transfer,
    transfer_refusal,
)
from conflict_resolver.domain.protection.verdicts import (
    DeadlineDecision,
    ExtensionDecision,
    decide_at_deadline,
    decide_extension,
)
from conflict_resolver.domain.protection.winning import (
    attribute_win,
    attribution_what_if,
    involvements_of,
)

__all__ = [
    "APPEALED",
    "APPEAL_RULE",
    "EXTENSION_REJECTED",
    "EXTENSION_REVIEW",
    "MANUAL_RULE",
    "PARTNER_SENTENCE_APPROVED",
    "PARTNER_SENTENCE_REJECTED",
    "RETURNED_FOR_EDIT",
    "REVIEW_REJECTED",
    "TRANSFER_RULE",
    "WAITLIST_LEFT",
    "CaseToClose",
    "CaseToOpen",
    "CaseToReopen",
    "Cause",
    "Claim",
    "ClaimUpdate",
    "DeadlineDecision",
    "Emission",
    "Ending",
    "ExtensionDecision",
    "IncumbentWrite",
    "KeyFiling",
    "Outcome",
    "ProtectionConflictError",
    "ProtectionMove",
    "ProtectionWrite",
    "ReviewSituation",
    "TransferReason",
    "WaitlistMove",
    "WaitlistStep",
    "WaitlistToMove",
    "approval_refusal",
    "approve_from_review",
    "attribute_win",
    "attribution_what_if",
    "close_deal",
    "close_waitlist",
    "customer_keys",
    "decide_at_deadline",
    "decide_extension",
    "decision_at_deadline",
    "end",
    "expire",
    "extend",
    "extension_from_review",
    "involvements_of",
    "leave_waitlist",
    "leaves_waitlist",
    "normalised",
    "record_decision",
    "reject_from_review",
    "reopen_on_appeal",
    "return_for_edit",
    "stale_holders",
    "submission_of",
    "summary_of",
    "transfer",
    "transfer_refusal",
    "waitlist_move",
    "waitlist_step",
    "withdraw",
]
