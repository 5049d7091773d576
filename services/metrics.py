"""Prometheus metrics the runtime records; services add their own next to their code."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_PUBLISHED = Counter(
    "dealreg_outbox_published_total", "Events relayed from the outbox to Kafka", ["topic"]
)
EVENTS_CONSUMED = Counter(
    "dealreg_events_consumed_total", "Kafka records consumed, by outcome", ["consumer", "outcome"]
)
EVENTS_DEAD_LETTERED = Counter(
    "dealreg_events_dead_lettered_total",
    "Records sent to the dead-letter topic",
    ["consumer", "topic"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "dealreg_http_request_duration_seconds", "HTTP request latency", ["method", "route", "status"]
)
OUTBOX_BACKLOG = Gauge(
    "dealreg_outbox_backlog_events",
    "Outbox rows not yet relayed to Kafka, as the relay last saw them (the relay holder only)",
)
OUTBOX_OLDEST_AGE = Gauge(
    "dealreg_outbox_oldest_age_seconds",
    "Age of the oldest outbox row not yet relayed, as the relay last saw it (0: none waiting)",
)
