"""deal_registration's HTTP routes: read the transport, call one handler, shape the answer.

One module per part of the API (``admin``, ``registrations``, ``co_sell``, ``webhook``,
``capacity``, ``analytics``); what they share (the caller as a dependency, parameters,
documented problems) is in
``api.dependencies``.
"""

from fastapi import APIRouter

from deal_registration.api.routes import admin, analytics, capacity, co_sell, registrations, webhook

router = APIRouter()
for part in (admin, registrations, co_sell, webhook, capacity, analytics):
    router.include_router(part.router)

__all__ = ["router"]
