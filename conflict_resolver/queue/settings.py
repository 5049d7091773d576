"""The queue's settings (``DEALREG_QUEUE_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class QueueSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DEALREG_QUEUE_", extra="ignore", hide_input_in_errors=True
    )

    sla_check_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often the SLA job looks for cases past due."
    )
