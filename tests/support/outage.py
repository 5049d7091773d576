"""Infrastructure a test may break on purpose: a PostgreSQL cluster of its own, a free port.

The session's shared cluster must stay up for every other test, so a test that stops the
database starts its own cluster (the project's ``postgres.sh``) on a free port and removes it
afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

from tests.support import infra


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it, so parallel runs do not collide)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
