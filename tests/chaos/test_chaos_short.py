"""The short chaos run as a test, for CI: ``pytest -m chaos tests/chaos/test_chaos_short.py``.

It runs ``python -m tests.chaos.run --short`` as a child process (the run starts its own
PostgreSQL, three-broker Kafka cluster, CRM sandbox and two instances of every service) and
passes when every invariant held; the run's table is in the failure message otherwise.
Ports: ``DEALREG_TEST_PG_PORT`` and ``DEALREG_CHAOS_KAFKA_BASE_PORT`` (three brokers from it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid

import pytest

from tests.support.infra import ROOT, STATE, require

pytestmark = pytest.mark.chaos


@pytest.mark.timeout(1200)
def test_no_registration_is_lost_double_approved_or_duplicated_under_faults() -> None:
    require(shutil.which("java") is not None, "Java (for the Kafka cluster)")
    out = STATE / "chaos" / f"pytest-{uuid.uuid4().hex[:8]}"
    command = [
        sys.executable,
        "-m",
        "tests.chaos.run",
        "--short",
        "--seed",
        os.environ.get("DEALREG_CHAOS_SEED", "1"),
        "--pg-port",
        os.environ.get("DEALREG_TEST_PG_PORT", "55433"),
        "--kafka-base-port",
        os.environ.get("DEALREG_CHAOS_KAFKA_BASE_PORT", "29092"),
        "--out",
        str(out),
    ]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    table = (out / "result.md").read_text() if (out / "result.md").exists() else run.stderr[-4000:]
    assert run.returncode == 0, f"chaos run failed (exit {run.returncode}):\n{table}"
