"""Salesforce's REST dialect (enough for simple-salesforce): OAuth client credentials, sObject
upsert by external id, composite collections, SOQL subset; its error arrays and limits."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from crm_sync.sandbox.settings import SandboxSettings
from crm_sync.sandbox.store import Notice, ObjectStore, Record, Sandbox, iso, now_ms

INTEGRATION_USER = "005000000000001AAA"
SALES_USER = "005000000000002AAA"
SALES_OWNED = {"StageName", "Amount", "CloseDate", "OwnerId", "Name"}
CLOSED = {"Closed Won": (True, True), "Closed Lost": (True, False)}
# sObjects the API creates, deletes and queries but never updates (nor upserts).
CREATE_ONLY = {"OpportunityPartner"}
# The references an OpportunityPartner must name, and the sObject each refers to.
PARTNER_REFERENCES = {"OpportunityId": "Opportunity", "AccountToId": "Account"}


class SalesforceError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers or {}
        self.body = [{"message": message, "errorCode": code, "fields": fields or []}]


def sf_time(ms: int) -> str:
    return iso(ms).replace("Z", "+0000")


def build_router(sandbox: Sandbox, settings: SandboxSettings, base_url: str) -> APIRouter:
    router = APIRouter()

    def user_of(request: Request) -> str:
        sandbox.counters.calls["salesforce"] += 1
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        user = sandbox.salesforce_tokens.get(token)
        if user is None:
            raise SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")
        injected = sandbox.faults.take("salesforce")
        if injected == 429 or injected == 403:
            raise SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if injected is not None:
            raise SalesforceError(injected, "UNKNOWN_EXCEPTION", "An unexpected error occurred.")
        if sandbox.counters.calls["salesforce"] > settings.salesforce_per_day:
            raise SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        return user

    def store(sobject: str) -> ObjectStore:
        if sobject not in sandbox.salesforce:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        return sandbox.salesforce[sobject]

    def record_view(
        sobject: str, record: Record, fields: list[str] | None = None
    ) -> dict[str, Any]:
        props = dict(record.properties)
        stage = props.get("StageName")
        closed, won = CLOSED.get(str(stage), (False, False))
        props |= {
            "Id": record.id,
            "IsDeleted": record.archived,
            "LastModifiedDate": sf_time(record.updated_ms),
            "CreatedDate": sf_time(record.created_ms),
            "LastModifiedById": record.modified_by,
            "SystemModstamp": sf_time(record.updated_ms),
        }
        if sobject == "Opportunity":
            props |= {"IsClosed": closed, "IsWon": won}
        out: dict[str, Any] = {
            "attributes": {
                "type": sobject,
                "url": f"/services/data/v59.0/sobjects/{sobject}/{record.id}",
            }
        }
        if fields is None:
            return out | props
        for name in fields:
            if "." in name:
                relation, field = name.split(".", 1)
                account = sandbox.salesforce["Account"].records.get(str(props.get(f"{relation}Id")))
                if account is None:
                    out[relation] = None
                else:
                    nested = out.get(relation) or {"attributes": {"type": relation, "url": ""}}
                    nested[field] = account.properties.get(field)
                    out[relation] = nested
            else:
                out[name] = props.get(name)
        return out

    def notify(record: Record, change: str, **extra: Any) -> None:
        if not settings.salesforce_webhook_url:
            return
        sandbox.outbox.append(
            Notice(
                "salesforce",
                {
                    "id": record.id,
                    "changeType": change,
                    "lastModifiedDate": sf_time(record.updated_ms),
                    "lastModifiedById": record.modified_by,
                    **extra,
                },
            )
        )

    def check_partner(fields: dict[str, Any]) -> None:
        for field, target in PARTNER_REFERENCES.items():
            value = fields.get(field)
            if not value:
                raise SalesforceError(
                    400,
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{field}]",
                    [field],
                )
            referred = sandbox.salesforce[target].records.get(str(value))
            if referred is None or referred.archived:
                raise SalesforceError(
                    400,
                    "INVALID_CROSS_REFERENCE_KEY",
                    f"invalid cross reference id: {value}",
                    [field],
                )

    def write(
        sobject: str, record: Record | None, fields: dict[str, Any], user: str
    ) -> tuple[Record, bool]:
        objects = store(sobject)
        fields = {k: v for k, v in fields.items() if k != "attributes"}
        if sobject in CREATE_ONLY:
            if record is not None:
                raise SalesforceError(
                    405,
                    "METHOD_NOT_ALLOWED",
                    f"HTTP Method 'PATCH' not allowed. Allowed are GET,DELETE,HEAD for {sobject}",
                )
            check_partner(fields)
            fields.setdefault("IsPrimary", False)
        if sobject == "Opportunity" and user == INTEGRATION_USER:
            sandbox.counters.deal_writes["salesforce"] += 1
        if record is None:
            ms = objects.tick()
            record = Record(objects.new_id(), dict(fields), ms, ms, modified_by=user)
            objects.records[record.id] = record
            if sobject == "Opportunity":
                sandbox.counters.creations["salesforce"] += 1
                notify(record, "created")
            return record, True
        changed = {k: v for k, v in fields.items() if record.properties.get(k) != v}
        if user == INTEGRATION_USER and sobject == "Opportunity":
            sandbox.counters.integration_writes += 1
            if set(changed) & SALES_OWNED:
                sandbox.counters.echo_writes += 1
        if changed:
            record.properties.update(changed)
            record.updated_ms = objects.tick()
            record.modified_by = user
            if sobject == "Opportunity":
                notify(record, "updated")
        return record, False

    @router.post("/services/oauth2/token")
    async def token(request: Request) -> Any:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("client_id") != settings.salesforce_client_id
            or form.get("client_secret") != settings.salesforce_client_secret
        ):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "invalid client credentials"},
                status_code=400,
            )
        access = "00D000000000001!" + secrets.token_urlsafe(24)
        sandbox.salesforce_tokens[access] = INTEGRATION_USER
        return {
            "access_token": access,
            "instance_url": base_url,
            "id": f"{base_url}/id/00D000000000001AAA/{INTEGRATION_USER}",
            "token_type": "Bearer",
            "issued_at": str(now_ms()),
            "signature": secrets.token_urlsafe(16),
        }

    @router.patch("/services/data/{version}/sobjects/{sobject}/{field}/{value}")
    async def upsert(version: str, sobject: str, field: str, value: str, request: Request) -> Any:
        user = user_of(request)
        body = await request.json()
        if sobject in CREATE_ONLY:
            raise SalesforceError(
                405, "METHOD_NOT_ALLOWED", f"HTTP Method 'PATCH' not allowed for {sobject}"
            )
        matches = [r for r in store(sobject).live() if str(r.properties.get(field)) == value]
        if len(matches) > 1:
            return JSONResponse(
                [f"/services/data/{version}/sobjects/{sobject}/{r.id}" for r in matches],
                status_code=300,
            )
        record, created = write(
            sobject, matches[0] if matches else None, {**body, field: value}, user
        )
        return JSONResponse(
            {"id": record.id, "success": True, "errors": [], "created": created},
            status_code=201 if created else 200,
        )

    @router.post("/services/data/{version}/sobjects/{sobject}/")
    @router.post("/services/data/{version}/sobjects/{sobject}")
    async def create(version: str, sobject: str, request: Request) -> Any:
        user = user_of(request)
        record, _ = write(sobject, None, await request.json(), user)
        return JSONResponse({"id": record.id, "success": True, "errors": []}, status_code=201)

    @router.get("/services/data/{version}/sobjects/{sobject}/{record_id}")
    async def get(version: str, sobject: str, record_id: str, request: Request) -> Any:
        user_of(request)
        record = store(sobject).records.get(record_id)
        if record is None or record.archived:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        return record_view(sobject, record)

    @router.patch("/services/data/{version}/sobjects/{sobject}/{record_id}")
    async def update(version: str, sobject: str, record_id: str, request: Request) -> Response:
        user = user_of(request)
        record = store(sobject).records.get(record_id)
        if record is None or record.archived:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        write(sobject, record, await request.json(), user)
        return Response(status_code=204)

    @router.delete("/services/data/{version}/sobjects/{sobject}/{record_id}")
    async def delete(version: str, sobject: str, record_id: str, request: Request) -> Response:
        user = user_of(request)
        record = store(sobject).records.get(record_id)
        if record is None or record.archived:
            raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted")
        record.archived = True
        record.updated_ms = store(sobject).tick()
        record.modified_by = user
        notify(record, "deleted")
        return Response(status_code=204)

    @router.patch("/services/data/{version}/composite/sobjects/{sobject}/{field}")
    async def collection_upsert(version: str, sobject: str, field: str, request: Request) -> Any:
        user = user_of(request)
        body = await request.json()
        records = body.get("records", [])
        if len(records) > 200:
            raise SalesforceError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        out = []
        for item in records:
            key = str(item.get(field))
            if key in sandbox.faults.fail_item_ids:
                out.append(
                    {
                        "success": False,
                        "errors": [
                            {
                                "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                "message": "failing by request",
                                "fields": [field],
                            }
                        ],
                    }
                )
                continue
            matches = [r for r in store(sobject).live() if str(r.properties.get(field)) == key]
            record, created = write(sobject, matches[0] if matches else None, item, user)
            out.append({"id": record.id, "success": True, "errors": [], "created": created})
        return out

    @router.get("/services/data/{version}/query/")
    @router.get("/services/data/{version}/query")
    async def query(version: str, request: Request, q: str) -> Any:
        user_of(request)
        return run_soql(sandbox, q, record_view)

    @router.get("/services/data/{version}/limits/")
    async def limits(version: str, request: Request) -> Any:
        user_of(request)
        used = sandbox.counters.calls["salesforce"]
        return {
            "DailyApiRequests": {
                "Max": settings.salesforce_per_day,
                "Remaining": settings.salesforce_per_day - used,
            }
        }

    return router


_SOQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<sobject>\w+)(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>\w+)(?:\s+(?P<dir>ASC|DESC))?)?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_COND = re.compile(
    r"^\s*(?P<field>[\w.]+)\s*(?P<op>=|!=|>=|<=|>|<|IN)\s*(?P<value>.+?)\s*$",
    re.IGNORECASE | re.DOTALL,
)


def _literal(raw: str) -> Any:
    raw = raw.strip()
    if raw.startswith("(") and raw.endswith(")"):
        return [_literal(part) for part in re.findall(r"'(?:[^'\\]|\\.)*'|[^,\s]+", raw[1:-1])]
    if raw.startswith("'") and raw.endswith("'"):
        return raw[1:-1].replace("\\'", "'").replace("\\\\", "\\")
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if raw.lower() == "null":
        return None
    if re.match(r"^\d{4}-\d{2}-\d{2}T", raw):
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    try:
        return float(raw)
    except ValueError:
        return raw


def _compare(value: Any, op: str, wanted: Any) -> bool:
    if isinstance(wanted, datetime) and isinstance(value, str):
        text = value.replace("Z", "+00:00")
        if text[-5] in "+-" and text[-3] != ":":
            text = text[:-2] + ":" + text[-2:]
        value = datetime.fromisoformat(text)
    if isinstance(wanted, float) and value is not None:
        value = float(value)
    op = op.upper()
    if op == "IN":
        return value in wanted
    if op == "=":
        return bool(value == wanted)
    if op == "!=":
        return bool(value != wanted)
    if value is None or wanted is None:
        return False
    return bool(
        {">": value > wanted, ">=": value >= wanted, "<": value < wanted, "<=": value <= wanted}[op]
    )


def run_soql(sandbox: Sandbox, soql: str, view: Any) -> dict[str, Any]:
    match = _SOQL.match(soql)
    if match is None:
        raise SalesforceError(400, "MALFORMED_QUERY", f"unexpected token in: {soql[:80]}")
    sobject = match["sobject"]
    if sobject not in sandbox.salesforce:
        raise SalesforceError(400, "INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
    fields = [f.strip() for f in match["fields"].split(",")]
    conditions = []
    for part in re.split(r"\s+AND\s+", match["where"] or "", flags=re.IGNORECASE):
        if not part.strip():
            continue
        cond = _COND.match(part)
        if cond is None:
            raise SalesforceError(400, "MALFORMED_QUERY", f"unexpected condition: {part[:80]}")
        conditions.append((cond["field"], cond["op"], _literal(cond["value"])))
    rows = []
    for record in sandbox.salesforce[sobject].live():
        full = view(sobject, record)
        if all(_compare(full.get(f), op, v) for f, op, v in conditions):
            rows.append((full, record))
    if match["order"]:
        rows.sort(
            key=lambda pair: str(pair[0].get(match["order"]) or ""),
            reverse=(match["dir"] or "").upper() == "DESC",
        )
    if match["limit"]:
        rows = rows[: int(match["limit"])]
    records = [view(sobject, record, fields) for _, record in rows]
    return {"totalSize": len(records), "done": True, "records": records}
