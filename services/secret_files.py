"""Credential files (the admin token, the CRM sandbox's secrets, private keys) readable by
their owner only.

A file is opened with mode 0600 from its first byte, so there is no moment when another user
could read it, and an existing file is tightened to 0600 before it is rewritten. ``make run``
and the CRM sandbox script write theirs through the command line::

    python -m services.secret_files token PATH   # print PATH's token, generating it once
    python -m services.secret_files write PATH   # stdin to PATH
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

OWNER_ONLY = 0o600


def write_owner_only(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` with mode 0600 (a symbolic link there is refused)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, OWNER_ONLY)
    with os.fdopen(descriptor, "wb") as out:
        os.fchmod(out.fileno(), OWNER_ONLY)
        out.write(data.encode() if isinstance(data, str) else data)
    return path


def owner_only_token(path: Path) -> str:
    """The token kept in ``path`` (tightened to 0600), generated once when there is none."""
    if path.is_file() and not path.is_symlink():
        path.chmod(OWNER_ONLY)
        token = path.read_text().strip()
        if token:
            return token
    token = secrets.token_urlsafe(32)
    write_owner_only(path, token + "\n")
    return token


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("token", "write"):
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[1])
    if argv[0] == "token":
        print(owner_only_token(path))
    else:
        write_owner_only(path, sys.stdin.buffer.read())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
