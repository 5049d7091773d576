"""Schemathesis against conflict_resolver's and crm_sync's own OpenAPI documents, as processes
on PostgreSQL and Kafka.

No generated request (valid or not) may get a 5xx, and no response may break the document:
status codes, content types, headers and bodies must all be the ones it lists. Ops calls run
with the admin token (the same rights as an ops key there). The CRM webhooks are fuzzed too:
schemathesis cannot sign, so every delivery must be refused (401) without a 5xx. crm_sync
mirrors into a HubSpot that does not answer, so nothing generated ever reaches a real CRM.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

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
# Per operation and phase; the resolver has twice as many operations (each run under ~60 s).
MAX_EXAMPLES = {"conflict_resolver": "50", "crm_sync": "100"}
# A generated body past the 64 KiB limit (5,000 house accounts fit the schema, not the limit)
# is refused with 413 before it is read: a right answer to invalid data, so it is expected.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422"]
"""


def fuzz(url: str, token: str, log: Path, examples: str) -> subprocess.CompletedProcess[str]:
    log.parent.mkdir(parents=True, exist_ok=True)
    config = log.parent / "schemathesis.toml"
    config.write_text(CONFIG)
    result = subprocess.run(
        [
            SCHEMATHESIS,
            "--config-file",
            str(config),
            "run",
            f"{url}/openapi.json",
            "-H",
            f"Authorization: Bearer {token}",
            "--include-path-regex",
            "^/v1/",
            # The live stream never ends (it is the point); its refusals are in the access
            # matrix (tests/integration/test_access_matrix_resolver_crm.py).
            "--exclude-path",
            "/v1/conflicts/stream",
            "--checks",
            CHECKS,
            "--max-examples",
            examples,
            # One worker: with threads, Python 3.11's ast module (which hypothesis uses to
            # describe lambdas) can fail with "AST constructor recursion depth mismatch".
            "--workers",
            "1",
            "--seed",
            "20261202",
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


def cases_tried(output: str) -> int:
    """The number of test cases schemathesis reports it generated."""
    found = re.search(r"(\d+) generated", output)
    return int(found.group(1)) if found else 0


# PostgreSQL only (it takes a minute or two): it checks the HTTP contract, and PostgreSQL is
# the stricter store (integer ranges, lengths, NUL bytes).
# Two schemathesis runs of up to 400 s each, bounded on their own (the suite's 300 s per test
# would cut the second short on a loaded machine).
@only_on("postgresql")
@pytest.mark.timeout(900)
def test_no_generated_request_breaks_the_resolver_or_crm_sync_documents(
    stack: ServiceStack,
) -> None:
    stack.extra_env.update(
        {
            "DEALREG_CRM_CONNECTOR": "hubspot",
            "DEALREG_CRM_HUBSPOT_BASE_URL": "http://127.0.0.1:9",  # nothing listens there
            "DEALREG_CRM_HUBSPOT_TOKEN": "fuzz-token",
            "DEALREG_CRM_HUBSPOT_CLIENT_SECRET": "fuzz-client-secret",
            "DEALREG_CRM_HTTP_ATTEMPTS": "1",
        }
    )
    stack.migrate("conflict_resolver", "crm_sync")
    for service in ("conflict_resolver", "crm_sync"):
        stack.start(service, migrate=False)
    for service in ("conflict_resolver", "crm_sync"):
        stack.wait_ready(service)

    runs = {
        service: fuzz(
            stack.url(service),
            stack.admin_token,
            stack.artifacts / f"{service}.txt",
            MAX_EXAMPLES[service],
        )
        for service in ("conflict_resolver", "crm_sync")
    }

    for service, run in runs.items():
        assert run.returncode == 0, (service, run.stdout[-6000:])
        assert cases_tried(run.stdout) >= 500, (service, run.stdout[-2000:])
        service_log = (stack.artifacts / f"{service}.log").read_text()
        assert "unhandled error" not in service_log  # what every 500 logs
