"""Background work of the queue: the SLA escalation loop and the queue gauges on /metrics.

Several instances may run the loop at once: a case is escalated by ``UPDATE ... WHERE
escalated_at IS NULL`` (or closed by ``UPDATE ... WHERE state = 'open'``), so only one of them
changes it and only that one emits the event.
"""

from __future__ import annotations

import time
from typing import Any

import structlog

from conflict_resolver.queue import handlers, metrics
from services.polling import poll

log = structlog.get_logger(__name__)
GAUGE_REFRESH_SECONDS = 5.0
STATS_WINDOW_DAYS = 30


async def run_sla_loop(ctx: handlers.QueueContext, *, interval_seconds: float) -> None:
    """Until cancelled: escalate what is due, and refresh the gauges every few seconds (counted
    and summed in the database, so a refresh costs the same however many claims there are)."""
    refreshed = -GAUGE_REFRESH_SECONDS

    async def step() -> bool:
        nonlocal refreshed
        await handlers.escalate_due(ctx)
        if time.monotonic() - refreshed >= GAUGE_REFRESH_SECONDS:
            publish_gauges(await handlers.gauge_numbers(ctx, days=STATS_WINDOW_DAYS))
            refreshed = time.monotonic()
        return False  # one pass an interval

    await poll(step, idle_seconds=interval_seconds)


def publish_gauges(numbers: dict[str, Any]) -> None:
    queue = numbers["queue"]
    metrics.QUEUE_OPEN.set(queue["open"])
    metrics.QUEUE_OVERDUE.set(queue["overdue"])
    metrics.QUEUE_OLDEST_AGE.set(queue["oldest_age_seconds"] or 0)
    metrics.SLA_BREACHES.set(numbers["sla_breaches"])
    for reason, count in numbers["conflicts_by_reason"].items():
        metrics.CONFLICTS_BY_REASON.labels(reason_code=reason).set(count)
    for status, count in numbers["registrations_by_status"].items():
        metrics.REGISTRATIONS_BY_STATUS.labels(status=status).set(count)
    for entry in numbers["partner_sourced_pipeline"]:
        metrics.PIPELINE.labels(currency=entry["currency"]).set(float(entry["value"]))
