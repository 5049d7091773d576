"""What a registration's fields must look like: plain functions, no I/O, no clock.

Each rule returns a problem sentence (or ``None``) so the API can name the field it belongs
to. Normalising rules return ``(normalised value, problem)``. Reference data comes from
well-kept libraries, read offline: countries and currencies from ``pycountry`` (ISO 3166-1,
ISO 4217), registrable domains from ``tldextract``'s bundled public-suffix list
(``schemas.accounts``), e-mail syntax from ``email-validator`` (through pydantic).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pycountry

from schemas.accounts import registrable_domain

SHORT_TEXT_MAX = 200
LONG_TEXT_MAX = 2000
REFERENCE_MAX = 100
SLUG_MAX = 64
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
DOMAIN_INPUT_MAX = 253
AMOUNT_MAX_DIGITS = 16  # the column is NUMERIC(18, 2)
MAX_AMOUNT_DECIMALS = 2
CLOSE_DATE_HORIZON = timedelta(days=2 * 366)  # policy: at most 2 years ahead

# ISO 4217 minor units that differ from 2. Currencies with more than 2 are still capped at 2
# (the stored precision); those with none (funds, metals, testing codes) are not money here.
_MINOR_UNITS = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}
_NOT_MONEY = frozenset(
    ["XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX"]
)
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def text_problem(value: str, *, single_line: bool) -> str | None:
    """Refuse text a database or a person cannot use: NULs, lone surrogates, control chars."""
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs":
            return "contains an invalid character"
        if category == "Cc" and (single_line or char not in "\n\r\t"):
            return "contains a control character"
    return None


def normalise_country(value: str) -> tuple[str, str | None]:
    code = value.upper()
    if len(code) != 2 or not code.isascii() or pycountry.countries.get(alpha_2=code) is None:
        return value, "is not an ISO 3166-1 alpha-2 country code"
    return code, None


def normalise_currency(value: str) -> tuple[str, str | None]:
    code = value.upper()
    if (
        len(code) != 3
        or not code.isascii()
        or code in _NOT_MONEY
        or pycountry.currencies.get(alpha_3=code) is None
    ):
        return value, "is not an ISO 4217 currency code"
    return code, None


def allowed_decimals(currency: str | None) -> int:
    """Decimals an amount may have: the currency's minor units, at most 2."""
    return min(_MINOR_UNITS.get(currency or "", 2), MAX_AMOUNT_DECIMALS)


def amount_problem(value: Decimal, currency: str | None) -> str | None:
    if not value.is_finite() or value <= 0:
        return "must be a positive amount"
    exponent = value.normalize().as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    allowed = allowed_decimals(currency)
    if decimals > allowed:
        if allowed == 0:
            return f"must be a whole amount in {currency}"
        return f"must have at most {allowed} decimals"
    return None


def normalise_domain(value: str) -> tuple[str, str | None]:
    """A domain, URL or e-mail address -> its registrable domain; nonsense is refused."""
    host = _host_of(value.strip().lower())
    if host is None:
        return value, "is not a web domain"
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return value, "is not a web domain"
    labels = ascii_host.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return value, "is not a web domain"
    registrable = registrable_domain(host)
    if registrable is None:
        return value, "is not a registrable web domain (unknown public suffix)"
    return registrable, None


def _host_of(text: str) -> str | None:
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme not in {"http", "https"}:
            return None
    host = re.split(r"[/?#]", text, maxsplit=1)[0]
    host = host.rsplit(":", 1)[0] if re.search(r":\d+$", host) else host
    host = host.rstrip(".")
    if not host or any(char.isspace() for char in host):
        return None
    return host


def close_date_problem(expected_close_date: date, *, today: date) -> str | None:
    if expected_close_date < today:
        return "is in the past"
    if expected_close_date > today + CLOSE_DATE_HORIZON:
        return "is more than 2 years away"
    return None


def product_line_problem(product_line: str, authorised: list[str] | tuple[str, ...]) -> str | None:
    if product_line not in authorised:
        return "is not a product line this partner is authorised for"
    return None


# IPv6 ranges that carry, or translate to, an IPv4 address (NAT64, 6to4, Teredo, IPv4-mapped
# and -compatible): the IPv4 address behind them could be anything, including our own network.
_TRANSLATION_RANGES = tuple(
    ipaddress.ip_network(net)
    for net in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32", "::ffff:0:0/96")
)


def is_public_address(address: str) -> bool:
    """A globally routable IP address: not loopback, private, link-local, reserved, multicast,
    nor an IPv6 address that translates to IPv4 (which would hide where it really goes)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and (
        any(ip in net for net in _TRANSLATION_RANGES) or int(ip) >> 32 == 0
    ):
        return False
    return ip.is_global and not ip.is_multicast


def is_address_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def webhook_url_problem(url: str, *, allow_private: bool = False) -> str | None:
    """An absolute http(s) URL with a host and no credentials, whose host (when it is an
    address) is public: a partner may not point our deliveries at our own network."""
    parsed = urlsplit(url)
    if parsed.scheme not in {"http", "https"}:
        return "must be an https:// (or http://) URL"
    if not parsed.hostname or any(char.isspace() or ord(char) < 32 for char in url):
        return "must be an absolute URL with a host"
    if parsed.username or parsed.password:
        return "must not carry credentials"
    try:
        parsed.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return "must have a valid port"
    host = parsed.hostname
    if not allow_private and (
        host == "localhost"
        or host.endswith(".localhost")
        or (is_address_literal(host) and not is_public_address(host))
    ):
        return "must not point to a private, loopback or link-local address"
    return None
