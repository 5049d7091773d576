"""The port every CRM connector implements (HubSpot, Salesforce); handlers depend only on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol

from crm_sync.domain.companies import CrmCompanyRecord
from crm_sync.domain.model import CrmDeal, DealWrite, StageTable, WriteResult
from schemas.crm import CrmSystem


class CrmUnavailableError(Exception):
    """The CRM failed or refused for now (5xx, 429, network): try again later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CrmRejectedError(Exception):
    """The CRM refused the request itself (4xx other than 429): retrying will not help."""


class CrmConnector(Protocol):
    """One CRM: upsert opportunities keyed by registration id, read them back, find changes."""

    system: CrmSystem
    batch_size: int
    stages: StageTable

    async def upsert(self, writes: Sequence[DealWrite]) -> list[WriteResult]:
        """Create or update opportunities by the registration-id external key, in one batch; a
        write with a ``crm_id`` (a handed-over opportunity) updates that opportunity by its id."""
        ...

    async def read(self, crm_ids: Sequence[str]) -> list[CrmDeal]:
        """Current state of these opportunities; archived or deleted ones are left out."""
        ...

    def changed_pages(self, since: datetime, until: datetime) -> AsyncIterator[list[CrmDeal]]:
        """Opportunities modified from ``since`` to ``until`` (both included), page by page,
        oldest first: the caller can keep its watermark at the newest one it has applied."""
        ...

    async def aclose(self) -> None: ...


class CompanySource(Protocol):
    """A CRM whose company records (names, alias domains, former names, parent) we publish to
    the resolver (``crm_sync.companies``). A connector may implement it besides
    :class:`CrmConnector`."""

    system: CrmSystem

    def changed_companies(
        self, since: datetime, until: datetime
    ) -> AsyncIterator[list[CrmCompanyRecord]]:
        """Companies modified from ``since`` to ``until``, page by page, oldest first."""
        ...

    async def read_companies(self, crm_ids: Sequence[str]) -> list[CrmCompanyRecord]:
        """These companies now; deleted or merged-away ones are left out."""
        ...
