"""Account overlap without exposure: keyed hashes of registrable domains (issue 16).

A partner compares its customer and prospect list with the vendor's accounts without either
side showing the other anything outside the overlap. Each partner gets its own *overlap key*
(issued and rotated by sales ops, derived per partner by the resolver); both sides hash each
account's registrable domain with HMAC-SHA256 under that key, the partner uploads only the
hashes, and the resolver compares them with the same hashes of the vendor's accounts. Hashes
under two partners' keys cannot be compared with each other, and without the key a hash is no
dictionary-attackable SHA-256 of a domain.

This module is the one definition both sides use, and the client-side helper a partner runs
(``docs/partner-api.md`` has the recipe): pure, standard library ``hmac`` plus the project's
registrable-domain rules (``schemas.account_domains``: ``www.``, subdomains, URLs and e-mail
addresses all give one domain; free mail and shared-platform tenants identify no account).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Final

from schemas.account_domains import account_domain

OVERLAP_HASH_FORMAT: Final = re.compile(r"^[0-9a-f]{64}$")
"""What an uploaded hash looks like: 64 lower-case hex digits (HMAC-SHA256, hex)."""


def overlap_hash(key: str, raw_domain: str) -> str | None:
    """The keyed hash of the account a domain, URL or e-mail address names, or None.

    ``HMAC-SHA256(key as ASCII, registrable domain as ASCII)`` in lower-case hex; None when the
    address identifies no account (free mail, a shared platform's tenant page, no domain).
    """
    domain = account_domain(raw_domain)
    if domain is None:
        return None
    return hmac.new(key.encode("ascii"), domain.encode("ascii"), hashlib.sha256).hexdigest()


def hash_account_list(key: str, raw_domains: Iterable[str]) -> list[str]:
    """What a partner uploads: the distinct keyed hashes of its accounts, sorted.

    Addresses that identify no account are left out; two addresses of one account (``acme.com``
    and ``https://www.acme.com/``) give one hash, so the list has no duplicates.
    """
    hashes = {overlap_hash(key, raw) for raw in raw_domains}
    return sorted(digest for digest in hashes if digest is not None)
