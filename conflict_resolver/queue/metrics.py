"""The queue's Prometheus metrics (``GET /metrics``).

Counters and the histogram are recorded where things happen; the gauges are refreshed from the
database by the SLA job, so every instance reports the same queue. No ratio or quantile is
exported as a gauge (Prometheus naming): the approval rate is a PromQL ratio of
``dealreg_registrations_decided`` by status, and times to decision are the
``dealreg_conflict_time_to_decision_seconds`` histogram (``histogram_quantile``). The stats
endpoint still reports both as numbers.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONFLICTS_DECIDED = Counter(
    "dealreg_conflicts_decided_total",
    "Conflict cases decided, by who decided (ops or policy at the SLA) and outcome",
    ["by", "outcome"],
)
CONFLICTS_ESCALATED = Counter(
    "dealreg_conflicts_escalated_total", "Conflict cases escalated at their SLA due time"
)
TIME_TO_DECISION = Histogram(
    "dealreg_conflict_time_to_decision_seconds",
    "From a case opening to its decision (manual, or by policy at the SLA)",
    ["mode"],
    buckets=(1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 48 * 3600, 96 * 3600),
)
QUEUE_OPEN = Gauge("dealreg_conflict_queue_open", "Open conflict cases")
QUEUE_OVERDUE = Gauge("dealreg_conflict_queue_overdue", "Open conflict cases past their due time")
QUEUE_OLDEST_AGE = Gauge(
    "dealreg_conflict_queue_oldest_age_seconds", "Age of the oldest open conflict case"
)
SLA_BREACHES = Gauge("dealreg_conflict_sla_breaches", "Cases that passed their due time")
CONFLICTS_BY_REASON = Gauge(
    "dealreg_conflicts_by_reason", "Conflict cases by reason code", ["reason_code"]
)
REGISTRATIONS_BY_STATUS = Gauge(
    "dealreg_registrations_decided", "Registrations the resolver recorded, by status", ["status"]
)
PIPELINE = Gauge(
    "dealreg_partner_sourced_pipeline", "Sum of approved amounts, by currency", ["currency"]
)
