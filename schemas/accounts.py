"""The customer account's matching key: part of the event contract.

Every producer computes the same key for the same customer so that all events about one
account share a Kafka key (and so a partition, and so an order). The fuller matcher (fuzzy
names, blocking) lives in ``conflict_resolver.domain.matching`` and builds on these functions.
"""

from __future__ import annotations

from functools import lru_cache

import tldextract


@lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    # Offline: the bundled public-suffix snapshot, never the network.
    return tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
    )


def registrable_domain(raw: str) -> str | None:
    """The registrable domain (eTLD+1) of a domain, URL or e-mail address, or None."""
    text = raw.strip().lower()
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    parts = _extractor()(text)
    if not parts.domain or not parts.suffix:
        return None
    return f"{parts.domain}.{parts.suffix}"


def account_key(*, name: str, domain: str | None, country: str | None) -> str:
    """``d:<registrable domain>`` when known, else ``n:<normalised name>|<country>``."""
    if domain:
        registrable = registrable_domain(domain)
        if registrable:
            return f"d:{registrable}"
    normalised = " ".join(name.lower().split())
    return f"n:{normalised}|{(country or '-').upper()}"
