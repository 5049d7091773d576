"""HubSpot's CRM v3 dialect: objects, batch, search, merge, v4 associations; its errors and
rate-limit answers; webhook notices for every change."""

from __future__ import annotations

import asyncio
import operator
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from crm_sync.sandbox.settings import SandboxSettings
from crm_sync.sandbox.store import Notice, ObjectStore, Record, Sandbox, iso

SALES_OWNED = {"dealstage", "amount", "closedate", "hubspot_owner_id", "pipeline", "dealname"}
DATETIME_PROPS = {"hs_lastmodifieddate", "createdate", "closedate"}
UNIQUE = {"deals": "dealreg_registration_id"}
STAGES = {
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
}


class HubSpotError(Exception):
    def __init__(self, status: int, message: str, category: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.category, self.extra = status, message, category, extra


# Where ``guard`` leaves the ``X-HubSpot-RateLimit-*`` headers of an answer that went through
# (the sandbox app's middleware puts them on the response, as HubSpot does).
RATE_HEADERS_SCOPE_KEY = "dealreg.hubspot_rate_headers"


def error_body(status: int, message: str, category: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }


def _to_ms(value: Any) -> int | None:
    text = str(value)
    if text.isdigit():
        return int(text)
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def build_router(sandbox: Sandbox, settings: SandboxSettings) -> APIRouter:
    router = APIRouter()
    subscribed = {p.strip() for p in settings.hubspot_subscribed.split(",") if p.strip()}

    def source_of(request: Request) -> tuple[str, str]:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if token == settings.hubspot_token:
            return "INTEGRATION", settings.hubspot_app_id
        if token == settings.hubspot_user_token:
            return "INTEGRATION", settings.hubspot_user_app_id
        raise HubSpotError(
            401,
            "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
            "INVALID_AUTHENTICATION",
        )

    def rate_headers(token: str) -> dict[str, str]:
        stamps = sandbox.windows.get(token, [])
        now = time.monotonic()
        recent = sum(1 for s in stamps if s > now - 10)
        daily = len(stamps)
        return {
            "X-HubSpot-RateLimit-Daily": str(settings.rate_per_day),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(settings.rate_per_day - daily, 0)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": str(settings.rate_per_ten_seconds),
            "X-HubSpot-RateLimit-Remaining": str(max(settings.rate_per_ten_seconds - recent, 0)),
            "X-HubSpot-RateLimit-Secondly": str(settings.rate_per_ten_seconds // 10),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(
                max(settings.rate_per_ten_seconds // 10 - sum(1 for s in stamps if s > now - 1), 0)
            ),
        }

    async def guard(request: Request, *, search: bool = False) -> tuple[str, str]:
        sandbox.counters.calls["hubspot"] += 1
        if sandbox.faults.latency_ms and sandbox.faults.target in ("any", "hubspot"):
            await asyncio.sleep(sandbox.faults.latency_ms / 1000)
        source = source_of(request)
        token = request.headers["authorization"]
        injected = sandbox.faults.take("hubspot")
        if injected == 429:
            sandbox.counters.faults_served += 1
            raise HubSpotError(
                429,
                "You have reached your ten_secondly_rolling limit.",
                "RATE_LIMITS",
                errorType="RATE_LIMIT",
                policyName="TEN_SECONDLY_ROLLING",
                headers={
                    **rate_headers(token),
                    "X-HubSpot-RateLimit-Remaining": "0",
                    **(
                        {"Retry-After": str(sandbox.faults.retry_after)}
                        if sandbox.faults.retry_after is not None
                        else {}
                    ),
                },
            )
        if injected is not None:
            sandbox.counters.faults_served += 1
            raise HubSpotError(injected, "internal error", "INTERNAL_ERROR")
        now = time.monotonic()
        key = token + (":search" if search else "")
        stamps = [s for s in sandbox.windows.get(key, []) if s > now - 86_400]
        limit, period, policy = (
            (settings.search_per_second, 1.0, "SECONDLY")
            if search
            else (settings.rate_per_ten_seconds, 10.0, "TEN_SECONDLY_ROLLING")
        )
        if (
            sum(1 for s in stamps if s > now - period) >= limit
            or len(stamps) >= settings.rate_per_day
        ):
            sandbox.counters.rate_limited += 1
            daily = len(stamps) >= settings.rate_per_day
            raise HubSpotError(
                429,
                f"You have reached your {'daily' if daily else policy.lower()} limit.",
                "RATE_LIMITS",
                errorType="RATE_LIMIT",
                policyName="DAILY" if daily else policy,
                headers={}
                if search
                else {**rate_headers(token), "X-HubSpot-RateLimit-Remaining": "0"},
            )
        stamps.append(now)
        sandbox.windows[key] = stamps
        if not search:  # HubSpot states the general limits on every answer counted on them
            request.scope[RATE_HEADERS_SCOPE_KEY] = rate_headers(token)
        return source

    def store(object_type: str) -> ObjectStore:
        if object_type not in sandbox.hubspot:
            raise HubSpotError(
                400, f"Unable to infer object type from: {object_type}", "VALIDATION_ERROR"
            )
        return sandbox.hubspot[object_type]

    def view(
        record: Record, props: list[str] | None, object_type: str, *, upsert: bool | None = None
    ) -> dict[str, Any]:
        base = {
            "hs_object_id": record.id,
            "createdate": iso(record.created_ms),
            "hs_lastmodifieddate": iso(record.updated_ms),
        }
        all_props = {**record.properties, **base}
        shown = (
            {p: all_props.get(p) for p in props}
            if props
            else {
                k: v
                for k, v in all_props.items()
                if k in base
                or k
                in ("dealname", "amount", "dealstage", "pipeline", "closedate", "name", "domain")
            }
        )
        out: dict[str, Any] = {
            "id": record.id,
            "properties": {**shown, **base},
            "createdAt": iso(record.created_ms),
            "updatedAt": iso(record.updated_ms),
            "archived": record.archived,
        }
        if record.archived and record.archived_ms:
            out["archivedAt"] = iso(record.archived_ms)
        if upsert is not None:
            out["new"] = upsert
        return out

    def notify(
        object_type: str,
        record: Record,
        kind: str,
        source: tuple[str, str],
        changed: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        # Deals and companies (company.creation, .propertyChange, .deletion) are subscribed.
        prefix = {"deals": "deal", "companies": "company"}.get(object_type)
        if prefix is None or not settings.hubspot_webhook_url:
            return
        base = {
            "eventId": int(time.time() * 1000) % 1_000_000_000,  # not unique, like HubSpot's
            "subscriptionId": 1,
            "portalId": settings.hubspot_portal_id,
            "appId": int(settings.hubspot_app_id),
            "occurredAt": record.updated_ms,
            "attemptNumber": 0,
            "objectId": int(record.id),
            "changeSource": source[0],
            "sourceId": source[1],
            **extra,
        }
        if kind == "propertyChange":
            for name, value in (changed or {}).items():
                if name in subscribed or prefix == "company":
                    sandbox.outbox.append(
                        Notice(
                            "hubspot",
                            {
                                **base,
                                "subscriptionType": f"{prefix}.propertyChange",
                                "propertyName": name,
                                "propertyValue": str(value),
                            },
                        )
                    )
        else:
            sandbox.outbox.append(
                Notice("hubspot", {**base, "subscriptionType": f"{prefix}.{kind}"})
            )

    def validate(object_type: str, properties: dict[str, Any]) -> str | None:
        stage = properties.get("dealstage")
        if object_type == "deals" and stage is not None and stage not in STAGES:
            return f"{stage} was not a valid dealstage option"
        return None

    def write(
        object_type: str, record: Record | None, properties: dict[str, Any], source: tuple[str, str]
    ) -> tuple[Record, bool]:
        objects = store(object_type)
        properties = {k: ("" if v is None else str(v)) for k, v in properties.items()}
        if object_type == "deals" and source[1] == settings.hubspot_app_id:
            sandbox.counters.deal_writes["hubspot"] += 1
        if record is None:
            ms = objects.tick()
            record = Record(objects.new_id(), dict(properties), ms, ms, modified_by=source[1])
            objects.records[record.id] = record
            if object_type == "deals":
                sandbox.counters.creations["hubspot"] += 1
            notify(object_type, record, "creation", source)
            notify(object_type, record, "propertyChange", source, properties)
            return record, True
        changed = {k: v for k, v in properties.items() if record.properties.get(k) != v}
        if source[1] == settings.hubspot_app_id and object_type == "deals":
            sandbox.counters.integration_writes += 1
            if set(changed) & SALES_OWNED:
                sandbox.counters.echo_writes += 1
        if changed:
            record.properties.update(changed)
            record.updated_ms = objects.tick()
            record.modified_by = source[1]
            notify(object_type, record, "propertyChange", source, changed)
        return record, False

    def lookup(
        object_type: str, object_id: str, id_property: str | None, archived: bool = False
    ) -> Record:
        objects = store(object_type)
        if id_property and id_property != "hs_object_id":
            record = objects.find(id_property, object_id)
        else:
            record = objects.records.get(object_id)
            if record is not None and record.archived != archived:
                record = None
        if record is None:
            raise HubSpotError(
                404,
                "Object not found.  objectId are usually numeric.",
                "OBJECT_NOT_FOUND",
                context={"id": [object_id]},
            )
        return record

    def props_param(request: Request) -> list[str] | None:
        raw = request.query_params.getlist("properties")
        names = [p for chunk in raw for p in chunk.split(",") if p]
        return names or None

    @router.post("/crm/v3/objects/{object_type}", status_code=201)
    async def create(object_type: str, request: Request) -> Any:
        source = await guard(request)
        body = await request.json()
        problem = validate(object_type, body.get("properties", {}))
        if problem:
            raise HubSpotError(
                400, f"Property values were not valid: {problem}", "VALIDATION_ERROR"
            )
        record, _ = write(object_type, None, body.get("properties", {}), source)
        return JSONResponse(view(record, None, object_type), status_code=201)

    @router.get("/crm/v3/objects/{object_type}")
    async def list_objects(
        object_type: str, request: Request, limit: int = 10, after: str | None = None
    ) -> Any:
        await guard(request)
        records = sorted(store(object_type).live(), key=lambda r: int(r.id))
        start = int(after or 0)
        page = records[start : start + limit]
        body: dict[str, Any] = {
            "results": [view(r, props_param(request), object_type) for r in page]
        }
        if start + limit < len(records):
            body["paging"] = {"next": {"after": str(start + limit), "link": ""}}
        return body

    @router.get("/crm/v3/objects/{object_type}/{object_id}")
    async def read(
        object_type: str,
        object_id: str,
        request: Request,
        idProperty: str | None = None,
        archived: bool = False,
    ) -> Any:
        await guard(request)
        record = lookup(object_type, object_id, idProperty, archived)
        out = view(record, props_param(request), object_type)
        if "companies" in request.query_params.get("associations", "") and object_type == "deals":
            out["associations"] = {
                "companies": {
                    "results": [
                        {"id": c, "type": "deal_to_company"}
                        for c in sorted(sandbox.hubspot_assoc.get(record.id, set()))
                    ]
                }
            }
        return out

    @router.patch("/crm/v3/objects/{object_type}/{object_id}")
    async def patch(
        object_type: str, object_id: str, request: Request, idProperty: str | None = None
    ) -> Any:
        source = await guard(request)
        body = await request.json()
        problem = validate(object_type, body.get("properties", {}))
        if problem:
            raise HubSpotError(
                400, f"Property values were not valid: {problem}", "VALIDATION_ERROR"
            )
        record, _ = write(
            object_type,
            lookup(object_type, object_id, idProperty),
            body.get("properties", {}),
            source,
        )
        return view(record, None, object_type)

    @router.delete("/crm/v3/objects/{object_type}/{object_id}", status_code=204)
    async def archive(object_type: str, object_id: str, request: Request) -> Response:
        source = await guard(request)
        record = store(object_type).records.get(object_id)
        if record is not None and not record.archived:
            record.archived = True
            record.archived_ms = record.updated_ms = store(object_type).tick()
            notify(object_type, record, "deletion", source)
        return Response(status_code=204)

    @router.post("/crm/v3/objects/{object_type}/batch/upsert")
    async def batch_upsert(object_type: str, request: Request) -> Any:
        source = await guard(request)
        inputs = (await request.json()).get("inputs", [])
        if len(inputs) > 100:
            raise HubSpotError(400, "Batch input must not exceed 100 inputs", "VALIDATION_ERROR")
        results, errors = [], []
        # The records by their unique property, read once a call (HubSpot has an index; a scan
        # per input made the sandbox, not crm_sync, the bottleneck of a 10,000-deal drain).
        unique = UNIQUE.get(object_type)
        by_key: dict[str, Record] = {}
        if unique is not None:
            for candidate in store(object_type).live():
                by_key.setdefault(str(candidate.properties.get(unique)), candidate)
        for item in inputs:
            id_property = item.get("idProperty")
            key = str(item.get("id"))
            if not id_property or id_property != unique:
                errors.append(
                    error_body(
                        400,
                        f"{id_property} is not a unique identifier property",
                        "VALIDATION_ERROR",
                        context={"ids": [key]},
                    )
                    | {"status": "error"}
                )
                continue
            problem = validate(object_type, item.get("properties", {})) or (
                "failing by request" if key in sandbox.faults.fail_item_ids else None
            )
            if problem:
                errors.append(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": problem,
                        "context": {"ids": [key]},
                        "links": {},
                        "errors": [],
                    }
                )
                continue
            existing = by_key.get(key)
            record, created = write(
                object_type, existing, {**item.get("properties", {}), id_property: key}, source
            )
            by_key[key] = record
            results.append(
                view(
                    record,
                    [*item.get("properties", {}).keys(), id_property],
                    object_type,
                    upsert=created,
                )
            )
        stamp = iso(store(object_type).tick())
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": stamp,
            "completedAt": stamp,
        }
        if errors:
            body |= {"numErrors": len(errors), "errors": errors}
            return JSONResponse(body, status_code=207)
        return body

    @router.post("/crm/v3/objects/{object_type}/batch/create")
    async def batch_create(object_type: str, request: Request) -> Any:
        source = await guard(request)
        inputs = (await request.json()).get("inputs", [])
        if len(inputs) > 100:
            raise HubSpotError(400, "Batch input must not exceed 100 inputs", "VALIDATION_ERROR")
        results = [
            view(write(object_type, None, i.get("properties", {}), source)[0], None, object_type)
            for i in inputs
        ]
        stamp = iso(store(object_type).tick())
        return JSONResponse(
            {"status": "COMPLETE", "results": results, "startedAt": stamp, "completedAt": stamp},
            status_code=201,
        )

    @router.post("/crm/v3/objects/{object_type}/batch/read")
    async def batch_read(object_type: str, request: Request) -> Any:
        await guard(request)
        body = await request.json()
        results, errors = [], []
        for item in body.get("inputs", []):
            try:
                record = lookup(object_type, str(item["id"]), body.get("idProperty"))
                results.append(view(record, body.get("properties"), object_type))
            except HubSpotError:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": "Could not get some objects, they may be deleted or not exist.",
                        "context": {"ids": [str(item["id"])]},
                        "links": {},
                        "errors": [],
                    }
                )
        stamp = iso(store(object_type).tick())
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": stamp,
            "completedAt": stamp,
        }
        if errors:
            out |= {"numErrors": len(errors), "errors": errors}
            return JSONResponse(out, status_code=207)
        return out

    @router.post("/crm/v3/objects/{object_type}/search")
    async def search(object_type: str, request: Request) -> Any:
        await guard(request, search=True)
        body = await request.json()
        groups = body.get("filterGroups", [])
        limit = min(int(body.get("limit", 10)), 200)
        start = int(body.get("after") or 0)
        if start >= settings.hubspot_search_max_results:
            # HubSpot answers at most 10,000 results for one query; paging past them is a 400
            # (standard error body; the message text is our approximation).
            raise HubSpotError(
                400,
                f"There was a problem with the request: search results are limited to "
                f"{settings.hubspot_search_max_results}; narrow the query.",
                "VALIDATION_ERROR",
            )
        delay_ms = int(settings.hubspot_search_index_delay_seconds * 1000)
        tests = [[_predicate(f) for f in g.get("filters", [])] for g in groups]
        records = [
            r
            for r in store(object_type).searchable(delay_ms)
            if not tests or any(all(test(r) for test in group) for group in tests)
        ]
        for sort in reversed(body.get("sorts", [])):
            name = sort.get("propertyName", "hs_object_id")
            records.sort(
                key=lambda r: _sort_key(r, name), reverse=sort.get("direction") == "DESCENDING"
            )
        if not body.get("sorts"):
            records.sort(key=lambda r: int(r.id))
        page = records[start : min(start + limit, settings.hubspot_search_max_results)]
        out: dict[str, Any] = {
            "total": len(records),
            "results": [view(r, body.get("properties"), object_type) for r in page],
        }
        if start + limit < len(records):
            out["paging"] = {"next": {"after": str(start + limit)}}
        return out

    @router.post("/crm/v3/objects/{object_type}/merge")
    async def merge(object_type: str, request: Request) -> Any:
        source = await guard(request)
        body = await request.json()
        primary = lookup(object_type, str(body["primaryObjectId"]), None)
        merged = lookup(object_type, str(body["objectIdToMerge"]), None)
        for name, value in merged.properties.items():
            if name not in primary.properties or name == UNIQUE.get(object_type):
                primary.properties.setdefault(name, value)
        merged.archived = True
        merged.archived_ms = primary.updated_ms = store(object_type).tick()
        notify(
            object_type,
            primary,
            "merge",
            source,
            primaryObjectId=int(primary.id),
            mergedObjectIds=[int(merged.id)],
            newObjectId=int(primary.id),
        )
        return view(primary, None, object_type)

    @router.post("/crm/v4/associations/{from_type}/{to_type}/batch/associate/default")
    async def associate(from_type: str, to_type: str, request: Request) -> Any:
        await guard(request)
        inputs = (await request.json()).get("inputs", [])
        for pair in inputs:
            sandbox.hubspot_assoc.setdefault(str(pair["from"]["id"]), set()).add(
                str(pair["to"]["id"])
            )
        stamp = iso(store("deals").tick())
        return {
            "status": "COMPLETE",
            "results": [
                {
                    "fromObjectTypeId": "0-3",
                    "fromObjectId": int(p["from"]["id"]),
                    "toObjectTypeId": "0-2",
                    "toObjectId": int(p["to"]["id"]),
                    "labels": [],
                }
                for p in inputs
            ],
            "startedAt": stamp,
            "completedAt": stamp,
        }

    @router.post("/crm/v4/associations/{from_type}/{to_type}/batch/read")
    async def read_associations(from_type: str, to_type: str, request: Request) -> Any:
        await guard(request)
        inputs = (await request.json()).get("inputs", [])
        stamp = iso(store("deals").tick())
        return {
            "status": "COMPLETE",
            "results": [
                {
                    "from": {"id": str(i["id"])},
                    "to": [
                        {
                            "toObjectId": int(c),
                            "associationTypes": [
                                {"category": "HUBSPOT_DEFINED", "typeId": 5, "label": None}
                            ],
                        }
                        for c in sorted(sandbox.hubspot_assoc.get(str(i["id"]), set()))
                    ],
                }
                for i in inputs
                if sandbox.hubspot_assoc.get(str(i["id"]))
            ],
            "startedAt": stamp,
            "completedAt": stamp,
        }

    return router


def _value(record: Record, name: str) -> Any:
    if name == "hs_object_id":
        return record.id
    if name == "hs_lastmodifieddate":
        return record.updated_ms
    if name == "createdate":
        return record.created_ms
    return record.properties.get(name)


def _sort_key(record: Record, name: str) -> Any:
    value = _value(record, name)
    if name in DATETIME_PROPS:
        return _to_ms(value) or 0
    if name == "hs_object_id":
        return int(record.id)
    return str(value or "")


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": operator.eq,
    "NEQ": operator.ne,
    "GT": operator.gt,
    "GTE": operator.ge,
    "LT": operator.lt,
    "LTE": operator.le,
}


def _predicate(flt: dict[str, Any]) -> Callable[[Record], bool]:
    """A filter as a function; a modification-time range (the sweeps') is compared directly."""
    op = flt.get("operator", "EQ")
    if flt.get("propertyName") == "hs_lastmodifieddate" and op in _COMPARE:
        right = _to_ms(flt.get("value"))
        compare = _COMPARE[op]
        return lambda record: right is not None and compare(record.updated_ms, right)
    if op in ("IN", "NOT_IN"):  # the set once a query, not once a record
        name, values = flt.get("propertyName", ""), {str(v).lower() for v in flt.get("values", [])}
        if op == "IN":
            return lambda record: str(_value(record, name)).lower() in values
        return lambda record: str(_value(record, name)).lower() not in values
    return lambda record: _match(record, flt)


def _match(record: Record, flt: dict[str, Any]) -> bool:
    name, op = flt.get("propertyName", ""), flt.get("operator", "EQ")
    value = _value(record, name)
    if op == "HAS_PROPERTY":
        return bool(value not in (None, ""))
    if op == "NOT_HAS_PROPERTY":
        return bool(value in (None, ""))
    if op in ("IN", "NOT_IN"):
        inside = str(value).lower() in {str(v).lower() for v in flt.get("values", [])}
        return bool(inside) if op == "IN" else not inside
    if value in (None, ""):
        return bool(op == "NEQ")
    wanted = flt.get("value")
    left: Any
    right: Any
    if name in DATETIME_PROPS:
        left, right = _to_ms(value), _to_ms(wanted)
    else:
        try:
            left, right = float(value), float(str(wanted))
        except (TypeError, ValueError):
            left, right = str(value).lower(), str(wanted).lower()
    if left is None or right is None:
        return False
    outcome = {
        "EQ": left == right,
        "NEQ": left != right,
        "GT": left > right,
        "GTE": left >= right,
        "LT": left < right,
        "LTE": left <= right,
        "CONTAINS_TOKEN": str(right) in str(left),
    }.get(op, False)
    return bool(outcome)
