"""deal_registration's settings (``DEALREG_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from deal_registration.webhooks import DEFAULT_RETRY_SCHEDULE
from services.settings import ServiceSettings


class RateLimitSettings(BaseSettings):
    """Per API key, per process (``DEALREG_RATE_LIMIT_*``)."""

    model_config = SettingsConfigDict(env_prefix="DEALREG_RATE_LIMIT_", extra="ignore")

    per_second: float = Field(default=20, gt=0, description="Average requests a second a key.")
    burst: float = Field(default=40, ge=1, description="Requests a key may send at once.")


class WebhookSettings(BaseSettings):
    """Partner webhook deliveries (``DEALREG_WEBHOOK_*``)."""

    model_config = SettingsConfigDict(env_prefix="DEALREG_WEBHOOK_", extra="ignore")

    retry_schedule_seconds: tuple[float, ...] = Field(
        default=DEFAULT_RETRY_SCHEDULE,
        description="Waits before each retry; after the last, a delivery has failed.",
    )
    poll_interval_seconds: float = Field(default=1.0, gt=0)
    timeout_seconds: float = Field(default=10.0, gt=0)
    allow_private_addresses: bool = Field(
        default=False,
        description="Deliver to loopback and private-network addresses (local testing only).",
    )


class RegistrationSettings(ServiceSettings):
    service_name: str = "deal_registration"
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
