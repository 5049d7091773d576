"""Credential files are owner-only (0600) from their first byte, whatever the umask, and an
existing looser file is tightened; the CRM sandbox's private key too."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_sync.sandbox import tls
from services.secret_files import owner_only_token, write_owner_only
from tests.support.infra import ROOT


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: a file written carelessly would be world-readable."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("open_umask")
def test_a_new_credential_file_is_owner_only(tmp_path: Path) -> None:
    path = write_owner_only(tmp_path / "state" / "dev-credentials.json", '{"admin_token": "x"}')
    assert mode(path) == 0o600
    assert path.read_text() == '{"admin_token": "x"}'


@pytest.mark.usefixtures("open_umask")
def test_an_existing_world_readable_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "admin-token"
    path.write_text("old\n")
    path.chmod(0o644)
    write_owner_only(path, "new\n")
    assert mode(path) == 0o600
    assert path.read_text() == "new\n"


def test_a_symbolic_link_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    (tmp_path / "admin-token").symlink_to(target)
    with pytest.raises(OSError, match="link"):
        write_owner_only(tmp_path / "admin-token", "secret")
    assert target.read_text() == "keep"


@pytest.mark.usefixtures("open_umask")
def test_the_admin_token_is_generated_once_and_kept_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "admin-token"
    token = owner_only_token(path)
    assert len(token) >= 32
    assert mode(path) == 0o600
    path.chmod(0o644)  # as an older `make run` left it
    assert owner_only_token(path) == token
    assert mode(path) == 0o600


@pytest.mark.usefixtures("open_umask")
def test_the_sandbox_private_key_is_owner_only(tmp_path: Path) -> None:
    _, key = tls.generate(tmp_path / "tls")
    assert mode(key) == 0o600


def test_the_command_line_writes_stdin_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "crm-sandbox-credentials.json"
    subprocess.run(
        [sys.executable, "-m", "services.secret_files", "write", str(path)],
        input=b'{"hubspot_token": "t"}',
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    assert mode(path) == 0o600
    token = subprocess.run(
        [sys.executable, "-m", "services.secret_files", "token", str(tmp_path / "admin-token")],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    assert (tmp_path / "admin-token").read_text().strip() == token
    assert mode(tmp_path / "admin-token") == 0o600
