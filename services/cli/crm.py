"""``dealreg reconcile``: ask crm_sync for a reconciliation sweep (``POST /v1/sync/reconcile``).

The sweep reads what changed in the CRM since crm_sync's watermark and applies it; ``--full``
clears the watermark first, so the sweep starts where the first one did (changes missed
earlier are found again).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.table import Table

from services.cli.config import load_target
from services.cli.output import answer, api, console, print_json, row


def _connectors(status: dict[str, Any]) -> list[dict[str, Any]]:
    return list(status.get("connectors") or [])


def reconcile(
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="From the beginning (where the first sweep started), not the watermark."
        ),
    ] = False,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for the sweep to finish (0: do not wait).")
    ] = 60.0,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Ask crm_sync for a CRM reconciliation sweep and wait for it.

    Exits 1 when the sweep has not run within --wait seconds, or when no CRM connector is
    configured.
    """
    with api(load_target(), "crm_sync") as client:
        before = {
            c["crm_system"]: c.get("last_reconciled_at")
            for c in _connectors(answer(client.get("/v1/sync/status")))
        }
        answer(client.post("/v1/sync/reconcile", json={"full": full}))
        status: dict[str, Any] = {}
        finished = wait <= 0
        deadline = time.monotonic() + wait
        with console.status("reconciling...", spinner="dots") if not json_output else _Quiet():
            while not finished and time.monotonic() < deadline:
                time.sleep(0.5)
                status = answer(client.get("/v1/sync/status"))
                finished = all(
                    c.get("last_reconciled_at") is not None
                    and c.get("last_reconciled_at") != before.get(c["crm_system"])
                    for c in _connectors(status)
                )
        if not status:
            status = answer(client.get("/v1/sync/status"))
    if json_output:
        print_json({"started": True, "full": full, "finished": finished, "status": status})
    else:
        table = Table(title="CRM sync")
        for column in ("crm", "last reconciled", "watermark", "pending", "dead letters"):
            table.add_column(column)
        for c in _connectors(status):
            row(
                table,
                c["crm_system"],
                str(c.get("last_reconciled_at")),
                str(c.get("watermark")),
                str(c.get("pending")),
                str(c.get("dead_letters")),
            )
        console.print(table)
        console.print("Sweep finished." if finished else "Sweep started; not finished yet.")
    if not finished:
        raise typer.Exit(1)


class _Quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None
