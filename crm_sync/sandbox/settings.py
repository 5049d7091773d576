"""The sandbox's settings (``DEALREG_SANDBOX_*``)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DEALREG_SANDBOX_", extra="ignore", hide_input_in_errors=True
    )

    hubspot_token: str = "sandbox-hubspot-integration-token"
    hubspot_app_id: str = "1001"
    hubspot_user_token: str = "sandbox-hubspot-sales-user-token"
    hubspot_user_app_id: str = "2002"
    hubspot_client_secret: str = "sandbox-hubspot-client-secret"
    hubspot_portal_id: int = 62515
    hubspot_webhook_url: str = ""
    hubspot_subscribed: str = "dealstage,amount,closedate,hubspot_owner_id"
    rate_per_ten_seconds: int = 100
    rate_per_day: int = 250_000
    search_per_second: int = 5
    # HubSpot's search: at most this many results for one query (paging past it is a 400), and
    # a write is searchable only this many seconds later (the index lags behind writes).
    hubspot_search_max_results: int = 10_000
    hubspot_search_index_delay_seconds: float = 0.0
    salesforce_port: int = 8091
    salesforce_client_id: str = "sandbox-salesforce-client-id"
    salesforce_client_secret: str = "sandbox-salesforce-client-secret"
    salesforce_webhook_url: str = ""
    salesforce_webhook_secret: str = "sandbox-salesforce-webhook-secret"
    salesforce_per_day: int = 100_000
    tls_dir: str = ".dealreg/crm_sandbox"
    webhook_batch_ms: int = 50
    webhook_duplicate_rate: float = 0.2
    webhook_max_attempts: int = 10
    webhook_retry_initial_seconds: float = 0.2
    seed: int | None = None
