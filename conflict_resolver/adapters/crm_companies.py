"""The resolver's copy of the CRM's company records, and the family a customer belongs to.

A company is filed under its lookup keys (``families.company_lookup_keys``: every domain and
every name, former ones included); a registration is looked up by its own. Its family is read
by walking ``parent_company_id`` up to the top parent and back down (a few indexed queries).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from sqlalchemy import and_, delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters.dialect import upsert
from conflict_resolver.adapters.tables import crm_companies, crm_company_keys
from conflict_resolver.domain.families import (
    AccountContext,
    CrmCompany,
    account_context,
    company_lookup_keys,
    customer_lookup_keys,
    find_company,
)
from schemas.companies import CrmCompanyRemoved, CrmCompanyUpserted

_MAX_LEVELS: Final = 10  # how far up and down a family is read
_COLUMNS: Final = ("account_key", "name", "domains", "former_names", "country")


# Per transaction (``session.info``): a customer's (name, domain, country) -> its CRM company
# context, read for a batch's customers at once (``contexts_for``). The CRM records change only
# through the CRM consumer, never in a transaction deciding submissions.
_CONTEXTS = "conflict_resolver.crm_contexts"


async def record_upserted(session: AsyncSession, event: CrmCompanyUpserted) -> None:
    """Keep the company as described, unless a newer change is already recorded."""
    session.info.pop(_CONTEXTS, None)  # a batch's look-ups (``contexts_for``) no longer hold
    current = (
        await session.execute(
            select(crm_companies.c.changed_at).where(_is(event.crm_system, event.company_id))
        )
    ).scalar_one_or_none()
    if current is not None and current > event.changed_at:
        return
    company = _company_of(event)
    values: dict[str, Any] = {
        "crm_system": event.crm_system,
        "company_id": event.company_id,
        "account_key": event.account_key,
        "name": event.name,
        "domains": list(event.domains),
        "former_names": list(event.former_names),
        "country": company.country,
        "parent_company_id": event.parent_company_id,
        "changed_at": event.changed_at,
    }
    await session.execute(
        upsert(
            session,
            crm_companies,
            values=values,
            index_elements=["crm_system", "company_id"],
            update_columns=[*_COLUMNS, "parent_company_id", "changed_at"],
        )
    )
    await _drop_keys(session, event.crm_system, event.company_id)
    rows = [
        {"lookup_key": key, "crm_system": event.crm_system, "company_id": event.company_id}
        for key in company_lookup_keys(company)
    ]
    if rows:
        await session.execute(insert(crm_company_keys), rows)


async def record_removed(session: AsyncSession, event: CrmCompanyRemoved) -> None:
    """Forget the company (its subsidiaries keep their records, now without a known parent)."""
    session.info.pop(_CONTEXTS, None)
    await session.execute(
        delete(crm_companies).where(
            _is(event.crm_system, event.company_id),
            crm_companies.c.changed_at <= event.removed_at,
        )
    )
    still = (
        await session.execute(
            select(crm_companies.c.company_id).where(_is(event.crm_system, event.company_id))
        )
    ).first()
    if still is None:
        await _drop_keys(session, event.crm_system, event.company_id)


def _customer_ref(customer: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    return customer["name"], customer.get("domain"), customer.get("country")


async def contexts_for(session: AsyncSession, customers: Iterable[Mapping[str, Any]]) -> None:
    """Read the CRM company context of each of ``customers`` in one statement, for
    ``context_for`` to answer in this transaction. Only a customer whose lookup keys the CRM
    files at all is then read as ``context_for`` reads one (none when the CRM is empty)."""
    known: dict[tuple[Any, Any, Any], AccountContext | None] = session.info.setdefault(
        _CONTEXTS, {}
    )
    wanted = {
        ref: customer_lookup_keys(name=ref[0], domain=ref[1])
        for ref in map(_customer_ref, customers)
        if ref not in known
    }
    everything = sorted({key for keys in wanted.values() for key in keys})
    if not everything:
        known.update((ref, None) for ref in wanted)
        return
    query = select(crm_company_keys.c.lookup_key).where(
        crm_company_keys.c.lookup_key.in_(everything)
    )
    filed = set((await session.execute(query.distinct())).scalars())
    for ref, keys in wanted.items():
        if not filed.intersection(keys):
            known[ref] = None  # what ``context_for`` answers for keys the CRM does not file
    # The others are read one by one by ``context_for``, as without a batch.


async def context_for(session: AsyncSession, customer: Mapping[str, Any]) -> AccountContext | None:
    """The CRM company this customer is (by domain, alias domain, name or former name) and
    its family; None when the CRM does not know it."""
    known: dict[tuple[Any, Any, Any], AccountContext | None] = session.info.get(_CONTEXTS, {})
    ref = _customer_ref(customer)
    if ref in known:
        return known[ref]
    context = await _context_of(session, customer)
    if _CONTEXTS in session.info:
        known[ref] = context
    return context


async def _context_of(session: AsyncSession, customer: Mapping[str, Any]) -> AccountContext | None:
    name, domain, country = customer["name"], customer.get("domain"), customer.get("country")
    keys = customer_lookup_keys(name=name, domain=domain)
    if not keys:
        return None
    refs = (
        select(crm_company_keys.c.crm_system, crm_company_keys.c.company_id)
        .where(crm_company_keys.c.lookup_key.in_(keys))
        .distinct()
    )
    candidates = await _companies(session, [tuple(r) for r in (await session.execute(refs))])
    hit = find_company(name=name, domain=domain, country=country, companies=candidates)
    if hit is None:
        return None
    return account_context(hit, await _family(session, hit.company))


async def _family(session: AsyncSession, company: CrmCompany) -> list[CrmCompany]:
    """The company, its ancestors, and every descendant of its top ancestor."""
    known = {company.ref: company}
    top = company
    for _ in range(_MAX_LEVELS):
        if not top.parent_company_id or (top.crm_system, top.parent_company_id) in known:
            break
        parents = await _companies(session, [(top.crm_system, top.parent_company_id)])
        if not parents:
            break
        top = parents[0]
        known[top.ref] = top
    level = [top]
    for _ in range(_MAX_LEVELS):
        children = await _children(session, top.crm_system, [c.company_id for c in level])
        level = [c for c in children if c.ref not in known]
        if not level:
            break
        known.update((c.ref, c) for c in level)
    return sorted(known.values(), key=lambda c: c.ref)


async def _companies(session: AsyncSession, refs: Iterable[tuple[str, str]]) -> list[CrmCompany]:
    wanted = sorted(set(refs))
    if not wanted:
        return []
    query = select(crm_companies).where(or_(*(_is(system, cid) for system, cid in wanted)))
    rows = (await session.execute(query)).mappings()
    return sorted((_from_row(row) for row in rows), key=lambda c: c.ref)


async def _children(session: AsyncSession, system: str, parent_ids: list[str]) -> list[CrmCompany]:
    query = select(crm_companies).where(
        crm_companies.c.crm_system == system, crm_companies.c.parent_company_id.in_(parent_ids)
    )
    return [_from_row(row) for row in (await session.execute(query)).mappings()]


async def _drop_keys(session: AsyncSession, system: str, company_id: str) -> None:
    await session.execute(
        delete(crm_company_keys).where(
            crm_company_keys.c.crm_system == system, crm_company_keys.c.company_id == company_id
        )
    )


def _is(system: str, company_id: str) -> Any:
    return and_(crm_companies.c.crm_system == system, crm_companies.c.company_id == company_id)


def _company_of(event: CrmCompanyUpserted) -> CrmCompany:
    country = (event.country or "").strip().upper()
    return CrmCompany(
        crm_system=event.crm_system,
        company_id=event.company_id,
        account_key=event.account_key,
        name=event.name,
        domains=tuple(event.domains),
        former_names=tuple(event.former_names),
        country=country if len(country) == 2 else None,
        parent_company_id=event.parent_company_id,
    )


def _from_row(row: Any) -> CrmCompany:
    return CrmCompany(
        crm_system=row["crm_system"],
        company_id=row["company_id"],
        account_key=row["account_key"],
        name=row["name"],
        domains=tuple(row["domains"]),
        former_names=tuple(row["former_names"]),
        country=row["country"],
        parent_company_id=row["parent_company_id"],
    )
