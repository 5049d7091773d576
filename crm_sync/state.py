"""What crm_sync's routes reach, built once by its lifespan (``services.http.state``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from crm_sync.handlers import Context
from services.principals import OpsAuthenticator


@dataclass(frozen=True)
class CrmSyncState:
    context: Context  # the mirror, the connector and the settings
    ops_auth: OpsAuthenticator  # the admin token and the live ops keys
    reconcile_now: asyncio.Event  # set: sweep at once (when this instance holds the lease)
