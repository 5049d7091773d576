"""The rules of engagement as a pure function of (registration, what it may collide with,
policy, now) to a decision with its evidence.

Each rule's docstring says the rule in the words of DOMAIN.md; they run in its order and the
first that fires decides. Decisions carry the rule that fired, a reason code, the evidence
(matched registrations, fields, scores) for sales ops, and a sentence the partner may read,
which never names another partner.

- ``facts``: the situation as the rules read it (matches classified, the protection key).
- ``engagement``: the eight rules, one function each, in order (:data:`RULES`).
- ``capacity``: the partner's capacity under its tier's caps (``CAPACITY_LIMIT``).
- ``evidence``: what a decision shows sales ops.
- ``deciding``: :func:`decide`, the rules applied in order.
"""

from conflict_resolver.domain.rules.deciding import decide
from conflict_resolver.domain.rules.engagement import RULES
from conflict_resolver.domain.rules.facts import classify_match
from conflict_resolver.domain.situation import (
    ClaimState,
    Decision,
    DirectOpportunity,
    Holdings,
    HouseAccountHit,
    Incumbent,
    Match,
    Outcome,
    Situation,
    Submission,
)

__all__ = [
    "RULES",
    "ClaimState",
    "Decision",
    "DirectOpportunity",
    "Holdings",
    "HouseAccountHit",
    "Incumbent",
    "Match",
    "Outcome",
    "Situation",
    "Submission",
    "classify_match",
    "decide",
]
