"""``dealreg policy show | diff | what-if | publish`` over conflict_resolver's ``/v1/policy``."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from services.cli.config import load_target
from services.cli.output import USAGE, answer, api, console, fail, print_json, row

app = typer.Typer(
    help="The rules of engagement: the policy the conflict resolver decides by.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals hold the admin token
)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
FileArgument = Annotated[
    Path,
    typer.Argument(metavar="FILE", help="A policy in YAML or JSON.", exists=True, dir_okay=False),
]


def read_policy_file(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        fail(f"cannot read {path}: {error}", code=USAGE)
    if not isinstance(loaded, dict):
        fail(f"{path} holds no policy (a mapping of settings)", code=USAGE)
    return loaded


def _current() -> dict[str, Any]:
    with api(load_target(), "conflict_resolver") as client:
        return dict(answer(client.get("/v1/policy")))


@app.command()
def show(json_output: JsonOption = False) -> None:
    """The policy in force, with its version and who published it."""
    record = _current()
    if json_output:
        print_json(record)
        return
    console.print(
        f"policy version [bold]{record['version']}[/bold], published {record['created_at']} "
        f"by {record['created_by']}"
    )
    document = yaml.safe_dump(record["policy"], sort_keys=False)
    console.print(Syntax(document, "yaml", background_color="default"))


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_leaves(inner, f"{prefix}.{key}" if prefix else str(key)))
        return flat if flat or not prefix else {prefix: {}}
    return {prefix: value}


def _same(left: Any, right: Any) -> bool:
    if left == right:
        return True
    try:
        return Decimal(str(left)) == Decimal(str(right))
    except (InvalidOperation, ValueError):
        return False


def policy_diff(
    current: dict[str, Any], draft: dict[str, Any], *, complete: bool
) -> list[dict[str, Any]]:
    """Setting by setting, what publishing ``draft`` changes.

    ``complete``: the draft has every setting (defaults filled in by the resolver's own
    reading of the file), so a setting missing from it is removed (an exchange rate, say);
    otherwise a missing setting is only "left out" (it takes its default, unknown here).
    """
    now, then = _leaves(current), _leaves(draft)
    # An empty mapping on one side is told by the other side's entries, one by one.
    for one, other in ((now, then), (then, now)):
        for path in [p for p, v in one.items() if v == {}]:
            if any(key.startswith(path + ".") for key in other):
                del one[path]
    changes = []
    for path in sorted(set(now) | set(then)):
        if path == "version":
            continue
        if path not in then:
            change = "removed" if complete else "left out"
            changes.append({"setting": path, "change": change, "current": now[path]})
        elif path not in now:
            changes.append({"setting": path, "change": "added", "draft": then[path]})
        elif not _same(now[path], then[path]):
            changes.append(
                {"setting": path, "change": "changed", "current": now[path], "draft": then[path]}
            )
    return changes


def read_as_published(path: Path) -> tuple[dict[str, Any], bool]:
    """The file as the resolver would store it, and whether that reading was available.

    ``python -m conflict_resolver.policy_file`` (the resolver's own model) fills in the
    defaults; where the resolver is not installed beside this command, the file as written.
    """
    if importlib.util.find_spec("conflict_resolver") is None:
        return read_policy_file(path), False
    read = subprocess.run(  # noqa: S603 - our own module, no shell
        [sys.executable, "-m", "conflict_resolver.policy_file", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if read.returncode == 1:
        errors = json.loads(read.stdout)["errors"]
        fail(
            f"{path} is not a valid policy: "
            + "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        )
    if read.returncode != 0:
        fail(read.stderr.strip() or f"cannot read {path}", code=USAGE)
    document: dict[str, Any] = json.loads(read.stdout)
    return document, True


@app.command()
def diff(file: FileArgument, json_output: JsonOption = False) -> None:
    """What publishing FILE would change, setting by setting.

    FILE is read as the resolver reads it (settings it leaves out take their defaults), so
    only real changes show.
    """
    draft, complete = read_as_published(file)
    record = _current()
    changes = policy_diff(record["policy"], draft, complete=complete)
    if json_output:
        print_json({"current_version": record["version"], "changes": changes})
        return
    if not changes:
        console.print(
            f"Publishing {escape(str(file))} changes nothing "
            f"(policy version {record['version']} is in force)."
        )
        return
    table = Table(title=f"{escape(str(file))} against policy version {record['version']}")
    for column in ("setting", "change", "in force", "in the file"):
        table.add_column(column, overflow="fold")
    for change in changes:
        draft_value = change.get("draft", "-")
        if change["change"] == "left out":
            draft_value = "(its default)"
        row(table, change["setting"], change["change"], change.get("current", "-"), draft_value)
    console.print(table)


def _instant(text: str | None, option: str) -> str | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option}: not an ISO 8601 date or time: {text!r}", code=USAGE)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


@app.command("what-if")
def what_if(
    file: FileArgument,
    since: Annotated[
        str | None, typer.Option(help="Replay registrations from this date or time (UTC).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="... up to this one.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Which past decisions FILE would change, and how (nothing is written)."""
    body: dict[str, Any] = {"policy": read_policy_file(file)}
    body["since"] = _instant(since, "--since")
    body["until"] = _instant(until, "--until")
    with (
        api(load_target(), "conflict_resolver", timeout=600) as client,
        console.status("replaying the registrations under the draft..."),
    ):
        result = answer(client.post("/v1/policy/what-if", json=body))
    if json_output:
        print_json(result)
        return
    console.print(
        f"Replayed {result['replayed']} registrations under {escape(str(file))}: "
        f"[bold]{result['changed']}[/bold] decisions would change "
        f"(policy in force: version {result['current_policy_version']})."
    )
    if result["transitions"]:
        table = Table(title="Transitions")
        table.add_column("from -> to")
        table.add_column("count", justify="right")
        for transition, count in result["transitions"].items():
            row(table, transition, str(count))
        console.print(table)
    if result["changes"]:
        changes = Table(title="Changes")
        for column in ("registration", "before", "after", "why"):
            changes.add_column(column, overflow="fold")
        for change in result["changes"][:50]:
            row(
                changes,
                change["registration_id"],
                _outcome(change["before"]),
                _outcome(change["after"]),
                change["why"],
            )
        console.print(changes)
        if len(result["changes"]) > 50:
            console.print(f"... and {len(result['changes']) - 50} more (--json for all)")


@app.command()
def publish(file: FileArgument, json_output: JsonOption = False) -> None:
    """Make FILE the policy in force, as a new version (decisions already made keep theirs)."""
    with api(load_target(), "conflict_resolver") as client:
        record = answer(client.put("/v1/policy", json=read_policy_file(file)))
    if json_output:
        print_json(record)
        return
    version = record["version"]
    console.print(f"Published {escape(str(file))} as policy version [bold]{version}[/bold].")


def _outcome(decision: dict[str, Any]) -> str:
    code = decision.get("reason_code")
    return f"{decision.get('outcome')}" + (f" ({code})" if code else "")
