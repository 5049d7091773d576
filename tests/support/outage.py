"""Infrastructure a test may break on purpose: a PostgreSQL cluster of its own, a free port.

The session's shared cluster must stay up for every other test, so a test that stops the
database starts its own cluster (the project's ``postgres.sh``) on a free port and removes it
afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from tests.support import infra, stack


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it, so parallel runs do not collide),
    never one this process handed out before (``stack.free_port``)."""
    return stack.free_port()


class OwnPostgres:
    """A throwaway PostgreSQL cluster on its own port that a test may stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.data_dir = Path(f"/tmp/dealreg-pg-outage-{self.port}")  # noqa: S108 (see postgres.sh)
        self._env = {**os.environ, "PG_PORT": str(self.port), "PG_DATA_DIR": str(self.data_dir)}

    @property
    def server(self) -> str:
        return f"dealreg:dealreg@127.0.0.1:{self.port}"

    def start(self) -> None:
        self._script("start")

    def stop(self) -> None:
        self._script("stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        for suffix in (".env", ".pid", ".initdb.log"):
            (infra.STATE / f"postgres-{self.port}{suffix}").unlink(missing_ok=True)

    def _script(self, command: str) -> None:
        subprocess.run(
            [str(infra.SCRIPTS / "postgres.sh"), command],
            env=self._env,
            capture_output=True,
            check=True,
        )


class TcpForwarder:
    """A port that refuses connections until :meth:`start`, then pipes them to ``target``.

    Pointed at a real broker it plays a broker that is still coming up: clients bootstrap
    through it once it listens (and then talk to the broker's advertised address directly).
    :meth:`freeze` plays a network partition: connections stay open but nothing gets through
    (the case that hangs a client with no timeouts); :meth:`thaw` resets the frozen ones.
    """

    def __init__(self, *, port: int, target: str) -> None:
        self.port = port
        host, _, target_port = target.rpartition(":")
        self._target = (host, int(target_port))
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._frozen = False

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)

    def freeze(self) -> None:
        self._frozen = True

    def thaw(self) -> None:
        self._frozen = False
        self._close_all()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._close_all()
        if self._server is not None:
            await self._server.wait_closed()

    def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.close()

    async def _pipe(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        self._writers.add(client)
        if self._frozen:  # accepted, never answered
            await self._copy(client_reader, None)
            return
        upstream_reader, upstream = await asyncio.open_connection(*self._target)
        self._writers.add(upstream)
        try:
            await asyncio.gather(
                self._copy(client_reader, upstream), self._copy(upstream_reader, client)
            )
        finally:
            for writer in (client, upstream):
                self._writers.discard(writer)
                writer.close()

    async def _copy(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                if writer is not None and not self._frozen:
                    writer.write(chunk)
                    await writer.drain()
        if writer is not None:
            writer.close()
