"""Schemathesis against deal_registration's own OpenAPI document, on PostgreSQL and Kafka.

No generated request (valid or not) may get a 5xx, and no response may break the document:
status codes, content types, headers and bodies must all be the ones it lists. Partner calls
run with a partner key, admin calls with the admin token. ``positive_data_acceptance`` is left
out on purpose: a schema-valid body may still break a business rule (a close date in the past,
a product line the partner is not authorised for, a reused Idempotency-Key) and get a 422.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.api import create_partner
from tests.support.databases import only_on
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "unsupported_method",
        "allow_header_conformance",
        "ignored_auth",
    ]
)
MAX_EXAMPLES = "60"


def fuzz(url: str, token: str, tags: list[str], log: Path) -> subprocess.CompletedProcess[str]:
    selection = [arg for tag in tags for arg in ("--include-tag", tag)]
    log.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"{url}/openapi.json",
            "-H",
            f"Authorization: Bearer {token}",
            *selection,
            "--checks",
            CHECKS,
            "--max-examples",
            MAX_EXAMPLES,
            # One worker: with threads, Python 3.11's ast module (which hypothesis uses to
            # describe lambdas) can fail with "AST constructor recursion depth mismatch".
            "--workers",
            "1",
            "--seed",
            "20261127",
            "--generation-database",
            "none",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=log.parent,  # whatever schemathesis leaves behind stays with the artifacts
        timeout=400,
    )
    log.write_text(result.stdout + result.stderr)
    return result


# PostgreSQL only (it takes minutes): it checks the HTTP contract, and PostgreSQL is the
# stricter store (lengths, NUL bytes), so a generated request that breaks storage breaks there.
# Two schemathesis runs of up to 400 s each: the suite's 300 s per test would cut the second
# short on a loaded machine (seen at load average 30) before either run could say anything.
@only_on("postgresql")
@pytest.mark.timeout(900)
def test_no_generated_request_breaks_the_openapi_document(stack: ServiceStack) -> None:
    stack.extra_env.update(
        {"DEALREG_RATE_LIMIT_PER_SECOND": "100000", "DEALREG_RATE_LIMIT_BURST": "100000"}
    )
    stack.start("deal_registration")
    stack.wait_ready("deal_registration")
    url = stack.url("deal_registration")
    with httpx.Client(base_url=url, timeout=10) as client:
        partner = create_partner(client, stack.admin_token, name="Fuzzing Partner")

    partner_run = fuzz(
        url, partner["api_key"], ["registrations", "webhook"], stack.artifacts / "partner.txt"
    )
    admin_run = fuzz(url, stack.admin_token, ["admin"], stack.artifacts / "admin.txt")

    assert partner_run.returncode == 0, partner_run.stdout[-6000:]
    assert admin_run.returncode == 0, admin_run.stdout[-6000:]
    service_log = (stack.artifacts / "deal_registration.log").read_text()
    assert "unhandled error" not in service_log  # what every 500 logs
