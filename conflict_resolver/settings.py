"""conflict_resolver's settings (``DEALREG_*``)."""

from __future__ import annotations

from pydantic import Field

from conflict_resolver.queue.settings import QueueSettings
from services.settings import ServiceSettings


class ResolverSettings(ServiceSettings):
    service_name: str = "conflict_resolver"
    expiry_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often to look for protections past their expiry."
    )
    queue: QueueSettings = Field(default_factory=QueueSettings)  # DEALREG_QUEUE_*
