"""What ``dealreg replay crm_sync`` rebuilds, and how (``services.replay``).

crm_sync's own consumer handlers rebuild the mirrored deals and the lifecycle notes from the
approvals, extensions, expiries and withdrawals, the partners on each deal from the accepted
influence claims and co-sell answers, and its ops keys from the principal events,
exactly as in production. The CRM is never called: the pusher does not run during a replay,
and each ``CrmOpportunityMirrored`` event crm_sync published when it created an opportunity
records that opportunity's id on its deal (:func:`crm_sync.handlers.record_mirrored`).

Not on the topics, so not rebuilt: the CRM dead letters, the connector's watermark and the
sales fields last read from the CRM (the first reconciliation sweep reads them again:
``dealreg reconcile --full``), and direct opportunities (the sweep finds them too).
"""

from __future__ import annotations

import asyncio

from crm_sync import handlers
from crm_sync.adapters.tables import (
    deal_partners,
    inbox,
    mirrored_deals,
    ops_keys,
    registration_lifecycle,
)
from crm_sync.app import subscriptions
from crm_sync.handlers import Mirror
from schemas.crm import CrmOpportunityMirrored
from services.events import Subscriptions, UnitOfWork
from services.replay import ReplayPlan


def replay_subscriptions(unit: UnitOfWork) -> list[Subscriptions]:
    """The service's own subscriptions (the pusher's wake-up goes nowhere), plus the record of
    each opportunity it created."""
    consumed = subscriptions(unit, Mirror(asyncio.Event()))
    return [consumed.on(CrmOpportunityMirrored, handlers.record_mirrored)]


PLAN = ReplayPlan(
    service="crm_sync",
    emitter=handlers.EMITTER,
    inbox=inbox,
    state_tables=(mirrored_deals, registration_lifecycle, ops_keys, deal_partners),
    subscriptions=replay_subscriptions,
)
