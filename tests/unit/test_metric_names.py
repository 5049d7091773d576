"""Every metric the services register follows the Prometheus naming conventions.

Base units in the name (``_seconds``, ``_bytes``), ``_total`` on counters and only there, no
ratio or rate exported as a gauge (export counters; PromQL computes rates and ratios), no
``quantile`` label outside a summary, and one ``dealreg_`` namespace.
"""

from __future__ import annotations

import importlib
import re

from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric

# Importing the apps imports every module that defines a metric.
APPS = ("deal_registration.app", "conflict_resolver.app", "crm_sync.app")
NAME = re.compile(r"^dealreg_[a-z][a-z0-9]*(_[a-z0-9]+)*$")
FORBIDDEN_WORDS = {"rate", "ratio", "percent", "percentage", "avg", "average", "quantile"}
NON_BASE_UNITS = {"ms", "milliseconds", "minutes", "hours", "days", "kb", "mb", "kilobytes"}
BASE_UNITS = {"seconds", "bytes"}


def dealreg_metrics() -> list[Metric]:
    for module in APPS:
        importlib.import_module(module)
    return [family for family in REGISTRY.collect() if family.name.startswith("dealreg_")]


def exported_names() -> set[str]:
    """Every series name Prometheus scrapes (``_total``, ``_bucket``, ``_sum``, ``_count``)."""
    names = set()
    for family in dealreg_metrics():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names |= {family.name + suffix for suffix in ("_bucket", "_sum", "_count")}
        elif family.type == "summary":
            names |= {family.name, family.name + "_sum", family.name + "_count"}
        else:
            names.add(family.name)
    return names


def test_the_services_register_their_metrics() -> None:
    names = {family.name for family in dealreg_metrics()}
    for expected in (
        "dealreg_http_request_duration_seconds",
        "dealreg_consumer_lag_records",
        "dealreg_outbox_backlog_events",
        "dealreg_outbox_oldest_age_seconds",
        "dealreg_consumer_paused_partitions",
        "dealreg_events_dead_lettered",
        "dealreg_crm_calls",
    ):
        assert expected in names


def test_every_metric_name_follows_the_prometheus_conventions() -> None:
    problems = []
    for family in dealreg_metrics():
        # prometheus_client strips a counter's _total from the family name; it exports it.
        name = family.name
        words = set(name.split("_"))
        if not NAME.match(name):
            problems.append(f"{name}: not snake_case in the dealreg_ namespace")
        if words & FORBIDDEN_WORDS:
            problems.append(f"{name}: {sorted(words & FORBIDDEN_WORDS)} (export counters)")
        if words & NON_BASE_UNITS:
            problems.append(f"{name}: not in base units ({sorted(words & NON_BASE_UNITS)})")
        if family.type != "counter" and name.endswith("_total"):
            problems.append(f"{name}: _total on a {family.type}")
        if family.type == "histogram" and name.split("_")[-1] not in BASE_UNITS:
            problems.append(f"{name}: a histogram names its unit last (_seconds, _bytes)")
        for unit in BASE_UNITS:
            if unit in words and not name.endswith(f"_{unit}"):
                problems.append(f"{name}: the unit ({unit}) goes last")
        if not family.documentation.strip():
            problems.append(f"{name}: no help text")
        for sample in family.samples:
            if "quantile" in sample.labels and family.type != "summary":
                problems.append(f"{name}: a quantile label on a {family.type}")
            if "le" in sample.labels and family.type != "histogram":
                problems.append(f"{name}: an le label on a {family.type}")
            if family.type == "counter" and not sample.name.endswith(("_total", "_created")):
                problems.append(f"{sample.name}: a counter sample without _total")
    assert problems == []


def test_no_quantile_label_outside_a_summary_even_before_a_sample_exists() -> None:
    dealreg_metrics()
    declared = [
        collector
        for collector in list(REGISTRY._collector_to_names)  # the registry keeps no public list
        if getattr(collector, "_name", "").startswith("dealreg_")
    ]
    assert declared
    for collector in declared:
        labels = set(getattr(collector, "_labelnames", ()))
        kind = getattr(collector, "_type", "")
        name = getattr(collector, "_name", "")
        assert "quantile" not in labels or kind == "summary", name
        assert "le" not in labels or kind == "histogram", name


def test_a_counter_is_exported_with_total_and_a_gauge_without() -> None:
    names = exported_names()
    assert "dealreg_outbox_published_total" in names
    assert "dealreg_approval_rate" not in names
    assert "dealreg_time_to_decision_seconds" not in names
