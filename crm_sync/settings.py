"""crm_sync's settings (``DEALREG_*``; the CRM group is ``DEALREG_CRM_*``).

Tokens and secrets are ``SecretStr``: they never appear in logs or reprs.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Literal

from pydantic import AwareDatetime, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.settings import ServiceSettings


class CrmSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DEALREG_CRM_", extra="ignore", hide_input_in_errors=True
    )

    connector: Literal["none", "hubspot", "salesforce"] = Field(
        default="none", description="Which CRM this deployment mirrors into."
    )
    # HubSpot (private app)
    hubspot_base_url: str = "https://api.hubapi.com"
    hubspot_token: SecretStr = SecretStr("")
    hubspot_client_secret: SecretStr = Field(
        default=SecretStr(""), description="The app's client secret: signs webhooks (v3)."
    )
    hubspot_app_id: str = Field(default="", description="Events from this app are our echoes.")
    hubspot_pipeline: str = "default"
    hubspot_stage_map: dict[str, str] = Field(
        default_factory=dict, description="CRM stage id -> our stage name (JSON); adds to defaults."
    )
    hubspot_won_stages: list[str] = Field(default_factory=lambda: ["closedwon"])
    hubspot_lost_stages: list[str] = Field(default_factory=lambda: ["closedlost"])
    hubspot_initial_stage: str = "appointmentscheduled"
    hubspot_per_ten_seconds: int = Field(
        default=90, description="Under HubSpot's 100/10 s, until its headers state the limit."
    )
    hubspot_per_day: int = Field(default=240_000, description="Under HubSpot's 250,000/day.")
    hubspot_search_per_second: int = Field(default=4, description="Under search's 5/s.")
    # Salesforce (connected app, OAuth 2.0 client credentials)
    salesforce_instance_url: str = ""
    salesforce_token_url: str = Field(
        default="", description="Defaults to <instance>/services/oauth2/token."
    )
    salesforce_client_id: SecretStr = SecretStr("")
    salesforce_client_secret: SecretStr = SecretStr("")
    salesforce_api_version: str = "59.0"
    salesforce_external_id_field: str = "Dealreg_Registration_Id__c"
    salesforce_integration_user_id: str = Field(
        default="", description="Changes made by this user are our echoes."
    )
    salesforce_webhook_secret: SecretStr = SecretStr("")
    salesforce_ca_bundle: str = Field(default="", description="CA file to trust (the sandbox).")
    salesforce_per_day: int = Field(default=90_000, description="Under the org's daily limit.")
    salesforce_stage_map: dict[str, str] = Field(default_factory=dict)
    # Behaviour
    webhook_public_base_url: str = Field(
        default="", description="Scheme and host the CRM calls (for v3 signatures behind proxies)."
    )
    webhook_max_skew_seconds: int = 300
    push_batch_size: int = Field(default=100, ge=1)
    # Pushes in flight (``outbound.PushPipeline``): enough that the CRM's rate limiter, not the
    # time its answers take, is what paces a backlog (a push is several requests in a row).
    push_pipeline_depth: int = Field(default=8, ge=1, description="Pushes in flight at most.")
    # An outage never dead-letters: a deal waits with capped backoff (and the CRM's
    # Retry-After) until the CRM answers; only data the CRM refuses goes to the dead letters.
    push_backoff_initial_seconds: float = 0.5
    push_backoff_max_seconds: float = Field(default=60.0, gt=0, description="Backoff cap.")
    revive_interval_seconds: float = Field(
        default=30.0, gt=0, description="How often outage dead letters of old versions requeue."
    )
    http_attempts: int = Field(default=4, ge=1, description="Tries per call, within one attempt.")
    http_backoff_initial_seconds: float = 0.2
    http_backoff_max_seconds: float = 10.0
    # Leases: one instance pushes and one reconciles at a time (crm_sync.lease).
    instance_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}",
        description="This instance's name as a lease owner (unique per process).",
    )
    lease_ttl_seconds: float = Field(default=15.0, gt=0, description="A lapsed lease is taken.")
    lease_heartbeat_seconds: float = Field(
        default=5.0, gt=0, description="Renewal period; well under the TTL."
    )
    reconcile_interval_seconds: float = Field(default=300.0, gt=0)
    reconcile_overlap_seconds: float = Field(
        default=5.0, ge=0, description="Re-read before the watermark (clock skew)."
    )
    reconcile_index_lag_seconds: float = Field(
        default=10.0,
        ge=0,
        description="A sweep stops this far before now: the CRM's search "
        "index lags behind writes, so younger changes wait for the next sweep.",
    )
    reconcile_start_at: AwareDatetime | None = Field(
        default=None, description="Where the first sweep starts (else the oldest mirrored deal)."
    )
    direct_default_product_line: str = Field(
        default="*", description="Product line of a direct opportunity that names none."
    )


# The secrets each connector needs: empty (their default), it cannot call or verify the CRM.
_CONNECTOR_SECRETS = {
    "hubspot": ("hubspot_token", "hubspot_client_secret"),
    "salesforce": ("salesforce_client_id", "salesforce_client_secret", "salesforce_webhook_secret"),
}


class CrmSyncSettings(ServiceSettings):
    service_name: str = "crm_sync"
    crm: CrmSettings = Field(default_factory=CrmSettings)

    def development_defaults(self) -> list[str]:
        found = super().development_defaults()
        for name in _CONNECTOR_SECRETS.get(self.crm.connector, ()):
            secret: SecretStr = getattr(self.crm, name)
            if not secret.get_secret_value():
                found.append(f"DEALREG_CRM_{name.upper()} (empty)")
        return found
