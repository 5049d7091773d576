"""Why ``dealreg replay deal_registration`` refuses (``services.replay``).

deal_registration is the system of record for what partners send: most of its state never
goes to the topics, so it cannot be rebuilt from them and ending "in the same state" would be a
false promise. Restore it from a database backup instead (docs/operations.md, "Backups and
restore"); its outbox and inbox make a restore safe to resume.
"""

from __future__ import annotations

from services.replay import ReplayPlan

PLAN: ReplayPlan | None = None
NOT_ON_THE_TOPICS = (
    "deal_registration cannot be rebuilt from the topics: partners, their API keys and "
    "webhooks are on no topic, and a registration's contact, description and partner "
    "reference are not in dealreg.registration.submitted. Restore it from a database backup "
    "(docs/operations.md, 'Backups and restore')"
)
