"""conflict_resolver's use cases, one module per use case. Those an event drives take
``(payload, EventContext)`` and run in the event's transaction with its inbox row and outbox
events (``services.events``; declared in ``app.subscriptions``):

- ``submissions``: :func:`decide_submission`, a submitted registration through the rules.
- ``endings``: :func:`withdraw`, :func:`close_deal`, :func:`expire_one`: protections end; the
  waitlist moves; :func:`close_one_waitlisted`: a registration leaves the waitlist at its own
  close date.
- ``extensions``: :func:`request_extension`, by the policy's ``max_extensions``.
- ``direct``: :func:`open_direct_opportunity` / :func:`close_direct_opportunity` (crm_sync).
- ``co_sell``: :func:`co_sell_answered`, an accepted or declined co-sell invitation remembered
  for attribution.
- ``companies``: :func:`upsert_company` / :func:`remove_company`, the CRM's company records
  (aliases, former names, parent) that ``domain.families`` reads.
- ``policy``: :func:`publish_policy`, :func:`publish_house_accounts` (sales ops).
- ``queries``: read-only: the policy and house accounts as stored, a decision's record, and
  the policy what-if (a replay in memory).
- ``calibration``: :func:`propose_calibration`, a review band from ops' decisions.
- ``review``: approving or rejecting from the conflict queue and the SLA deadline decision.
- ``answers``: :func:`appeal` (reopens a reviewer's rejection's case) and :func:`edited`
  (a registration returned for edit, through the rules again).
- ``notices``: :func:`notices.notify_one`, "protection expires in N days" (each once).
- ``transfers``: :func:`transfers.transfer`, sales ops move a live protection (one step).
- ``protections``: the shared steps (evaluate under key locks, persist, move the waitlist).

What each change does to a protection is decided in ``domain.protection``; SQL lives in
``adapters``. The names below are the package's public surface.
"""

from conflict_resolver.domain.protection import submission_of
from conflict_resolver.handlers.answers import appeal, edited
from conflict_resolver.handlers.calibration import propose_calibration
from conflict_resolver.handlers.co_sell import co_sell_answered
from conflict_resolver.handlers.companies import remove_company, upsert_company
from conflict_resolver.handlers.context import CRM_CONSUMER, SUBMISSIONS_CONSUMER, Context
from conflict_resolver.handlers.direct import close_direct_opportunity, open_direct_opportunity
from conflict_resolver.handlers.endings import (
    close_deal,
    close_one_waitlisted,
    expire_one,
    withdraw,
)
from conflict_resolver.handlers.extensions import request_extension
from conflict_resolver.handlers.policy import publish_house_accounts, publish_policy
from conflict_resolver.handlers.queries import (
    decision_record,
    house_accounts_record,
    policy_record,
    policy_version_record,
    what_if,
)
from conflict_resolver.handlers.review import deadline_decision
from conflict_resolver.handlers.submissions import decide_submission

__all__ = [
    "CRM_CONSUMER",
    "SUBMISSIONS_CONSUMER",
    "Context",
    "appeal",
    "close_deal",
    "close_direct_opportunity",
    "close_one_waitlisted",
    "co_sell_answered",
    "deadline_decision",
    "decide_submission",
    "decision_record",
    "edited",
    "expire_one",
    "house_accounts_record",
    "open_direct_opportunity",
    "policy_record",
    "policy_version_record",
    "propose_calibration",
    "publish_house_accounts",
    "publish_policy",
    "remove_company",
    "request_extension",
    "submission_of",
    "upsert_company",
    "what_if",
    "withdraw",
]
