"""The alert rules and the Grafana dashboard only name metrics the services export, and every
alert is explained in docs/deployment.md."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.unit.test_metric_names import exported_names

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
METRIC = re.compile(r"\bdealreg_[a-z0-9_]+\b")
# PromQL functions and keywords that may stand before "(" are not metric names; the names
# we check are all in our namespace, so only dealreg_* words are taken.


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((OBSERVABILITY / "alerts.yaml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_every_metric_an_alert_uses_is_exported() -> None:
    exported = exported_names()
    for rule in alert_rules():
        used = set(METRIC.findall(rule["expr"]))
        assert used, f"{rule['alert']} uses no dealreg metric"
        assert used <= exported, f"{rule['alert']}: {sorted(used - exported)} not exported"


def test_every_metric_the_dashboard_plots_is_exported() -> None:
    exported = exported_names()
    expressions = dashboard_expressions()
    assert expressions
    for expr in expressions:
        used = set(METRIC.findall(expr))
        assert used, f"{expr} uses no dealreg metric"
        assert used <= exported, f"{expr}: {sorted(used - exported)} not exported"


def test_the_issue_s_signals_are_all_alerted_on() -> None:
    exprs = " ".join(rule["expr"] for rule in alert_rules())
    for signal in (
        "dealreg_consumer_lag_records",
        "dealreg_outbox_oldest_age_seconds",
        "dealreg_consumer_paused_partitions",
        "dealreg_events_dead_lettered_total",
        "dealreg_conflicts_escalated_total",
        'outcome="429"',
        'status=~"5.."',
    ):
        assert signal in exprs


def test_every_alert_has_a_severity_a_summary_and_a_section_in_the_guide() -> None:
    guide = (ROOT / "docs" / "deployment.md").read_text()
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]
        assert f"`{rule['alert']}`" in guide, f"{rule['alert']} is not explained in the guide"
