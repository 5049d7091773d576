"""The CRM sandbox script (what ``make run`` starts) leaves its secrets owner-only: the state
folder 0700, ``credentials.env`` and the TLS private key 0600, even under a permissive umask
and when an older run left ``credentials.env`` world-readable."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.infra import ROOT
from tests.support.stack import free_port

pytestmark = pytest.mark.e2e
SCRIPT = ROOT / "deploy" / "scripts" / "crm-sandbox.sh"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_sandbox_script_writes_its_secrets_owner_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {
        **os.environ,
        "DEALREG_STATE_DIR": str(state),
        "DEALREG_SANDBOX_PORT": str(free_port()),
        "DEALREG_SANDBOX_SALESFORCE_PORT": str(free_port()),
    }

    def start_and_stop() -> str:
        try:
            started = subprocess.run(
                ["bash", "-c", f"umask 000; exec {SCRIPT} start"],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=90,
                check=False,
            )
            assert started.returncode == 0, started.stderr
            return started.stdout
        finally:
            subprocess.run([SCRIPT, "stop"], env=env, cwd=ROOT, timeout=60, check=False)

    credentials = state / "crm_sandbox" / "credentials.env"
    printed = start_and_stop()
    assert mode(state / "crm_sandbox") == 0o700
    assert mode(credentials) == 0o600
    assert mode(state / "crm_sandbox" / "tls" / "key.pem") == 0o600
    token = credentials.read_text().split("DEALREG_SANDBOX_HUBSPOT_TOKEN=")[1].split()[0]
    assert token in printed

    credentials.chmod(0o644)  # as an older run left it
    assert token in start_and_stop()
    assert mode(credentials) == 0o600
