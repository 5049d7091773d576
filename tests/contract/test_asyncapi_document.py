"""The published AsyncAPI document passes the official AsyncAPI parser with no errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.support.infra import ROOT, require

HERE = Path(__file__).resolve().parent
DOCUMENT = ROOT / "docs" / "events" / "asyncapi.json"


def _parser_installed() -> None:
    require(shutil.which("node") is not None and shutil.which("npm") is not None, "Node.js")
    if not (HERE / "node_modules" / "@asyncapi" / "parser").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=HERE,
            check=True,
            capture_output=True,
        )


def test_the_official_parser_accepts_the_asyncapi_document() -> None:
    _parser_installed()
    result = subprocess.run(
        ["node", str(HERE / "validate_asyncapi.mjs"), str(DOCUMENT)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    problems = [line for line in lines if line.get("severity") == "error"]
    assert problems == [], problems
    assert result.returncode == 0, result.stderr
    assert lines[-1] == {"document": True, "errors": 0}


def test_the_document_describes_servers_and_every_service_operation() -> None:
    document = json.loads(DOCUMENT.read_text())
    assert set(document["servers"]) == {"local", "cluster"}
    actions = {(name.split(".")[0], op["action"]) for name, op in document["operations"].items()}
    for service in ("deal_registration", "conflict_resolver", "crm_sync"):
        assert (service, "send") in actions
        assert (service, "receive") in actions
