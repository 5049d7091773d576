"""Real infrastructure for the tests: Kafka and PostgreSQL started by the project's scripts.

Tests get them through fixtures (``tests/conftest.py``). A part missing from the machine
(no Java, no PostgreSQL server) skips the tests that need it, unless
``DEALREG_TEST_REQUIRE_ALL=1`` (CI sets it), where a missing part fails the run instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.tls import write_ca_and_broker_pem

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "deploy" / "scripts"
STATE = ROOT / ".dealreg"
TEST_KAFKA_PORT = int(os.environ.get("DEALREG_TEST_KAFKA_PORT", "19092"))
TEST_PG_PORT = int(os.environ.get("DEALREG_TEST_PG_PORT", "55433"))


def require(condition: bool, what: str) -> None:
    """Skip when a part is truly absent; fail instead when CI says every part must be there."""
    if condition:
        return
    if os.environ.get("DEALREG_TEST_REQUIRE_ALL") == "1":
        pytest.fail(f"{what} is required here (DEALREG_TEST_REQUIRE_ALL=1) but missing")
    pytest.skip(f"{what} is not available on this machine")


def keep_running() -> bool:
    """``DEALREG_TEST_KEEP_INFRA=1`` leaves the broker and database up for the next run."""
    return os.environ.get("DEALREG_TEST_KEEP_INFRA") == "1"


def _run(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(
        args, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip()


def kafka_env() -> dict[str, str]:
    return {
        "KAFKA_PORT": str(TEST_KAFKA_PORT),
        "KAFKA_CONTROLLER_PORT": str(TEST_KAFKA_PORT + 1),
        "KAFKA_DATA_DIR": str(STATE / f"test-kafka-{TEST_KAFKA_PORT}"),
    }


def start_kafka() -> str:
    require(shutil.which("java") is not None, "Java (for the Kafka broker)")
    require(
        shutil.which("mvn") is not None or (ROOT / "deploy/kafka/lib/.complete").exists(), "Maven"
    )
    _run([str(SCRIPTS / "kafka.sh"), "fetch"], kafka_env())
    _start_fresh(kafka_env())
    return f"127.0.0.1:{TEST_KAFKA_PORT}"


def _start_fresh(env: dict[str, str]) -> None:
    """Start a test broker; one that is not running starts on empty storage.

    A test broker's data is throwaway (every test makes topics of its own), and storage kept
    from one session to the next piles them up: after a few runs on a developer's machine,
    thousands of partitions made the broker take over a minute to start. A broker still
    running (``DEALREG_TEST_KEEP_INFRA=1``) is used as it is.
    """
    running = subprocess.run(
        [str(SCRIPTS / "kafka.sh"), "status"],
        env={**os.environ, **env},
        capture_output=True,
        check=False,
    )
    if running.returncode != 0:
        shutil.rmtree(Path(env["KAFKA_DATA_DIR"]) / "data", ignore_errors=True)
    _run([str(SCRIPTS / "kafka.sh"), "start"], env)


def stop_kafka() -> None:
    _run([str(SCRIPTS / "kafka.sh"), "stop"], kafka_env())


def postgres_env() -> dict[str, str]:
    return {"PG_PORT": str(TEST_PG_PORT)}


def start_postgres() -> str:
    """Start the throwaway cluster; returns ``host:port`` credentials as a base URL."""
    require(any(Path("/usr/lib/postgresql").glob("*/bin/initdb")), "PostgreSQL server")
    _run([str(SCRIPTS / "postgres.sh"), "start"], postgres_env())
    return f"dealreg:dealreg@127.0.0.1:{TEST_PG_PORT}"


def stop_postgres() -> None:
    _run([str(SCRIPTS / "postgres.sh"), "stop"], postgres_env())


# A second broker of this run's own, in SASL mode (deploy/scripts/kafka.sh, KAFKA_SASL=1): the
# client listener is SASL_PLAINTEXT/SCRAM-SHA-512 and ACLs are enforced.
SASL_KAFKA_PORT = TEST_KAFKA_PORT + 2
SASL_ADMIN_PASSWORD = "test-admin-scram-secret"
SASL_USERS = {
    "deal-registration": "test-deal-registration-secret",
    "conflict-resolver": "test-conflict-resolver-secret",
    "crm-sync": "test-crm-sync-secret",
    "intruder": "test-intruder-secret",
}


SASL_TLS_PORT = TEST_KAFKA_PORT + 4
SASL_TLS_DIR = STATE / f"test-kafka-sasl-{SASL_KAFKA_PORT}-tls"


def sasl_kafka_env() -> dict[str, str]:
    return {
        "KAFKA_TLS_PORT": str(SASL_TLS_PORT),
        "KAFKA_TLS_PEM": str(SASL_TLS_DIR / "broker.pem"),
        "KAFKA_PORT": str(SASL_KAFKA_PORT),
        "KAFKA_CONTROLLER_PORT": str(SASL_KAFKA_PORT + 1),
        "KAFKA_DATA_DIR": str(STATE / f"test-kafka-sasl-{SASL_KAFKA_PORT}"),
        "KAFKA_SASL": "1",
        "KAFKA_SASL_ADMIN_PASSWORD": SASL_ADMIN_PASSWORD,
        "KAFKA_SASL_USERS": " ".join(f"{name}={secret}" for name, secret in SASL_USERS.items()),
    }


def start_sasl_kafka() -> str:
    """The SASL broker, with a SASL_SSL listener on ``SASL_TLS_PORT`` too (CA: ``sasl_ca()``)."""
    require(shutil.which("java") is not None, "Java (for the Kafka broker)")
    write_ca_and_broker_pem(SASL_TLS_DIR)
    _run([str(SCRIPTS / "kafka.sh"), "fetch"], sasl_kafka_env())
    _start_fresh(sasl_kafka_env())
    return f"127.0.0.1:{SASL_KAFKA_PORT}"


def sasl_ca() -> Path:
    return SASL_TLS_DIR / "ca.pem"


def stop_sasl_kafka() -> None:
    _run([str(SCRIPTS / "kafka.sh"), "stop"], sasl_kafka_env())
