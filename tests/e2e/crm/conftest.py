"""CRM end-to-end fixtures: the sandbox as a process, and crm_sync wired to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import artifacts_dir
from tests.support.crm_sandbox import CrmSandbox
from tests.support.stack import ServiceStack, free_port

HUBSPOT_SECRET = "e2e-hubspot-client-secret"
SALESFORCE_SECRET = "e2e-salesforce-webhook-secret"


@pytest.fixture
def crm_sync_port() -> int:
    return free_port()


@pytest.fixture
def sandbox(request: pytest.FixtureRequest, crm_sync_port: int) -> Iterator[CrmSandbox]:
    box = CrmSandbox(artifacts=artifacts_dir(request))
    box.start(
        hubspot_client_secret=HUBSPOT_SECRET,
        hubspot_webhook_url=f"http://127.0.0.1:{crm_sync_port}/v1/webhooks/hubspot",
        salesforce_webhook_secret=SALESFORCE_SECRET,
        salesforce_webhook_url=f"http://127.0.0.1:{crm_sync_port}/v1/webhooks/salesforce",
        seed=7,
    )
    yield box
    box.stop()


def wire_hubspot(stack: ServiceStack, sandbox: CrmSandbox, port: int, **extra: str) -> None:
    credentials = sandbox.credentials()
    stack.ports["crm_sync"] = port
    stack.extra_env.update(
        {
            "DEALREG_CRM_CONNECTOR": "hubspot",
            "DEALREG_CRM_HUBSPOT_BASE_URL": sandbox.url,
            "DEALREG_CRM_HUBSPOT_TOKEN": credentials["hubspot_token"],
            "DEALREG_CRM_HUBSPOT_APP_ID": credentials["hubspot_app_id"],
            "DEALREG_CRM_HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET,
            "DEALREG_CRM_RECONCILE_INTERVAL_SECONDS": "2",
            # The sandbox's search index has no lag unless a test gives it one.
            "DEALREG_CRM_RECONCILE_INDEX_LAG_SECONDS": "0",
            "DEALREG_CRM_HTTP_BACKOFF_INITIAL_SECONDS": "0.05",
            "DEALREG_CRM_HTTP_BACKOFF_MAX_SECONDS": "1",
            "DEALREG_CRM_PUSH_BACKOFF_INITIAL_SECONDS": "0.1",
            "DEALREG_CRM_PUSH_BACKOFF_MAX_SECONDS": "2",
            **extra,
        }
    )


def wire_salesforce(stack: ServiceStack, sandbox: CrmSandbox, port: int, **extra: str) -> None:
    credentials = sandbox.credentials()
    stack.ports["crm_sync"] = port
    stack.extra_env.update(
        {
            "DEALREG_CRM_CONNECTOR": "salesforce",
            "DEALREG_CRM_SALESFORCE_INSTANCE_URL": sandbox.salesforce_url,
            "DEALREG_CRM_SALESFORCE_CLIENT_ID": credentials["salesforce_client_id"],
            "DEALREG_CRM_SALESFORCE_CLIENT_SECRET": credentials["salesforce_client_secret"],
            "DEALREG_CRM_SALESFORCE_INTEGRATION_USER_ID": credentials[
                "salesforce_integration_user_id"
            ],
            "DEALREG_CRM_SALESFORCE_WEBHOOK_SECRET": SALESFORCE_SECRET,
            "DEALREG_CRM_SALESFORCE_CA_BUNDLE": sandbox.cert,
            "DEALREG_CRM_RECONCILE_INTERVAL_SECONDS": "2",
            # The sandbox's search index has no lag unless a test gives it one.
            "DEALREG_CRM_RECONCILE_INDEX_LAG_SECONDS": "0",
            "DEALREG_CRM_HTTP_BACKOFF_INITIAL_SECONDS": "0.05",
            "DEALREG_CRM_HTTP_BACKOFF_MAX_SECONDS": "1",
            **extra,
        }
    )
