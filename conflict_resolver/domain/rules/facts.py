"""What the rules read: the situation with its matches classified by the policy's thresholds,
the account key a customer's protection is held under, and the two shapes of a decision that
does not approve (rejected, or sent to review)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conflict_resolver.domain.matching import MatchClass, classify
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.situation import Decision, Match, Situation, Submission


@dataclass(frozen=True)
class Facts:
    """The situation as the rules read it: matches classified with the policy's thresholds."""

    submission: Submission
    situation: Situation
    policy: Policy
    now: datetime
    same: tuple[Match, ...]
    possible: tuple[Match, ...]
    protection_key: str

    def live_holder(self) -> Match | None:
        """The same-account claim holding unexpired protection, if any."""
        holders = [m for m in self.same if m.state == "protected" and unexpired(m, self.now)]
        return min(holders, key=lambda m: m.submission_seq, default=None)


def unexpired(match: Match, now: datetime) -> bool:
    return match.expires_at is not None and match.expires_at > now


def is_live(match: Match, now: datetime) -> bool:
    if match.state == "protected":
        return unexpired(match, now)
    return match.state in ("in_review", "waitlisted")


def classify_match(match: Match, policy: Policy) -> MatchClass:
    """Same, possible or different account, with the policy's thresholds. A claim linked
    through the canonical account key is the same account whatever its spelling."""
    if match.linked:
        return "same"
    return classify(
        match.evidence,
        same_account_threshold=policy.matching.same_account,
        review_threshold=policy.matching.review,
    )


def canonical_protection_key(submission: Submission, same: tuple[Match, ...], now: datetime) -> str:
    """The one account key under which this customer's protection is held.

    A fuzzy match may carry another account key (and sit on another partition); adopting the
    holder's key, else the earliest same-account claim's, makes every claim on one company
    compete for one ``protections`` row, whose primary key then refuses a second.
    """
    holders = [m for m in same if m.state == "protected" and unexpired(m, now)]
    pool = holders or list(same)
    if not pool:
        return submission.account_key
    return min(pool, key=lambda m: m.submission_seq).protection_key


def rejected(
    rule: str, code: str, reason: str, *, evidence: dict[str, Any] | None = None
) -> Decision:
    return Decision(
        outcome="rejected", rule=rule, reason_code=code, reason=reason, evidence=evidence or {}
    )


def review(rule: str, code: str, reason: str, *, competing: tuple[str, ...] = ()) -> Decision:
    return Decision(
        outcome="pending_review",
        rule=rule,
        reason_code=code,
        reason=reason,
        competing_registration_ids=competing,
    )
