"""crm_sync's settings (``DEALREG_*``)."""

from __future__ import annotations

from services.settings import ServiceSettings


class CrmSyncSettings(ServiceSettings):
    service_name: str = "crm_sync"
