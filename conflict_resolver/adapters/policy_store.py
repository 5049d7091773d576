"""Versioned policy and house-account lists: each PUT stores a new version, nothing is edited.

Version 1 of the policy is the checked-in ``conflict_resolver/default_policy.yaml``; it is
stored on first use so that the history is complete even if the file changes later.

**Cached by version.** Every decision needs the policy and the house-account list in force;
reading and validating both documents for each event was a measurable share of a decision.
A transaction now asks only which versions are the latest (one small statement for both
tables, once per transaction: a batch of decisions shares it), and a version's document is
parsed once per process and kept. Versions are never edited, only appended, so a cached
version cannot go stale; a version published by any instance (or by this one) is seen by the
next transaction that asks, exactly as before. The cache is keyed by the database too (a
process, such as the tests, may speak to several).
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from datetime import datetime
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Table, func, insert, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters.emitter import EMITTER
from conflict_resolver.adapters.tables import house_account_lists, policies
from conflict_resolver.domain.policy import Policy
from schemas.policies import HouseAccountsPublished, PolicyPublished
from services.clock import new_id
from services.db import dialect_name
from services.events import Cause


@functools.cache
def default_policy_document() -> dict[str, Any]:
    text = resources.files("conflict_resolver").joinpath("default_policy.yaml").read_text()
    document = yaml.safe_load(text)
    if not isinstance(document, dict):
        raise ValueError("default_policy.yaml must hold a mapping")
    return document


def default_policy() -> Policy:
    return Policy.model_validate({**default_policy_document(), "version": 1})


class StoredVersion(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int
    created_at: datetime
    created_by: str
    document: dict[str, Any]


class HouseAccount(BaseModel):
    """An account the vendor reserves for direct sales."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=300)
    domain: str | None = Field(default=None, max_length=300)
    country: str | None = Field(default=None, min_length=2, max_length=2)


class HouseAccountList(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    accounts: tuple[HouseAccount, ...] = Field(default=(), max_length=5000)


async def _latest(session: AsyncSession, table: Table) -> StoredVersion | None:
    row = (
        (await session.execute(select(table).order_by(table.c.version.desc()).limit(1)))
        .mappings()
        .first()
    )
    return None if row is None else StoredVersion.model_validate(dict(row))


# (database, table, version, created_at) -> the parsed document; a few versions are plenty.
_PARSED: OrderedDict[tuple[str, str, int, datetime], Any] = OrderedDict()
_PARSED_LIMIT = 32
# session.info key: the latest (version, created_at) of each table, read once per transaction.
_LATEST = "conflict_resolver.latest_versions"
# session.info key: this transaction appended a version (not committed yet: nothing it reads
# back goes into the cache, in case it rolls back).
_APPENDED = "conflict_resolver.appended_version"


def _database_of(session: AsyncSession) -> str:
    return session.get_bind().engine.url.render_as_string(hide_password=True)


async def _latest_versions(session: AsyncSession) -> dict[str, tuple[int, datetime]]:
    """Table name -> the latest (version, created_at), both tables in one statement; read once
    per session (one transaction) unless the session appends a version itself."""
    known: dict[str, tuple[int, datetime]] | None = session.info.get(_LATEST)
    if known is not None:
        return known
    newest = [
        select(table.c.version, table.c.created_at)
        .order_by(table.c.version.desc())
        .limit(1)
        .subquery()
        for table in (policies, house_account_lists)
    ]
    statement = union_all(
        *[
            select(literal(table.name).label("name"), sub.c.version, sub.c.created_at)
            for table, sub in zip((policies, house_account_lists), newest, strict=True)
        ]
    )
    rows = (await session.execute(statement)).all()
    known = {row.name: (row.version, row.created_at) for row in rows}
    session.info[_LATEST] = known
    return known


async def _cached_latest(session: AsyncSession, table: Table) -> tuple[int, Any] | None:
    """(version, document) of the table's latest version, the document parsed by ``parse``
    at most once per version; None while the table is empty."""
    latest = (await _latest_versions(session)).get(table.name)
    if latest is None:
        return None
    version, created_at = latest
    key = (_database_of(session), table.name, version, created_at)
    if key in _PARSED:
        _PARSED.move_to_end(key)
        return version, _PARSED[key]
    row = (
        (await session.execute(select(table.c.document).where(table.c.version == version)))
        .scalars()
        .first()
    )
    if row is None:
        return None
    parsed = (
        Policy.model_validate({**row, "version": version})
        if table is policies
        else HouseAccountList.model_validate(row)
    )
    if not session.info.get(_APPENDED):
        _PARSED[key] = parsed
        while len(_PARSED) > _PARSED_LIMIT:
            _PARSED.popitem(last=False)
    return version, parsed


async def _latest_locked(session: AsyncSession, table: Table) -> int | None:
    """The highest stored version, read under the table's lock (PostgreSQL; SQLite's
    transactions begin immediate, so they already exclude each other)."""
    if dialect_name(session) == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(table.name))))
    latest: int | None = (
        await session.execute(select(func.max(table.c.version)))
    ).scalar_one_or_none()
    return latest


async def record_version(
    session: AsyncSession,
    table: Table,
    version: int,
    document: dict[str, Any],
    *,
    created_by: str,
    now: datetime,
) -> int:
    """Write one version as it was stored (``policies`` or ``house_account_lists``); the one
    write of a version, whether published now or replayed from its event."""
    session.info.pop(_LATEST, None)  # this transaction's next read sees the new version
    session.info[_APPENDED] = True
    await session.execute(
        insert(table).values(
            version=version, document=document, created_at=now, created_by=created_by
        )
    )
    return version


def published_event(
    table: Table, version: int, document: dict[str, Any], *, created_by: str, now: datetime
) -> PolicyPublished | HouseAccountsPublished:
    """The event telling a stored version, whole (the resolver is rebuilt from it)."""
    kind = PolicyPublished if table is policies else HouseAccountsPublished
    return kind(version=version, document=document, published_at=now, published_by=created_by)


async def _insert_version(
    session: AsyncSession,
    table: Table,
    version: int,
    document: dict[str, Any],
    *,
    created_by: str,
    now: datetime,
) -> int:
    """Store a version and stage its event in the same transaction."""
    await record_version(session, table, version, document, created_by=created_by, now=now)
    event = published_event(table, version, document, created_by=created_by, now=now)
    subject = f"{'policy' if table is policies else 'house-accounts'}-{version}"
    await EMITTER.emit(
        session,
        event,
        subject=subject,
        partition_key="policy",
        cause=Cause(None, new_id()),
        time=now,
    )
    return version


async def _append(
    session: AsyncSession,
    table: Table,
    document: dict[str, Any],
    *,
    created_by: str,
    now: datetime,
) -> int:
    """Store the next version. Concurrent PUTs collide on the primary key: one retries."""
    latest = await _latest_locked(session, table)
    return await _insert_version(
        session, table, (latest or 0) + 1, document, created_by=created_by, now=now
    )


async def _store_first(
    session: AsyncSession, table: Table, document: dict[str, Any], *, now: datetime
) -> bool:
    """Store the default file as version 1, unless another transaction stored a version since
    this one found the table empty (it must not land on top of a published one)."""
    if await _latest_locked(session, table) is not None:
        session.info.pop(_LATEST, None)  # read again: the version stored meanwhile
        return False
    await _insert_version(session, table, 1, document, created_by="default", now=now)
    return True


async def current_policy(
    session: AsyncSession, *, now: datetime, store_default: bool = True
) -> Policy:
    """The latest policy version; the default file is version 1 (stored on first use, unless
    the caller must not write)."""
    latest = await _cached_latest(session, policies)
    if latest is None:
        policy = default_policy()
        if not store_default:
            return policy
        # Only as version 1: ops may have published a policy since the read above, and the
        # default stored on top of it would silently replace it.
        if await _store_first(session, policies, policy.document(), now=now):
            return policy
        latest = await _cached_latest(session, policies)
        assert latest is not None  # noqa: S101 - another transaction stored a version
    _version, policy = latest
    assert isinstance(policy, Policy)  # noqa: S101 - parsed from the policies table
    return policy


async def policy_version(session: AsyncSession, version: int) -> Policy | None:
    row = (
        (await session.execute(select(policies).where(policies.c.version == version)))
        .mappings()
        .first()
    )
    return None if row is None else Policy.model_validate({**row["document"], "version": version})


async def policy_record_of(session: AsyncSession, version: int) -> StoredVersion | None:
    query = select(policies).where(policies.c.version == version)
    row = (await session.execute(query)).mappings().first()
    return None if row is None else StoredVersion.model_validate(dict(row))


async def publish_policy(
    session: AsyncSession, policy: Policy, *, created_by: str, now: datetime
) -> Policy:
    await current_policy(session, now=now)  # version 1 first, if the table is empty
    version = await _append(session, policies, policy.document(), created_by=created_by, now=now)
    return policy.model_copy(update={"version": version})


async def latest_policy_record(session: AsyncSession, *, now: datetime) -> StoredVersion:
    await current_policy(session, now=now)
    latest = await _latest(session, policies)
    assert latest is not None  # noqa: S101 - just stored
    return latest


async def current_house_accounts(session: AsyncSession) -> tuple[int, HouseAccountList]:
    """(version, list); version 0 and an empty list before the first PUT."""
    latest = await _cached_latest(session, house_account_lists)
    if latest is None:
        return 0, HouseAccountList()
    version, accounts = latest
    assert isinstance(accounts, HouseAccountList)  # noqa: S101 - parsed from its table
    return version, accounts


async def publish_house_accounts(
    session: AsyncSession, accounts: HouseAccountList, *, created_by: str, now: datetime
) -> int:
    document = accounts.model_dump(mode="json")
    return await _append(session, house_account_lists, document, created_by=created_by, now=now)


async def latest_house_accounts_record(session: AsyncSession) -> StoredVersion | None:
    return await _latest(session, house_account_lists)
