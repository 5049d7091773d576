"""Events about who may call the services: sales-ops keys issued and keys revoked.

deal_registration issues every API key (API.md); the other services learn of ops keys from
these events and keep their own copy, so none reads another's database. Only the SHA-256 of a
key travels, never the key. The Kafka key is the principal's id.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.envelope import EventPayload, register


@register
class OpsKeyIssued(EventPayload):
    """A sales-ops user got an API key (role ``ops``)."""

    event_type = "dealreg.principal.ops_key_issued"

    key_id: str
    principal_id: str
    name: str
    role: Literal["ops"] = "ops"
    key_hash: str = Field(description="Hex SHA-256 of the key; the key itself is never sent.")
    issued_at: AwareDatetime


@register
class ApiKeyRevoked(EventPayload):
    """A key was revoked: from now on it authenticates nowhere."""

    event_type = "dealreg.principal.api_key_revoked"

    key_id: str
    principal_id: str
    key_hash: str
    revoked_at: AwareDatetime
