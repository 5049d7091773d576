"""Metrics of the Kafka consumers: what is stuck and how often it is retried."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CONSUMER_PAUSED_PARTITIONS = Gauge(
    "dealreg_consumer_paused_partitions",
    "Partitions waiting at a record that failed transiently, per consumer group",
    ["consumer"],
)
CONSUMER_TRANSIENT_RETRIES = Counter(
    "dealreg_consumer_transient_retries_total",
    "Records that failed transiently and will be retried (the partition waits meanwhile)",
    ["consumer", "topic"],
)
CONSUMER_LAG = Gauge(
    "dealreg_consumer_lag_records",
    "Records behind the partition's last stable offset, per consumer group and partition "
    "(this member's partitions, updated after every poll)",
    ["consumer", "topic", "partition"],
)
