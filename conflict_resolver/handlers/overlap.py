"""Account overlap without exposure (issue 16): the use cases behind ``/v1/overlap``.

Sales ops issue (and rotate) a partner's overlap key; the partner hashes its list with it
(``schemas.account_overlap``) and uploads the hashes, which replace its previous list in one
transaction; either side opts in to showing the overlapping accounts; both read the report.
A partner acts only on itself: another partner's id answers as one that does not exist.
Nothing here logs or emits an event: the hashes and the overlap stay in this database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from conflict_resolver.adapters import overlap as store
from conflict_resolver.adapters.session import Session
from conflict_resolver.domain.overlap import (
    FieldError,
    InvalidUploadError,
    OverlapForbiddenError,
    OverlapNotFoundError,
    OverlapReport,
    UploadTooSoonError,
    compare,
    derive_partner_key,
    report,
    seconds_until_next_upload,
    upload_errors,
)
from schemas.principals import ApiKeyRevoked, PartnerKeyIssued, PartnerStatusChanged
from services.clock import Clock
from services.events import EventContext
from services.uow import TransactionRunner


@dataclass(frozen=True)
class OverlapContext:
    transactions: TransactionRunner
    clock: Clock
    key_secret: bytes  # what every partner's overlap key is derived from
    max_accounts: int  # the longest list a partner may upload
    min_upload_interval: timedelta = timedelta(0)  # between two lists of one partner


@dataclass(frozen=True)
class OverlapCaller:
    """A partner (acting for itself) or the vendor's side (sales ops or the admin)."""

    actor: str  # ``partner:<id>``, ``ops:<id>`` or ``admin``
    partner_id: str | None = None
    suspended: bool = False  # a suspended partner may read but not write

    @property
    def is_partner(self) -> bool:
        return self.partner_id is not None


@dataclass(frozen=True)
class OverlapKey:
    """A partner's overlap key at its current version."""

    partner_id: str
    version: int
    key: str
    issued_at: datetime


async def partner_key_issued(event: PartnerKeyIssued, context: EventContext) -> None:
    """Learn a partner key deal_registration issued (hash only)."""
    await store.add_partner_key(context.session, event)


async def partner_caller(ctx: OverlapContext, key_hash: str) -> OverlapCaller | None:
    """The partner a live key acts for (suspended or not), or None."""
    async with ctx.transactions.transaction() as session:
        found = await store.live_partner_of(session, key_hash)
    if found is None:
        return None
    partner_id, suspended = found
    return OverlapCaller(actor=f"partner:{partner_id}", partner_id=partner_id, suspended=suspended)


async def partner_status_changed(event: PartnerStatusChanged, context: EventContext) -> None:
    """Learn that deal_registration suspended or reinstated a partner."""
    await store.set_partner_status(context.session, event)


def _may_write(caller: OverlapCaller) -> None:
    if caller.suspended:
        raise OverlapForbiddenError("the partner is suspended; it may read but not write")


async def revoke_partner_key(session: Session, event: ApiKeyRevoked) -> None:
    await store.revoke_partner_key(session, event)


def _visible(caller: OverlapCaller, partner_id: str) -> None:
    if caller.is_partner and caller.partner_id != partner_id:
        raise OverlapNotFoundError("partner")


async def _known(session: Session, caller: OverlapCaller, partner_id: str) -> None:
    _visible(caller, partner_id)
    if not caller.is_partner and not await store.partner_known(session, partner_id):
        raise OverlapNotFoundError("partner")


async def issue_key(ctx: OverlapContext, caller: OverlapCaller, partner_id: str) -> OverlapKey:
    """Sales ops issue the partner's first overlap key, or rotate it (the list uploaded under
    the old one stops counting until the partner uploads again)."""
    _visible(caller, partner_id)
    if caller.is_partner:
        raise OverlapForbiddenError("sales ops issue and rotate overlap keys")
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        await _known(session, caller, partner_id)
        version = await store.next_key_version(session, partner_id, issued_by=caller.actor, now=now)
    return _key(ctx, partner_id, version, now)


def _key(ctx: OverlapContext, partner_id: str, version: int, issued_at: datetime) -> OverlapKey:
    key = derive_partner_key(ctx.key_secret, partner_id=partner_id, version=version)
    return OverlapKey(partner_id=partner_id, version=version, key=key, issued_at=issued_at)


async def current_key(ctx: OverlapContext, caller: OverlapCaller, partner_id: str) -> OverlapKey:
    """The partner's current key (the partner itself, or sales ops); 404 before one is issued."""
    async with ctx.transactions.transaction() as session:
        await _known(session, caller, partner_id)
        issued = await store.key_issued(session, partner_id)
    if issued is None:
        raise OverlapNotFoundError("overlap key")
    version, issued_at = issued
    return _key(ctx, partner_id, version, issued_at)


async def upload(
    ctx: OverlapContext,
    caller: OverlapCaller,
    partner_id: str,
    *,
    key_version: int,
    hashes: Sequence[object],
) -> OverlapReport:
    """Replace the partner's list with these hashes, all or nothing."""
    _visible(caller, partner_id)
    if not caller.is_partner:
        raise OverlapForbiddenError("only the partner uploads its own list")
    _may_write(caller)
    errors = upload_errors(hashes, limit=ctx.max_accounts)
    if errors:
        raise InvalidUploadError(errors)
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        current = await store.key_version(session, partner_id, lock=True)
        if current is None:
            raise OverlapNotFoundError("overlap key")
        if key_version != current:
            message = f"is not the current overlap key's version ({current}): hash again"
            raise InvalidUploadError([FieldError("key_version", message)])
        previous, _ = await store.upload_of(session, partner_id)
        same_key = previous is not None and previous.key_version == current
        wait = seconds_until_next_upload(
            previous.uploaded_at if previous is not None and same_key else None,
            now=now,
            min_interval=ctx.min_upload_interval,
        )
        if wait:
            raise UploadTooSoonError(wait)
        valid = [str(digest) for digest in hashes]
        await store.replace_hashes(session, partner_id, valid, key_version=current, now=now)
        return await _report(ctx, session, partner_id)


async def set_consent(
    ctx: OverlapContext, caller: OverlapCaller, partner_id: str, *, opted_in: bool
) -> OverlapReport:
    """The caller's side opts in to (or out of) showing the overlapping accounts."""
    _visible(caller, partner_id)
    _may_write(caller)
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        await _known(session, caller, partner_id)
        if caller.is_partner:
            await store.set_partner_consent(session, partner_id, opted_in=opted_in, now=now)
        else:
            await store.set_vendor_consent(
                session, partner_id, opted_in=opted_in, by=caller.actor, now=now
            )
        return await _report(ctx, session, partner_id)


async def read_report(ctx: OverlapContext, caller: OverlapCaller, partner_id: str) -> OverlapReport:
    """Counts for both sides; the overlapping accounts once both opted in."""
    async with ctx.transactions.transaction() as session:
        await _known(session, caller, partner_id)
        return await _report(ctx, session, partner_id)


async def _report(ctx: OverlapContext, session: Session, partner_id: str) -> OverlapReport:
    issued = await store.key_issued(session, partner_id)
    version = None if issued is None else issued[0]
    current_upload, consent = await store.upload_of(session, partner_id)
    comparison = None
    if current_upload is not None and version == current_upload.key_version:
        key = derive_partner_key(ctx.key_secret, partner_id=partner_id, version=version)
        comparison = compare(
            key=key,
            partner_hashes=await store.hashes_of(session, partner_id),
            vendor_domains=await store.vendor_account_domains(session),
        )
    return report(
        partner_id=partner_id,
        key_version=version,
        upload=current_upload,
        consent=consent,
        comparison=comparison,
    )
