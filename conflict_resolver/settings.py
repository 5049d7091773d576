"""conflict_resolver's settings (``DEALREG_*``)."""

from __future__ import annotations

from services.settings import ServiceSettings


class ResolverSettings(ServiceSettings):
    service_name: str = "conflict_resolver"
