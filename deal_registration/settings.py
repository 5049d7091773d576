"""deal_registration's settings (``DEALREG_*``)."""

from __future__ import annotations

from services.settings import ServiceSettings


class RegistrationSettings(ServiceSettings):
    service_name: str = "deal_registration"
