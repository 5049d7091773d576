"""What every command shares: the consoles, JSON output, failures and the HTTP client.

Exit codes: 0 done, 1 failed (or found nothing where something was asked for), 2 usage.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from services.cli.config import Target

OK, FAILED, USAGE = 0, 1, 2

console = Console()
errors = Console(stderr=True)


def print_json(value: Any) -> None:
    """Plain JSON on stdout (no colour, no wrapping), for scripts."""
    typer.echo(json.dumps(value, indent=2, default=str))


def fail(message: str, *, code: int = FAILED) -> NoReturn:
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def api(target: Target, service: str, *, timeout: float = 30) -> Iterator[httpx.Client]:
    """A client for one service, as the admin; an unreachable service fails the command."""
    base = target.url(service)
    headers = {"Authorization": f"Bearer {target.admin_token}"}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=timeout) as client:
            yield client
    except httpx.TransportError as error:
        fail(f"cannot reach {service} at {base}: {error}")


def answer(response: httpx.Response) -> Any:
    """The JSON body of a successful answer; a problem fails the command with its detail."""
    if response.is_success:
        return response.json() if response.content else None
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    detail = problem.get("detail") or problem.get("title") or response.text[:300]
    extra = ""
    if isinstance(problem.get("errors"), list):
        extra = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in problem["errors"])
    if response.status_code == 401:
        detail = f"{detail} (is DEALREG_ADMIN_TOKEN right?)"
    fail(
        f"{response.request.method} {response.request.url.path} answered "
        f"{response.status_code}: {detail}" + (f" [{extra}]" if extra else "")
    )


def row(table: Table, *cells: object) -> None:
    """A table row of plain text: data (reasons, names, headers) is never read as markup."""
    table.add_row(*(cell if isinstance(cell, Text) else Text(str(cell)) for cell in cells))
