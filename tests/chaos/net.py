"""Small local servers the chaos run needs: a TCP balancer in front of the crm_sync instances
(the CRM sandbox calls one webhook URL, as a real CRM does) and partner webhook receivers, one
that answers at once and one that hangs forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable

_HANG_SECONDS = 3600


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


async def start_balancer(port: int, backends: Callable[[], list[int]]) -> asyncio.Server:
    """Forward each connection to the next backend port that accepts it (round robin)."""
    counter = itertools.count()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ports = backends()
        start = next(counter)
        for offset in range(len(ports)):
            backend_port = ports[(start + offset) % len(ports)]
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", backend_port)
            except OSError:
                continue
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            return
        writer.close()  # no backend: the caller sees a reset, as with a dead load balancer

    return await asyncio.start_server(handle, "127.0.0.1", port)


async def start_receiver(port: int, *, hang: bool) -> asyncio.Server:
    """A partner's webhook endpoint: answers 204 at once, or reads the request and never
    answers (the sender must time out and must not stall its other deliveries)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            if hang:
                await asyncio.sleep(_HANG_SECONDS)  # cancelled when the run ends

            writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            return  # the run is over: a hanging receiver just goes away
        finally:
            with contextlib.suppress(ConnectionError, OSError):
                writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", port)
