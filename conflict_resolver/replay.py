"""Why ``dealreg replay conflict_resolver`` refuses (``services.replay``).

Rebuilding the resolver must take its decisions from the decisions topic, never decide again
(a decision taken again under today's policy, clock or house accounts, or one a reviewer took
in the conflict queue, would differ from the one the partners were told). The decision events
do not yet carry everything the resolver keeps: the evidence of each decision and of each
conflict case, and the published policies and house-account lists are on no topic. Until they
do (additive event fields), restore the resolver from a database backup. What *is* proven from
the topics: a resolver fed the same registrations decides the same
(tests/integration/test_resolver_instances.py).
"""

from __future__ import annotations

from services.replay import ReplayPlan

PLAN: ReplayPlan | None = None
NOT_ON_THE_TOPICS = (
    "conflict_resolver cannot be rebuilt from the topics without deciding again: the "
    "decisions' evidence, the conflict cases' evidence, the published policies and the "
    "house-account lists are on no topic. Restore it from a database backup "
    "(docs/operations.md, 'Backups and restore')"
)
