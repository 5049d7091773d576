"""CRM webhook deliveries (HubSpot's event arrays, our Salesforce callout) as neutral notices.

The de-duplication key is our own composite of the event's fields, never the CRM's event id
alone (HubSpot documents ``eventId`` as not guaranteed unique). Echoes of our own writes are
marked so they change nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator, StrictInt, StrictStr, TypeAdapter


def _an_id(value: object) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("An id is a number or a string.")
    return value


_Id = Annotated[int | str, PlainValidator(_an_id)]  # one error naming the field, not per type


class HubSpotEvent(BaseModel):
    """The fields of one HubSpot webhook event that are read; HubSpot's others pass through."""

    model_config = ConfigDict(extra="allow")

    subscriptionType: StrictStr
    objectId: _Id
    newObjectId: _Id | None = None
    primaryObjectId: _Id | None = None
    mergedObjectIds: list[_Id] = []
    propertyName: StrictStr | None = None
    changeSource: StrictStr | None = None
    sourceId: _Id | None = None
    occurredAt: StrictInt | None = None
    eventId: _Id | None = None


class SalesforceEvent(BaseModel):
    """One change in our Salesforce callout (the org's change-data-capture trigger)."""

    model_config = ConfigDict(extra="allow")

    id: StrictStr
    changeType: StrictStr = "updated"
    masterRecordId: StrictStr | None = None
    lastModifiedById: StrictStr | None = None
    lastModifiedDate: StrictStr | None = None


class SalesforceDelivery(BaseModel):
    model_config = ConfigDict(extra="allow")

    events: list[SalesforceEvent]


HUBSPOT_DELIVERY: TypeAdapter[list[HubSpotEvent]] = TypeAdapter(list[HubSpotEvent])


@dataclass
class Notice:
    """One webhook event in connector-neutral form."""

    key: str  # the dedupe key (our composite, not the CRM's event id)
    object_id: str
    kind: str  # changed, deleted, restored, merged
    merged_ids: list[str] = field(default_factory=list)
    echo: bool = False
    object_type: str = "deal"  # or "company" (HubSpot's company.* subscriptions)


def composite_key(*parts: object) -> str:
    return hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()


def hubspot_notices(events: Iterable[dict[str, Any]], app_id: str) -> list[Notice]:
    """Read a HubSpot delivery (an array of events) into notices."""
    notices = []
    for event in events:
        kind_of = str(event.get("subscriptionType", "")).rsplit(".", 1)[-1]
        kind = {"deletion": "deleted", "restore": "restored", "merge": "merged"}.get(
            kind_of, "changed"
        )
        survivor = event.get("newObjectId") or event.get("primaryObjectId") or event.get("objectId")
        notices.append(
            Notice(
                key=composite_key(
                    "hubspot",
                    event.get("subscriptionType"),
                    event.get("objectId"),
                    event.get("propertyName"),
                    event.get("propertyValue"),
                    event.get("occurredAt"),
                    event.get("eventId"),
                ),
                object_id=str(survivor),
                kind=kind,
                merged_ids=[
                    str(i) for i in event.get("mergedObjectIds", []) if str(i) != str(survivor)
                ],
                echo=bool(app_id)
                and event.get("changeSource") == "INTEGRATION"
                and str(event.get("sourceId")) == str(app_id),
                object_type="company"
                if str(event.get("subscriptionType", "")).startswith("company.")
                else "deal",
            )
        )
    return notices


def salesforce_notices(events: Iterable[dict[str, Any]], integration_user: str) -> list[Notice]:
    """Read our Salesforce callout body (``{"events": [...]}``) into notices."""
    notices = []
    for event in events:
        kind = str(event.get("changeType", "updated"))
        survivor = event.get("masterRecordId") or event.get("id")
        notices.append(
            Notice(
                key=composite_key(
                    "salesforce", event.get("id"), kind, event.get("lastModifiedDate")
                ),
                object_id=str(survivor),
                kind={"deleted": "deleted", "undeleted": "restored", "merged": "merged"}.get(
                    kind, "changed"
                ),
                merged_ids=[str(event["id"])] if kind == "merged" else [],
                echo=bool(integration_user) and event.get("lastModifiedById") == integration_user,
            )
        )
    return notices
