"""Account overlap without exposure (issue 16): the pure rules.

A partner's overlap key is derived, per partner and version, from the resolver's secret, so
sales ops can issue and rotate it without storing it, and hashes under two partners' keys
never compare. An upload is a list of keyed hashes (``schemas.account_overlap``); it is
checked whole (format, size, duplicates) before it replaces the previous one. The comparison
hashes the vendor's account domains under the partner's key and keeps only the hashes both
sides hold: the counts are always shown to both sides, the overlapping accounts only once
both have opted in, and nothing about a vendor account outside the overlap is ever returned.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.account_overlap import OVERLAP_HASH_FORMAT, overlap_hash

MAX_REPORTED_ERRORS = 20  # a bad list of 50,000 gets an answer of a readable size


def derive_partner_key(secret: bytes, *, partner_id: str, version: int) -> str:
    """The overlap key of one partner at one version: HMAC-SHA256 of (partner, version)."""
    message = f"dealreg/overlap-key\x00{partner_id}\x00{version}".encode()
    return "ovk_" + hmac.new(secret, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class FieldError:
    """One bad field of an upload, named as problem+json names it."""

    field: str
    message: str


def upload_errors(hashes: Sequence[object], *, limit: int) -> list[FieldError]:
    """What is wrong with an uploaded list (empty when it may replace the previous one).

    Every entry must be a keyed hash (64 lower-case hex digits) and appear once; the list may
    hold at most ``limit`` entries. At most ``MAX_REPORTED_ERRORS`` are named.
    """
    if len(hashes) > limit:
        return [FieldError("hashes", f"holds {len(hashes)} entries; at most {limit} are taken")]
    errors: list[FieldError] = []
    first_seen: dict[str, int] = {}
    for index, entry in enumerate(hashes):
        if not isinstance(entry, str) or not OVERLAP_HASH_FORMAT.fullmatch(entry):
            errors.append(
                FieldError(
                    f"hashes.{index}",
                    "must be an HMAC-SHA256 of a registrable domain: 64 lower-case hex digits",
                )
            )
        elif entry in first_seen:
            errors.append(FieldError(f"hashes.{index}", f"repeats hashes.{first_seen[entry]}"))
        else:
            first_seen[entry] = index
    return errors[:MAX_REPORTED_ERRORS]


def seconds_until_next_upload(
    last_upload: datetime | None, *, now: datetime, min_interval: timedelta
) -> int:
    """0 when a new list may be taken; otherwise whole seconds to wait.

    Counts are shown without opt-ins, so each upload answers one question about the vendor's
    accounts ("how many of these?"): by uploading a list, then the list plus one domain, a
    partner could test domains one at a time. Spacing uploads bounds that to a few a day.
    The first list under a newly rotated key is always taken (``last_upload`` None).
    """
    if last_upload is None or min_interval <= timedelta(0):
        return 0
    remaining = last_upload + min_interval - now
    return max(0, math.ceil(remaining.total_seconds()))


@dataclass(frozen=True)
class OverlapAccount:
    """An account both sides hold: its registrable domain and its hash under the key."""

    domain: str
    hash: str


@dataclass(frozen=True)
class Comparison:
    """How many accounts each side holds and which ones both do."""

    partner_accounts: int
    vendor_accounts: int
    overlapping: tuple[OverlapAccount, ...]


def compare(
    *, key: str, partner_hashes: Iterable[str], vendor_domains: Iterable[str]
) -> Comparison:
    """Hash the vendor's account domains under the partner's key and intersect."""
    vendor: dict[str, str] = {}
    for raw in vendor_domains:
        digest = overlap_hash(key, raw)
        if digest is not None:
            vendor[digest] = raw
    partner = frozenset(partner_hashes)
    shared = sorted(
        (OverlapAccount(domain=vendor[digest], hash=digest) for digest in partner & vendor.keys()),
        key=lambda account: account.domain,
    )
    return Comparison(
        partner_accounts=len(partner), vendor_accounts=len(vendor), overlapping=tuple(shared)
    )


@dataclass(frozen=True)
class Consent:
    """Each side's opt-in to showing the overlapping accounts (counts are always shown)."""

    partner_opted_in_at: datetime | None = None
    vendor_opted_in_at: datetime | None = None

    @property
    def both(self) -> bool:
        return self.partner_opted_in_at is not None and self.vendor_opted_in_at is not None


@dataclass(frozen=True)
class Upload:
    """The partner's current list, as stored: under which key version, when, how many."""

    key_version: int
    uploaded_at: datetime
    accounts: int


@dataclass(frozen=True)
class OverlapReport:
    """What either side reads. ``comparison`` is None while there is no upload under the
    current key; ``accounts`` is None unless both sides opted in (then only the overlap)."""

    partner_id: str
    key_version: int | None
    upload: Upload | None
    stale: bool
    consent: Consent
    partner_accounts: int | None
    vendor_accounts: int | None
    overlapping: int | None
    accounts: tuple[OverlapAccount, ...] | None


def report(
    *,
    partner_id: str,
    key_version: int | None,
    upload: Upload | None,
    consent: Consent,
    comparison: Comparison | None,
) -> OverlapReport:
    """The report both sides read: counts always, accounts only with both opt-ins."""
    stale = upload is not None and upload.key_version != key_version
    counted = comparison if upload is not None and not stale else None
    return OverlapReport(
        partner_id=partner_id,
        key_version=key_version,
        upload=upload,
        stale=stale,
        consent=consent,
        partner_accounts=None if counted is None else counted.partner_accounts,
        vendor_accounts=None if counted is None else counted.vendor_accounts,
        overlapping=None if counted is None else len(counted.overlapping),
        accounts=counted.overlapping if counted is not None and consent.both else None,
    )


class OverlapNotFoundError(Exception):
    """No such partner, key or list, or one the caller may not know of (a partner asking
    about another partner: answered exactly as for one that does not exist)."""


class OverlapForbiddenError(Exception):
    """The caller is who it says but this is the other side's step."""


class InvalidUploadError(Exception):
    """An upload that may not replace the list: each bad field named."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{error.field}: {error.message}" for error in errors))
        self.errors = errors


class UploadTooSoonError(Exception):
    """A new list before the minimum interval since the last one has passed."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} seconds")
        self.retry_after = retry_after
