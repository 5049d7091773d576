"""Operator CLI for crm_sync's dead letters, over its HTTP API.

    python -m crm_sync.cli dead-letters list [--all]
    python -m crm_sync.cli dead-letters show ID
    python -m crm_sync.cli dead-letters replay [ID ...]
    python -m crm_sync.cli status

Reads ``DEALREG_CRM_SYNC_URL`` (default http://127.0.0.1:8083) and ``DEALREG_ADMIN_TOKEN``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import httpx


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crm_sync.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    letters = commands.add_parser("dead-letters").add_subparsers(dest="action", required=True)
    listing = letters.add_parser("list")
    listing.add_argument("--all", action="store_true", help="include replayed ones")
    show = letters.add_parser("show")
    show.add_argument("id", type=int, help="dead-letter id")
    replay = letters.add_parser("replay")
    replay.add_argument("ids", nargs="*", type=int, help="dead-letter ids (default: all)")
    commands.add_parser("status")
    args = parser.parse_args(argv)

    base = os.environ.get("DEALREG_CRM_SYNC_URL", "http://127.0.0.1:8083").rstrip("/")
    headers = {"Authorization": f"Bearer {os.environ.get('DEALREG_ADMIN_TOKEN', '')}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        if args.command == "status":
            response = client.get("/v1/sync/status")
        elif args.action == "list":
            response = client.get("/v1/sync/dead-letters", params={"include_replayed": args.all})
        elif args.action == "show":
            response = client.get(f"/v1/sync/dead-letters/{args.id}")
        else:
            response = client.post("/v1/sync/dead-letters/replay", json={"ids": args.ids or None})
    print(json.dumps(response.json(), indent=2))
    return 0 if response.is_success else 1


if __name__ == "__main__":
    sys.exit(main())
