"""Every line a service process writes is one JSON object of one shape, whatever logged it.

The service runs as in production (``python -m services.http.serve``), with SQLAlchemy's echo
on and the brokers unreachable, so uvicorn, SQLAlchemy and aiokafka all have something to say.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.infra import ROOT
from tests.support.stack import free_port

SERVICE = "deal_registration"


def test_every_line_from_every_library_is_json_of_one_shape(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DEALREG_ENV": "test",
        "DEALREG_SERVICE_NAME": SERVICE,
        "DEALREG_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'service.db'}",
        "DEALREG_DATABASE_ECHO": "true",
        "DEALREG_ADMIN_TOKEN": "test-admin-token-0123456789abcdef",
        "DEALREG_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",  # nobody listens
        "DEALREG_HTTP_PORT": str(port),
        "DEALREG_LOG_LEVEL": "INFO",
    }
    migration = subprocess.run(
        [sys.executable, "-m", "services.migrations", SERVICE, "upgrade", "head"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.http.serve", SERVICE],
            env=env,
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
        )
    try:
        _wait_alive(f"http://127.0.0.1:{port}", process)
        httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        httpx.get(f"http://127.0.0.1:{port}/no-such-route", timeout=5)
        # The unreachable broker's retries are logged by the process in its own time: wait
        # for aiokafka's first line (a bound, not a speed goal) rather than a fixed 1.5 s.
        _wait_logged(out, err, '"logger": "aiokafka')
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)

    lines = [
        line
        for text in (migration.stdout, migration.stderr, out.read_text(), err.read_text())
        for line in text.splitlines()
        if line.strip()
    ]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"not JSON: {line!r}") from None
    assert all(isinstance(record, dict) for record in records)
    for record in records:
        assert {"event", "level", "timestamp", "service"} <= record.keys(), record
        assert record["service"] == SERVICE
        assert record["level"] in {"debug", "info", "warning", "error", "critical"}, record
    loggers = {record.get("logger", "") for record in records}
    assert any(name.startswith("alembic") for name in loggers)  # the migrations
    assert "uvicorn.error" in loggers  # uvicorn's start-up and shutdown lines
    assert any(name.startswith("sqlalchemy.engine") for name in loggers)  # the echoed SQL
    assert any(name.startswith("aiokafka") for name in loggers)  # the unreachable broker


def _wait_logged(out: Path, err: Path, fragment: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(fragment in path.read_text() for path in (out, err)):
            return
        time.sleep(0.1)


def _wait_alive(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the service exited with {process.returncode}"
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not alive after {timeout}s")
