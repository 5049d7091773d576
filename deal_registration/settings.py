"""deal_registration's settings (``DEALREG_*``)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from deal_registration.webhooks.dispatcher import DEFAULT_RETRY_SCHEDULE
from services.settings import ServiceSettings


class RateLimitSettings(BaseSettings):
    """Per API key, per process (``DEALREG_RATE_LIMIT_*``)."""

    model_config = SettingsConfigDict(
        env_prefix="DEALREG_RATE_LIMIT_", extra="ignore", hide_input_in_errors=True
    )

    per_second: float = Field(default=20, gt=0, description="Average requests a second a key.")
    burst: float = Field(default=40, ge=1, description="Requests a key may send at once.")


class WebhookSettings(BaseSettings):
    """Partner webhook deliveries (``DEALREG_WEBHOOK_*``)."""

    model_config = SettingsConfigDict(
        env_prefix="DEALREG_WEBHOOK_", extra="ignore", hide_input_in_errors=True
    )

    retry_schedule_seconds: tuple[float, ...] = Field(
        default=DEFAULT_RETRY_SCHEDULE,
        description="Waits before each retry; after the last, a delivery has failed.",
    )
    poll_interval_seconds: float = Field(default=1.0, gt=0)
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="Total time for one attempt, answer included."
    )
    workers: int = Field(
        default=4, ge=1, le=64, description="Deliveries sent at once (one per partner at most)."
    )
    allow_private_addresses: bool = Field(
        default=False,
        description="Deliver to loopback and private-network addresses (local testing only).",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key that encrypts partner webhook secrets at rest "
        "(`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'`). "
        "Required in production; elsewhere one is derived from the admin token.",
    )
    rotation_overlap_seconds: float = Field(
        default=24 * 3600, ge=0, description="How long a rotated secret keeps signing too."
    )


class RegistrationSettings(ServiceSettings):
    service_name: str = "deal_registration"
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)

    def development_defaults(self) -> list[str]:
        found = super().development_defaults()
        if self.webhook.secret_key is None:
            found.append("DEALREG_WEBHOOK_SECRET_KEY (unset: derived from the admin token)")
        if self.webhook.allow_private_addresses:
            found.append("DEALREG_WEBHOOK_ALLOW_PRIVATE_ADDRESSES (true: for local testing)")
        return found

    @model_validator(mode="after")
    def _production_needs_real_webhook_settings(self) -> RegistrationSettings:
        if self.security.env == "production":
            if self.webhook.secret_key is None:
                raise ValueError("DEALREG_WEBHOOK_SECRET_KEY is required in production")
            if self.webhook.allow_private_addresses:
                raise ValueError("DEALREG_WEBHOOK_ALLOW_PRIVATE_ADDRESSES is for local testing")
        return self
