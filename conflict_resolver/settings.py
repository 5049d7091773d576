"""conflict_resolver's settings (``DEALREG_*``)."""

from __future__ import annotations

import hashlib

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from conflict_resolver.queue.settings import QueueSettings
from services.settings import ServiceSettings, weak_secret


class OverlapSettings(BaseSettings):
    """Account overlap (``DEALREG_OVERLAP_*``, issue 16)."""

    model_config = SettingsConfigDict(
        env_prefix="DEALREG_OVERLAP_", extra="ignore", hide_input_in_errors=True
    )

    key_secret: SecretStr | None = Field(
        default=None,
        description="What every partner's overlap key is derived from (32+ random characters). "
        "Unset: derived from the admin token, so rotating that rotates every overlap key.",
    )
    max_accounts: int = Field(
        default=50_000, ge=1, le=50_000, description="The longest list a partner may upload."
    )

    min_upload_interval_seconds: float = Field(
        default=3600,
        ge=0,
        description="The shortest time between two lists of one partner: counts are shown "
        "without opt-ins, so this bounds how fast a partner can test single domains.",
    )

    @model_validator(mode="after")
    def _no_weak_secret(self) -> OverlapSettings:
        if self.key_secret is not None and weak_secret(self.key_secret.get_secret_value()):
            raise ValueError("DEALREG_OVERLAP_KEY_SECRET must be a real secret (24+ chars)")
        return self

    def secret(self, admin_token: str) -> bytes:
        """The derivation secret: the configured one, or one derived from the admin token."""
        if self.key_secret is not None:
            return self.key_secret.get_secret_value().encode()
        return hashlib.sha256(
            b"dealreg/conflict_resolver/overlap-key\x00" + admin_token.encode()
        ).digest()


class ResolverSettings(ServiceSettings):
    service_name: str = "conflict_resolver"
    expiry_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often to look for protections past their expiry."
    )
    intake_url: str = Field(
        default="http://127.0.0.1:8081",
        description="deal_registration's base URL: the console's partner figures come from "
        "its /v1/analytics (DEALREG_INTAKE_URL).",
    )
    queue: QueueSettings = Field(default_factory=QueueSettings)  # DEALREG_QUEUE_*
    overlap: OverlapSettings = Field(default_factory=OverlapSettings)  # DEALREG_OVERLAP_*
