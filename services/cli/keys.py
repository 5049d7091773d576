"""``dealreg keys rotate admin-token | webhook-secret``: new secrets, the old ones accepted for
an overlap so that nobody is cut off mid-switch.

- ``admin-token``: a new admin token, printed once and written (owner-only) to
  ``<state>/admin-token`` and the credentials file. The old token is kept only as its SHA-256,
  with the end of its overlap, in ``<state>/admin-token-previous.json``; ``make run`` (and
  ``dealreg up``) hands both to the services as ``DEALREG_ADMIN_TOKEN_PREVIOUS_SHA256`` and
  ``DEALREG_ADMIN_TOKEN_PREVIOUS_UNTIL``. The services read their settings at start, so restart
  them (``dealreg down && dealreg up``, or roll the deployments with the three values in their
  Secret): until the overlap ends both tokens work, after it only the new one.
- ``webhook-secret --partner P``: a new signing secret for the partner's webhook (the admin
  route ``POST /v1/partners/{id}/webhook/secret``), printed once; until the overlap ends each
  delivery carries a signature by the new secret and one by the old.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from services.admin_token import token_sha256
from services.cli.config import load_target, state_dir
from services.cli.output import USAGE, answer, api, console, fail, print_json
from services.secret_files import write_owner_only

app = typer.Typer(
    help="Rotate the admin token or a partner's webhook secret, with an overlap.",
    no_args_is_help=True,
)

PREVIOUS_ADMIN_TOKEN_FILE = "admin-token-previous.json"  # noqa: S105 - a file name
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)([smhd])")


class Secret(StrEnum):
    """Which secret to rotate (names, not secrets)."""

    admin_token = "admin-token"  # noqa: S105
    webhook_secret = "webhook-secret"  # noqa: S105


def parse_duration(text: str) -> timedelta:
    """``24h``, ``90m``, ``1d12h``, ``30s`` or a number of seconds."""
    spelled = text.strip().lower()
    if spelled.isdigit():
        return timedelta(seconds=int(spelled))
    parts = _DURATION.findall(spelled)
    if not parts or "".join(number + unit for number, unit in parts) != spelled:
        raise typer.BadParameter(f"{text!r}: say e.g. 24h, 90m, 1d12h or 30s")
    return timedelta(seconds=sum(int(number) * _UNITS[unit] for number, unit in parts))


def rotate(
    secret: Annotated[Secret, typer.Argument(help="admin-token or webhook-secret.")],
    partner: Annotated[
        str | None, typer.Option("--partner", help="The partner's id (webhook-secret).")
    ] = None,
    overlap: Annotated[
        str, typer.Option("--overlap", help="How long the old secret keeps working: 24h, 90m.")
    ] = "24h",
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Make a new secret, print it once, and keep the old one working for the overlap."""
    window = parse_duration(overlap)
    if secret is Secret.admin_token:
        if partner is not None:
            fail("--partner is for webhook-secret", code=USAGE)
        result = _rotate_admin_token(window)
    else:
        if partner is None:
            fail("webhook-secret needs --partner PARTNER_ID", code=USAGE)
        result = _rotate_webhook_secret(partner, window)
    if json_output:
        print_json(result)
        return
    _print(result)


app.command()(rotate)


def _rotate_admin_token(overlap: timedelta) -> dict[str, Any]:
    target = load_target()
    if not target.admin_token:
        fail("no admin token to rotate (set DEALREG_ADMIN_TOKEN or run `dealreg up` first)")
    new_token = secrets.token_urlsafe(32)
    until = datetime.now(UTC) + overlap
    previous = {"sha256": token_sha256(target.admin_token), "until": until.isoformat()}
    state = state_dir()
    written = [
        write_owner_only(state / "admin-token", new_token + "\n"),
        write_owner_only(state / PREVIOUS_ADMIN_TOKEN_FILE, json.dumps(previous, indent=2)),
    ]
    credentials = state / "dev-credentials.json"
    if credentials.is_file():
        known = json.loads(credentials.read_text())
        known["admin_token"] = new_token
        written.append(write_owner_only(credentials, json.dumps(known, indent=2)))
    return {
        "secret": "admin-token",
        "admin_token": new_token,
        "previous_valid_until": until.isoformat(),
        "environment": {
            "DEALREG_ADMIN_TOKEN": new_token,
            "DEALREG_ADMIN_TOKEN_PREVIOUS_SHA256": previous["sha256"],
            "DEALREG_ADMIN_TOKEN_PREVIOUS_UNTIL": previous["until"],
        },
        "files": [str(path) for path in written],
        "next": "restart the services (dealreg down && dealreg up), or set these three "
        "variables in their Secret and roll the deployments",
    }


def _rotate_webhook_secret(partner: str, overlap: timedelta) -> dict[str, Any]:
    target = load_target()
    with api(target, "deal_registration") as client:
        rotated = answer(
            client.post(
                f"/v1/partners/{partner}/webhook/secret",
                json={"overlap_seconds": int(overlap.total_seconds())},
            )
        )
    until = datetime.fromisoformat(rotated["created_at"]) + overlap
    return {
        "secret": "webhook-secret",
        "partner_id": partner,
        "url": rotated["url"],
        "webhook_secret": rotated["secret"],
        "previous_valid_until": until.isoformat(),
        "next": "give the partner the new secret; until the overlap ends each delivery is "
        "signed by both, so their receiver may switch at any time",
    }


def _print(result: dict[str, Any]) -> None:
    shown = result.get("admin_token") or result.get("webhook_secret")
    console.print(f"New {result['secret']} (shown once, keep it now):", highlight=False)
    console.print(f"  {shown}", highlight=False, soft_wrap=True)
    console.print(
        f"The previous one keeps working until {result['previous_valid_until']}.",
        highlight=False,
    )
    for name, value in (result.get("environment") or {}).items():
        if name != "DEALREG_ADMIN_TOKEN":
            console.print(f"  {name}={value}", highlight=False, soft_wrap=True)
    for path in result.get("files") or []:
        console.print(f"  wrote {Path(path)}", highlight=False, soft_wrap=True)
    console.print(f"Next: {result['next']}.", highlight=False)
