"""``dealreg up | down | status``: what ``make run`` starts, and how each part is doing."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table
from rich.text import Text

from services.cli.config import SERVICES, Target, checkout_root, load_target, state_dir
from services.cli.lag import GroupLag, consumer_lag
from services.cli.output import FAILED, console, errors, fail, print_json, row

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _scripts() -> Path:
    root = checkout_root()
    if root is None:
        fail("up and down need a source checkout (deploy/scripts); this install has none")
    return root / "deploy" / "scripts"


def _script_env() -> dict[str, str]:
    state = state_dir()
    return {
        **os.environ,
        "DEALREG_STATE_DIR": str(state),
        "KAFKA_DATA_DIR": os.environ.get("KAFKA_DATA_DIR", str(state / "kafka")),
    }


def up() -> None:
    """Start Kafka, the CRM sandbox and the three services (as `make run`), then return.

    The admin token and the URLs go to <state>/dev-credentials.json (DEALREG_STATE_DIR, else
    .dealreg in the checkout); the logs to <state>/logs.
    """
    scripts = _scripts()
    completed = subprocess.run(  # noqa: S603 - our own script, no shell
        [str(scripts / "run.sh"), "--detach"], env=_script_env(), check=False
    )
    if completed.returncode != 0:
        fail(f"starting failed (exit {completed.returncode}); see {state_dir() / 'logs'}")


def down() -> None:
    """Stop what `dealreg up` (or `make run`) started: the services, the sandbox, Kafka."""
    scripts = _scripts()
    failures = []
    for script in ("services.sh", "crm-sandbox.sh", "kafka.sh"):
        completed = subprocess.run(  # noqa: S603 - our own script, no shell
            [str(scripts / script), "stop"], env=_script_env(), check=False
        )
        if completed.returncode != 0:
            failures.append(script)
    if failures:
        fail(f"stopping failed: {', '.join(failures)}")
    console.print("dealreg stopped.")


def status(json_output: JsonOption = False) -> None:
    """Health, readiness, outbox age, paused partitions, consumer lag and CRM sync.

    Per service: process, /healthz, /readyz and its checks (database, Kafka, outbox age,
    consumers and paused partitions); per consumer group: its lag (end offsets less
    committed offsets); per CRM connector: push lag, pending pushes, dead letters, last
    success and error (crm_sync's /v1/sync/status). Exits 1 unless every service is ready.
    """
    target = load_target()
    services = {service: _service_status(target, service) for service in SERVICES}
    lag, lag_error = _lag(target)
    crm = _crm_status(target)
    ready = all(entry["ready"] for entry in services.values()) and lag_error is None
    if json_output:
        print_json(
            {
                "ready": ready,
                "services": services,
                "consumer_lag": [group.as_json() for group in lag],
                "kafka": {"bootstrap_servers": target.kafka_bootstrap, "error": lag_error},
                "crm": crm,
            }
        )
    else:
        _print_status(services, lag, lag_error)
        _print_crm(crm)
    if not ready:
        raise typer.Exit(FAILED)


def _pid_running(service: str) -> bool | None:
    """From the pid file ``dealreg up`` writes; None when there is none (a remote system)."""
    pid_file = state_dir() / "run" / f"{service}.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _service_status(target: Target, service: str) -> dict[str, Any]:
    url = target.url(service)
    entry: dict[str, Any] = {
        "url": url,
        "process": _pid_running(service),
        "healthy": False,
        "ready": False,
        "checks": {},
        "outbox_age_seconds": None,
        "paused_partitions": {},
        "error": None,
    }
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            entry["healthy"] = client.get("/healthz").status_code == 200
            readiness = client.get("/readyz")
    except httpx.HTTPError as error:
        entry["error"] = f"{type(error).__name__}: {error}"
        return entry
    try:
        body = readiness.json()
    except ValueError:
        entry["error"] = f"/readyz answered {readiness.status_code} without JSON"
        return entry
    checks: dict[str, Any] = body.get("checks") or {}
    entry["ready"] = readiness.status_code == 200
    entry["checks"] = checks
    outbox = (checks.get("outbox") or {}).get("detail")
    if isinstance(outbox, dict):
        entry["outbox_age_seconds"] = outbox.get("oldest_unpublished_age_seconds")
    consumers = (checks.get("consumers") or {}).get("detail")
    if isinstance(consumers, dict):
        entry["paused_partitions"] = {
            group: detail.get("paused")
            for group, detail in consumers.items()
            if isinstance(detail, dict) and detail.get("paused")
        }
    return entry


def _crm_status(target: Target) -> dict[str, Any]:
    """crm_sync's own account of the CRM (``/v1/sync/status``, as the admin)."""
    try:
        with httpx.Client(base_url=target.url("crm_sync"), timeout=10) as client:
            answer = client.get(
                "/v1/sync/status", headers={"Authorization": f"Bearer {target.admin_token}"}
            )
    except httpx.HTTPError as error:
        return {"connectors": [], "error": f"{type(error).__name__}: {error}"}
    if not answer.is_success:
        return {"connectors": [], "error": f"/v1/sync/status answered {answer.status_code}"}
    body = answer.json()
    return {"connectors": list(body.get("connectors") or []), "error": None}


def _print_crm(crm: dict[str, Any]) -> None:
    if crm["error"]:
        errors.print(Text(f"crm_sync status: {crm['error']}"))
        return
    if not crm["connectors"]:
        console.print("No CRM connector is configured.")
        return
    table = Table(title="CRM sync")
    for column in ("crm", "push lag", "pending", "dead letters", "last success", "last error"):
        table.add_column(column, overflow="fold")
    for connector in crm["connectors"]:
        row(
            table,
            connector.get("crm_system"),
            f"{connector.get('lag_seconds', 0):.1f} s",
            connector.get("pending"),
            connector.get("dead_letters"),
            str(connector.get("last_success_at") or "-")[:19].replace("T", " "),
            connector.get("last_error") or "-",
        )
    console.print(table)


def _lag(target: Target) -> tuple[list[GroupLag], str | None]:
    try:
        return (
            asyncio.run(
                asyncio.wait_for(
                    consumer_lag(
                        target.kafka_bootstrap,
                        topic_prefix=target.topic_prefix,
                        security=target.kafka_security,
                    ),
                    timeout=30,
                )
            ),
            None,
        )
    except Exception as error:  # the brokers down is a status to show, not a crash
        return [], f"{type(error).__name__}: {error}"


def _mark(ok: bool | None) -> Text:
    if ok is None:
        return Text("-", style="dim")
    return Text("yes", style="green") if ok else Text("no", style="red")


def _print_status(
    services: dict[str, dict[str, Any]], lag: list[GroupLag], lag_error: str | None
) -> None:
    table = Table(title="Services")
    for column in ("service", "url", "process", "healthy", "ready", "outbox age", "paused"):
        table.add_column(column)
    for service, entry in services.items():
        age = entry["outbox_age_seconds"]
        paused = entry["paused_partitions"]
        row(
            table,
            service,
            entry["url"],
            _mark(entry["process"]),
            _mark(entry["healthy"]),
            _mark(entry["ready"]),
            "-" if age is None else f"{age:.1f} s",
            ", ".join(f"{g}: {p}" for g, p in paused.items()) or "none",
        )
    console.print(table)
    for service, entry in services.items():
        if entry["error"]:
            errors.print(Text(f"{service}: {entry['error']}"))
        for name, check in entry["checks"].items():
            if not check.get("ok"):
                errors.print(Text(f"{service}: {name} not ready: {check.get('detail')}"))
    groups = Table(title="Consumer lag")
    for column in ("group", "lag", "partitions behind"):
        groups.add_column(column)
    for group in lag:
        behind = [f"{p.topic}[{p.partition}]={p.lag}" for p in group.partitions if p.lag]
        total = "nothing committed yet" if group.total is None else str(group.total)
        row(groups, group.group, total, ", ".join(behind[:6]) or "-")
    console.print(groups)
    if lag_error:
        errors.print(Text(f"kafka: {lag_error}"))
