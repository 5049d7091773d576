"""``dealreg replay SERVICE --database-url URL``: rebuild a service's state from the topics into
an empty database (``services.replay``; what each service rebuilds: its ``replay`` module).

crm_sync and conflict_resolver can be rebuilt so; the resolver applies the decisions it
published instead of deciding again, and rebuilds neither account overlap (by design: partners
upload again) nor, yet, what ``conflict_resolver/replay.py`` lists as not in its plan.
deal_registration is refused, saying what is missing: it is the system of record (partners,
API keys, contacts are on no topic); restore it from a backup.

Exit codes: 0 rebuilt, 1 failed (a service that cannot be rebuilt, a database that is not
empty, brokers out of reach), 2 usage.
"""

from __future__ import annotations

import asyncio
import importlib
from enum import StrEnum
from typing import Annotated

import typer
from aiokafka.errors import KafkaError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import SQLAlchemyError

from services import migrations
from services.cli.config import load_target
from services.cli.output import console, errors, fail, print_json
from services.replay import (
    DatabaseNotEmptyError,
    NotRebuildableError,
    ReplayPlan,
    ReplaySummary,
    replay,
)


class Service(StrEnum):
    deal_registration = "deal_registration"
    conflict_resolver = "conflict_resolver"
    crm_sync = "crm_sync"


def plan_of(service: str) -> ReplayPlan:
    """The service's own replay plan (``<service>.replay.PLAN``), loaded by name: the shared
    runtime knows no service. A service whose state is not all on the topics has none, and
    says why (``NOT_ON_THE_TOPICS``)."""
    module = importlib.import_module(f"{service}.replay")
    plan: ReplayPlan | None = module.PLAN
    if plan is None:
        raise NotRebuildableError(str(module.NOT_ON_THE_TOPICS))
    return plan


def replay_command(
    service: Annotated[Service, typer.Argument(help="The service to rebuild.")],
    database_url: Annotated[
        str,
        typer.Option(
            "--database-url",
            envvar="DEALREG_DATABASE_URL",
            help="An EMPTY database (it is migrated first); e.g. "
            "postgresql+asyncpg://dealreg@db/crm_sync_rebuilt. Default: DEALREG_DATABASE_URL.",
        ),
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable summary.")] = False,
) -> None:
    """Rebuild SERVICE's state from the topics into an empty database, with progress.

    Reads every partition of the service's topics from the beginning to the end offsets seen at
    the start (no consumer group: the running service is untouched), applies each event through
    the service's own handlers, and publishes nothing: the events staged meanwhile are already
    on the topics. Point the service at the new database once it is done.
    """
    target = load_target()
    try:
        plan = plan_of(service.value)
    except NotRebuildableError as error:
        fail(str(error))
    with Progress(
        TextColumn("{task.description:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,  # stdout stays clean for --json
        disable=json_output,
        transient=False,
    ) as bar:
        task = bar.add_task("replay", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            summary = asyncio.run(
                replay(
                    plan,
                    database_url=database_url,
                    bootstrap=target.kafka_bootstrap,
                    topic_prefix=target.topic_prefix,
                    security=target.kafka_security,
                    progress=progress,
                    migrate=migrations.upgrade,
                )
            )
        except (DatabaseNotEmptyError, NotRebuildableError) as error:
            fail(str(error))
        except (KafkaError, OSError) as error:
            fail(f"cannot read the topics at {target.kafka_bootstrap}: {error}")
        except SQLAlchemyError as error:
            fail(
                f"the database failed: {type(error).__name__}: {error}; what was written is "
                "partial: drop the database and replay again"
            )
    if json_output:
        print_json(summary.as_json())
        return
    _print(summary)


def _print(summary: ReplaySummary) -> None:
    console.print(
        f"{summary.service} rebuilt from {summary.records} records on "
        f"{', '.join(summary.topics)}: {summary.applied} applied, {summary.ignored} not for "
        f"this service, {summary.poison} poison (skipped, as the consumer dead-letters them); "
        f"{summary.outbox_suppressed} staged events marked published (already on the topics).",
        highlight=False,
    )
    for table, count in sorted(summary.rows.items()):
        console.print(f"  {table:28} {count} rows", highlight=False)
