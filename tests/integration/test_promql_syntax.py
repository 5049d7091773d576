"""Every PromQL expression of the alert rules and the dashboard parses with Prometheus's own
grammar (offline: no Prometheus server is needed)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support import k8s_tools
from tests.unit.test_observability import alert_rules, dashboard_expressions


def check(expressions: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "expressions.json"
    path.write_text(json.dumps(expressions))
    return subprocess.run(
        ["node", str(k8s_tools.promql_validator()), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_alert_rules_and_the_dashboard_are_valid_promql(tmp_path: Path) -> None:
    expressions = [rule["expr"] for rule in alert_rules()] + dashboard_expressions()
    result = check(expressions, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("valid: ") == len(expressions)


def test_the_parser_rejects_a_broken_expression(tmp_path: Path) -> None:
    result = check(["sum by (consumer (dealreg_consumer_lag_records)"], tmp_path)
    assert result.returncode == 1
    assert "INVALID" in result.stdout
