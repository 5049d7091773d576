"""Salesforce connector (REST API, OAuth 2.0 client credentials; token refreshed on 401).

Opportunities are upserted by the external-id field ``Dealreg_Registration_Id__c``: one record
through ``PATCH /sobjects/Opportunity/<field>/<id>``, batches through
``PATCH /composite/sobjects/Opportunity/<field>`` (up to 200, ``allOrNone: false``). Changes are
found by SOQL on ``LastModifiedDate``. Errors are arrays of ``{message, errorCode, fields}``;
``REQUEST_LIMIT_EXCEEDED`` means back off.

Every partner on the opportunity and its role is written twice: as the text field
``Dealreg_Partner_Roles__c`` (what reconciliation compares) and as ``OpportunityPartner``
records (create, delete and query only: a role changes by deleting and creating), each naming
the partner's Account, upserted by the external id ``Dealreg_Partner_Id__c``. The sourced
holder is the primary partner. The records are brought in line whenever the text changes.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx

from crm_sync.adapters.http import (
    WAIT_STATUSES,
    CrmHttp,
    SlidingWindowLimiter,
    retry_after_seconds,
)
from crm_sync.domain.companies import CrmCompanyRecord, split_list
from crm_sync.domain.model import CrmDeal, DealWrite, SalesState, StageTable, WriteResult
from crm_sync.domain.partners import DealPartner, parse_partner_roles
from crm_sync.ports import CrmRejectedError, CrmUnavailableError
from schemas.crm import CrmSystem

FIELD_OF: dict[str, str] = {
    "registration_id": "Dealreg_Registration_Id__c",
    "partner_id": "Dealreg_Partner_Id__c",
    "partner_name": "Dealreg_Partner_Name__c",
    "product_line": "Dealreg_Product_Line__c",
    "protection_expires_at": "Dealreg_Protection_Expires_At__c",
    "registration_status": "Dealreg_Registration_Status__c",
    "partner_roles": "Dealreg_Partner_Roles__c",
}
PARTNER_ACCOUNT_ID = "Dealreg_Partner_Id__c"
# Our roles as values of OpportunityPartner's ``Role`` picklist (the org must offer them).
ROLE_OF: dict[str, str] = {
    "sourced": "Sourced",
    "distributor": "Distributor",
    "reseller": "Reseller",
    "msp": "MSP",
    "referral": "Referral",
    "influence": "Influencer",
}
# On a direct opportunity (not ours): "partner-protected until <date>".
PROTECTED_UNTIL_FIELD = "Dealreg_Partner_Protected_Until__c"
SELECT = (
    "Id, Name, StageName, Amount, CurrencyIsoCode, CloseDate, OwnerId, IsClosed, IsWon, "
    "LastModifiedDate, LastModifiedById, IsDeleted, "
    + ", ".join(FIELD_OF.values())
    + ", Account.Name, Account.Website, Account.BillingCountryCode"
)


# An Account as a company: its website is the primary domain; alias domains and former names
# are our custom fields (semicolons), ParentId the parent account.
ALIAS_DOMAINS_FIELD = "Dealreg_Alias_Domains__c"
FORMER_NAMES_FIELD = "Dealreg_Former_Names__c"
ACCOUNT_SELECT = (
    "Id, Name, Website, ParentId, BillingCountryCode, LastModifiedDate, IsDeleted, "
    f"{ALIAS_DOMAINS_FIELD}, {FORMER_NAMES_FIELD}"
)


def _to_company(record: dict[str, Any]) -> CrmCompanyRecord:
    primary = (record.get("Website") or "").strip()
    aliases = split_list(record.get(ALIAS_DOMAINS_FIELD))
    return CrmCompanyRecord(
        crm_id=str(record["Id"]),
        name=record.get("Name") or "",
        domains=tuple(dict.fromkeys(d for d in (primary, *aliases) if d)),
        former_names=split_list(record.get(FORMER_NAMES_FIELD)),
        country=record.get("BillingCountryCode") or None,
        parent_id=record.get("ParentId") or None,
        modified_at=_parse_time(record.get("LastModifiedDate")),
    )


def classify(response: httpx.Response) -> Exception | None:
    status = response.status_code
    if status < 300:
        return None
    text = response.text[:500]
    if status in WAIT_STATUSES or status >= 500 or "REQUEST_LIMIT_EXCEEDED" in text:
        return CrmUnavailableError(f"{status}: {text}", retry_after=retry_after_seconds(response))
    return CrmRejectedError(f"{status}: {text}")


def _parse_time(raw: str | None) -> datetime:
    if not raw:
        return datetime(1970, 1, 1, tzinfo=UTC)
    text = raw.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]  # Salesforce writes +0000
    return datetime.fromisoformat(text)


def _soql_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


class SalesforceConnector:
    system: CrmSystem = "salesforce"
    batch_size = 200

    def __init__(
        self,
        *,
        instance_url: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        api_version: str,
        stages: StageTable,
        integration_user_id: str,
        per_day: int,
        attempts: int,
        initial_backoff: float,
        max_backoff: float,
        verify: str | bool = True,
        timeout: float = 10,
    ) -> None:
        self.stages = stages
        self._instance = instance_url.rstrip("/")
        self._token_url = token_url or f"{self._instance}/services/oauth2/token"
        self._client_id = client_id
        self._client_secret = client_secret
        self._base = f"/services/data/v{api_version}"
        self._integration_user = integration_user_id
        self._token_lock = asyncio.Lock()
        # httpx deprecates a CA bundle's path as ``verify``: it takes an SSL context.
        tls = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        client = httpx.AsyncClient(
            base_url=self._instance, timeout=timeout, verify=tls, trust_env=False
        )
        self._http = CrmHttp(
            system=self.system,
            client=client,
            limiter=SlidingWindowLimiter([(per_day, 86_400.0)]),
            attempts=attempts,
            initial_backoff=initial_backoff,
            max_backoff=max_backoff,
            classify=classify,
            on_unauthorized=self.refresh_token,
        )

    async def aclose(self) -> None:
        await self._http.client.aclose()

    async def refresh_token(self) -> None:
        """OAuth 2.0 client-credentials grant; the token lives only in the client's headers."""
        async with self._token_lock:
            response = await self._http.client.post(
                self._token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                },
            )
            if response.status_code != 200:
                # Credentials are an operator's fix, never a reason to drop a deal: wait.
                raise CrmUnavailableError(f"token request refused: {response.status_code}")
            body = response.json()
            self._http.client.headers["Authorization"] = f"Bearer {body['access_token']}"

    async def _ensure_token(self) -> None:
        if "authorization" not in self._http.client.headers:
            await self.refresh_token()

    async def upsert(self, writes: Sequence[DealWrite]) -> list[WriteResult]:
        await self._ensure_token()
        keyed = [write for write in writes if write.crm_id is None]
        results = {r.registration_id: r for r in (await self._upsert(keyed) if keyed else [])}
        for write in writes:
            if write.crm_id is not None:  # handed over: the CRM knows it by another key
                await self._http.call(
                    "PATCH",
                    f"{self._base}/sobjects/Opportunity/{write.crm_id}",
                    json=self._fields(write),
                )
                results[write.registration_id] = WriteResult(
                    registration_id=write.registration_id, crm_id=write.crm_id
                )
        for write in writes:
            result = results[write.registration_id]
            roles = write.changes.get("partner_roles")
            if roles is not None and result.crm_id and result.error is None:
                await self._sync_partners(result.crm_id, parse_partner_roles(roles))
        return [results[write.registration_id] for write in writes]

    async def _sync_partners(self, opportunity_id: str, partners: list[DealPartner]) -> None:
        """Bring the opportunity's OpportunityPartner records in line with ``partners``."""
        wanted: dict[tuple[str, str], bool] = {}
        for partner in partners:
            account_id = await self._partner_account(partner)
            role = ROLE_OF.get(partner.role, partner.role)
            wanted[(account_id, role)] = partner.role == "sourced"
        response = await self._http.call(
            "GET",
            f"{self._base}/query/",
            params={
                "q": "SELECT Id, AccountToId, Role FROM OpportunityPartner "  # noqa: S608
                f"WHERE OpportunityId = '{_escape(opportunity_id)}'"
            },
        )
        present: set[tuple[str, str]] = set()
        for record in response.json().get("records", []):
            key = (str(record.get("AccountToId")), str(record.get("Role")))
            if key in wanted and key not in present:
                present.add(key)
                continue
            try:
                await self._http.call(
                    "DELETE", f"{self._base}/sobjects/OpportunityPartner/{record['Id']}"
                )
            except CrmRejectedError as refused:
                if "ENTITY_IS_DELETED" not in str(refused):
                    raise  # a record deleted meanwhile is what we wanted; anything else is not
        for (account_id, role), primary in wanted.items():
            if (account_id, role) in present:
                continue
            await self._http.call(
                "POST",
                f"{self._base}/sobjects/OpportunityPartner/",
                json={
                    "OpportunityId": opportunity_id,
                    "AccountToId": account_id,
                    "Role": role,
                    "IsPrimary": primary,
                },
            )

    async def _partner_account(self, partner: DealPartner) -> str:
        """The partner's Account id, upserted by its dealreg partner id (named as in dealreg)."""
        path = f"{self._base}/sobjects/Account/{PARTNER_ACCOUNT_ID}/{partner.partner_id}"
        response = await self._http.call("PATCH", path, json={"Name": partner.partner_name})
        if response.status_code != 204 and response.content:
            return str(response.json()["id"])
        found = await self._http.call("GET", path)  # older API versions answer 204, no body
        return str(found.json()["Id"])

    async def _upsert(self, writes: Sequence[DealWrite]) -> list[WriteResult]:
        external = FIELD_OF["registration_id"]
        records = [
            {"attributes": {"type": "Opportunity"}, **self._fields(write)} for write in writes
        ]
        response = await self._http.call(
            "PATCH",
            f"{self._base}/composite/sobjects/Opportunity/{external}",
            json={"allOrNone": False, "records": records},
        )
        out = []
        for write, result in zip(writes, response.json(), strict=True):
            if result.get("success"):
                out.append(
                    WriteResult(
                        registration_id=write.registration_id,
                        crm_id=result.get("id"),
                        created=bool(result.get("created")),
                    )
                )
            else:
                errors = result.get("errors", [])
                message = "; ".join(f"{e.get('errorCode')}: {e.get('message')}" for e in errors)
                out.append(
                    WriteResult(
                        registration_id=write.registration_id,
                        crm_id=None,
                        error=message or "failed",
                        retryable=any(
                            e.get("errorCode") in ("REQUEST_LIMIT_EXCEEDED", "UNABLE_TO_LOCK_ROW")
                            for e in errors
                        ),
                    )
                )
        return out

    async def note_protection(self, crm_id: str, note: str) -> None:
        """Write the protection note onto a direct opportunity (one field, by its id)."""
        await self._ensure_token()
        await self._http.call(
            "PATCH",
            f"{self._base}/sobjects/Opportunity/{crm_id}",
            json={PROTECTED_UNTIL_FIELD: note},
        )

    def _fields(self, write: DealWrite) -> dict[str, Any]:
        fields: dict[str, Any] = {FIELD_OF[name]: value for name, value in write.changes.items()}
        fields[FIELD_OF["registration_id"]] = write.registration_id
        if write.seed is not None:
            seed = write.seed
            fields.update(
                {
                    "Name": seed.deal_name,
                    "Amount": float(seed.amount),
                    "CloseDate": seed.close_date.isoformat(),
                    "StageName": self.stages.initial,
                }
            )
        if write.amendment is not None:
            amended = write.amendment
            fields.update(
                {"Amount": float(amended.amount), "CloseDate": amended.close_date.isoformat()}
            )
        return fields

    async def read(self, crm_ids: Sequence[str]) -> list[CrmDeal]:
        deals: list[CrmDeal] = []
        for start in range(0, len(crm_ids), 200):
            quoted = ", ".join(f"'{_escape(i)}'" for i in crm_ids[start : start + 200])
            deals.extend(
                await self._query(f"SELECT {SELECT} FROM Opportunity WHERE Id IN ({quoted})")  # noqa: S608
            )
        return deals

    async def changed_pages(self, since: datetime, until: datetime) -> AsyncIterator[list[CrmDeal]]:
        yield await self._query(
            f"SELECT {SELECT} FROM Opportunity "  # noqa: S608 (our own constants and timestamps)
            f"WHERE LastModifiedDate >= {_soql_time(since)} "
            f"AND LastModifiedDate <= {_soql_time(until)} ORDER BY LastModifiedDate ASC"
        )

    # --- accounts as companies (families and aliases, ``crm_sync.companies``) ---------------
    def changed_companies(
        self, since: datetime, until: datetime
    ) -> AsyncIterator[list[CrmCompanyRecord]]:
        return self._changed_companies(since, until)

    async def _changed_companies(
        self, since: datetime, until: datetime
    ) -> AsyncIterator[list[CrmCompanyRecord]]:
        records = await self._records(
            f"SELECT {ACCOUNT_SELECT} FROM Account "  # noqa: S608 (our constants and timestamps)
            f"WHERE LastModifiedDate >= {_soql_time(since)} "
            f"AND LastModifiedDate <= {_soql_time(until)} ORDER BY LastModifiedDate ASC"
        )
        yield [_to_company(record) for record in records if not record.get("IsDeleted")]

    async def read_companies(self, crm_ids: Sequence[str]) -> list[CrmCompanyRecord]:
        """These accounts now; deleted ones are left out."""
        companies: list[CrmCompanyRecord] = []
        for start in range(0, len(crm_ids), 200):
            quoted = ", ".join(f"'{_escape(i)}'" for i in crm_ids[start : start + 200])
            records = await self._records(
                f"SELECT {ACCOUNT_SELECT} FROM Account WHERE Id IN ({quoted})"  # noqa: S608
            )
            companies.extend(_to_company(r) for r in records if not r.get("IsDeleted"))
        return companies

    async def _query(self, soql: str) -> list[CrmDeal]:
        return [self._to_deal(record) for record in await self._records(soql)]

    async def _records(self, soql: str) -> list[dict[str, Any]]:
        await self._ensure_token()
        response = await self._http.call("GET", f"{self._base}/query/", params={"q": soql})
        body = response.json()
        records = list(body.get("records", []))
        while not body.get("done", True) and body.get("nextRecordsUrl"):
            response = await self._http.call("GET", body["nextRecordsUrl"])
            body = response.json()
            records.extend(body.get("records", []))
        return records

    def _to_deal(self, record: dict[str, Any]) -> CrmDeal:
        stage = record.get("StageName")
        close = record.get("CloseDate")
        amount = record.get("Amount")
        account = record.get("Account") or {}
        outcome = self.stages.outcome_of(stage)
        if outcome is None and record.get("IsClosed"):
            outcome = "won" if record.get("IsWon") else "lost"
        website = account.get("Website") or None
        return CrmDeal(
            crm_id=str(record["Id"]),
            registration_id=record.get(FIELD_OF["registration_id"]) or None,
            owned={
                name: str(record[field])
                for name, field in FIELD_OF.items()
                if record.get(field) is not None
            },
            sales=SalesState(
                stage=self.stages.name_of(stage),
                amount=None if amount is None else Decimal(str(amount)).quantize(Decimal("0.01")),
                currency=record.get("CurrencyIsoCode"),
                close_date=date.fromisoformat(close) if close else None,
                owner=record.get("OwnerId"),
                outcome=outcome,
            ),
            modified_at=_parse_time(record.get("LastModifiedDate")),
            archived=bool(record.get("IsDeleted")),
            modified_by_us=bool(self._integration_user)
            and record.get("LastModifiedById") == self._integration_user,
            name=record.get("Name") or "",
            company_name=account.get("Name"),
            company_domain=website,
            company_country=account.get("BillingCountryCode"),
            extra={"product_line": record.get(FIELD_OF["product_line"]) or ""},
        )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
