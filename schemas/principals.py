"""Events about who may call the services: sales-ops and partner keys issued, keys revoked,
partners suspended and reinstated.

deal_registration issues every API key (API.md); the other services learn of ops keys from
these events and keep their own copy, so none reads another's database. The resolver also
learns partner keys, for the one partner-facing part it serves (account overlap, issue 16).
Only the SHA-256 of a key travels, never the key. The Kafka key is the principal's id.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.envelope import EventPayload, register
from schemas.registration import PartnerStatus


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
class PartnerKeyIssued(EventPayload):
    """A partner got an API key (at creation or on rotation); it acts for that partner only."""

    event_type = "dealreg.principal.partner_key_issued"

    key_id: str
    partner_id: str
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


@register
class PartnerStatusChanged(EventPayload):
    """The admin suspended a partner or reinstated it. A suspended partner may read but not
    write, in every service that serves partners (deal_registration's API, the resolver's
    account overlap). Keyed by the partner's id."""

    event_type = "dealreg.principal.partner_status_changed"

    partner_id: str
    status: PartnerStatus
    changed_at: AwareDatetime
