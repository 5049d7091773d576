"""Where a delivery may connect: the vetted address of the webhook's host.

The host is resolved once per attempt, every address it resolves to must be public, and the
connection then goes to that very address (the Host header and the TLS server name keep the
host's name), so a DNS answer that changes between the check and the connection (rebinding)
cannot reach inside our network.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from deal_registration.domain.validation import is_address_literal, is_public_address

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


class AddressRefusedError(Exception):
    """The URL's host cannot be reached safely (private, unresolvable, translated)."""


@dataclass(frozen=True)
class PinnedRequest:
    """A request to the vetted address that still names the original host."""

    url: httpx.URL
    host_header: str
    server_name: str


async def pin(url: str, *, resolver: Resolver, allow_private: bool) -> PinnedRequest:
    """Resolve the URL's host once and point the request at the first vetted address."""
    target = httpx.URL(url)
    host = target.host
    port = target.port or (443 if target.scheme == "https" else 80)
    if is_address_literal(host):
        addresses = [host]
    else:
        try:
            addresses = await resolver(host, port)
        except OSError as error:
            raise AddressRefusedError(f"the webhook host does not resolve ({error})") from error
    if not addresses:
        raise AddressRefusedError("the webhook host does not resolve")
    if not allow_private and not all(is_public_address(address) for address in addresses):
        raise AddressRefusedError("the webhook URL resolves to a private or loopback address")
    host_header = host if target.port is None else f"{host}:{target.port}"
    return PinnedRequest(
        url=target.copy_with(host=addresses[0]), host_header=host_header, server_name=host
    )


async def resolves_only_to_private(host: str, *, resolver: Resolver) -> bool:
    """True when the host resolves, and every address is private (refused when it is set)."""
    try:
        addresses = await resolver(host, 443)
    except OSError:
        return False  # not resolvable yet: checked again at every delivery
    return bool(addresses) and not any(is_public_address(address) for address in addresses)
