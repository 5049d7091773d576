"""``dealreg dlq list | show | replay``: the Kafka dead letters and crm_sync's.

A Kafka dead letter is named by its coordinates on the dead-letter topic, ``PARTITION:OFFSET``
(services.kafka.dead_letters does the work); a CRM dead letter (a push the CRM refused) by
``crm:ID``, through crm_sync's API (``/v1/sync/dead-letters``), which replays it itself.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Coroutine
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from services.cli.config import Target, load_target
from services.cli.output import FAILED, USAGE, answer, api, console, fail, print_json, row
from services.kafka.dead_letters import (
    DeadLetter,
    DeadLetterFilter,
    NoSuchTopicError,
    list_dead_letters,
    replay_dead_letters,
    show_dead_letter,
)

app = typer.Typer(
    help="Dead letters: what a consumer (Kafka) or the CRM (crm_sync) could not take.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals hold the admin token
)

_KAFKA_ID = re.compile(r"^\d+:\d+$")
_CRM_ID = re.compile(r"^crm:(\d+)$")
T = TypeVar("T")


class Kind(StrEnum):
    all = "all"
    kafka = "kafka"
    crm = "crm"


JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
KindOption = Annotated[Kind, typer.Option("--kind", help="Which dead letters.")]
ConsumerOption = Annotated[
    str | None, typer.Option(help="Kafka: the consumer group that gave up on the record.")
]
ReasonOption = Annotated[str | None, typer.Option(help="Text the reason contains (any case).")]
SinceOption = Annotated[
    datetime | None, typer.Option(help="Kafka: dead-lettered at or after (UTC if no zone).")
]
UntilOption = Annotated[datetime | None, typer.Option(help="Kafka: dead-lettered before.")]


def _kafka(target: Target, work: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(work)
    except NoSuchTopicError as error:
        fail(f"{error} (check DEALREG_KAFKA_BOOTSTRAP_SERVERS and DEALREG_KAFKA_TOPIC_PREFIX)")
    except Exception as error:
        fail(f"Kafka at {target.kafka_bootstrap}: {type(error).__name__}: {error}")


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def _filter(
    consumer: str | None,
    reason: str | None,
    since: datetime | None,
    until: datetime | None,
    *,
    include_replayed: bool,
) -> DeadLetterFilter:
    return DeadLetterFilter(
        consumer=consumer,
        reason=reason,
        since=_utc(since),
        until=_utc(until),
        include_replayed=include_replayed,
    )


def _crm_letters(target: Target, *, include_replayed: bool) -> list[dict[str, Any]]:
    with api(target, "crm_sync") as client:
        body = answer(
            client.get("/v1/sync/dead-letters", params={"include_replayed": include_replayed})
        )
    return list(body["items"])


@app.command("list")
def list_(
    kind: KindOption = Kind.all,
    consumer: ConsumerOption = None,
    reason: ReasonOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    include_replayed: Annotated[
        bool, typer.Option("--all", help="Include those replayed already.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """List dead letters, oldest first. Exits 1 when there are none."""
    target = load_target()
    kafka: list[DeadLetter] = []
    crm: list[dict[str, Any]] = []
    if kind in (Kind.all, Kind.kafka):
        kafka = _kafka(
            target,
            list_dead_letters(
                target.kafka_bootstrap,
                topic_prefix=target.topic_prefix,
                where=_filter(consumer, reason, since, until, include_replayed=include_replayed),
                security=target.kafka_security,
            ),
        )
    if kind in (Kind.all, Kind.crm):
        crm = [
            letter
            for letter in _crm_letters(target, include_replayed=include_replayed)
            if reason is None or reason.lower() in str(letter.get("reason", "")).lower()
        ]
    if json_output:
        print_json(
            {
                "kafka": [letter.summary() for letter in kafka],
                "crm": [{**letter, "ref": f"crm:{letter['id']}"} for letter in crm],
            }
        )
    else:
        _print_list(kafka, crm)
    if not kafka and not crm:
        raise typer.Exit(FAILED)


def _print_list(kafka: list[DeadLetter], crm: list[dict[str, Any]]) -> None:
    if not kafka and not crm:
        console.print("No dead letters.")
        return
    table = Table(title="Dead letters")
    table.add_column("id", no_wrap=True)
    table.add_column("when (UTC)", no_wrap=True)
    for column in ("where", "event", "reason"):
        table.add_column(column, overflow="fold")
    for letter in kafka:
        summary = letter.summary()
        where = (
            f"{letter.consumer} <- {summary['topic']}"
            f"[{summary['source_partition']}]@{summary['source_offset']}"
        )
        row(
            table,
            letter.coordinates + (" (replayed)" if letter.replayed else ""),
            letter.dead_lettered_at.strftime("%Y-%m-%d %H:%M:%S"),
            where,
            str(summary["event_type"] or "-"),
            letter.reason[:160],
        )
    for entry in crm:
        row(
            table,
            f"crm:{entry['id']}" + (" (replayed)" if entry.get("replayed_at") else ""),
            str(entry.get("created_at", ""))[:19].replace("T", " "),
            f"crm_sync -> {entry.get('crm_system')}",
            f"registration {entry.get('registration_id')}",
            str(entry.get("reason", ""))[:160],
        )
    console.print(table)


@app.command()
def show(
    letter_id: Annotated[str, typer.Argument(metavar="ID", help="PARTITION:OFFSET or crm:ID")],
    json_output: JsonOption = False,
) -> None:
    """One dead letter in full: headers, the record, the event if it can be read."""
    target = load_target()
    details: dict[str, Any]
    crm = _CRM_ID.match(letter_id)
    if crm:
        with api(target, "crm_sync") as client:
            response = client.get(f"/v1/sync/dead-letters/{crm.group(1)}")
            if response.status_code == 404:
                fail(f"no CRM dead letter {letter_id}")
            details = dict(answer(response))
    elif _KAFKA_ID.match(letter_id):
        letter = _kafka(
            target,
            show_dead_letter(
                target.kafka_bootstrap,
                topic_prefix=target.topic_prefix,
                coordinates=letter_id,
                security=target.kafka_security,
            ),
        )
        if letter is None:
            fail(f"no dead letter at {letter_id}")
        details = letter.details()
    else:
        fail(f"expected PARTITION:OFFSET or crm:ID, got {letter_id!r}", code=USAGE)
    if json_output:
        print_json(details)
        return
    table = Table(show_header=False, title=f"Dead letter {letter_id}")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in details.items():
        if name == "headers":
            shown = "\n".join(f"{header}: {text}" for header, text in value)
        elif isinstance(value, dict | list):
            shown = json.dumps(value, indent=2)
        else:
            shown = str(value)
        row(table, name, shown)
    console.print(table)


@app.command()
def replay(
    letter_ids: Annotated[
        list[str] | None,
        typer.Argument(metavar="[ID]...", help="PARTITION:OFFSET or crm:ID, any number."),
    ] = None,
    consumer: ConsumerOption = None,
    reason: ReasonOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    every_crm: Annotated[
        bool, typer.Option("--all-crm", help="Replay every CRM dead letter not replayed yet.")
    ] = False,
    force: Annotated[bool, typer.Option(help="Kafka: replay even if replayed before.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Replay dead letters: Kafka ones to their topic, CRM ones to the CRM.

    A Kafka dead letter is republished to its original topic with its key, headers and event
    id (an event applied after all is dropped by the inbox); crm_sync pushes a CRM dead letter
    again. Give IDs, or filters for the Kafka ones. Exits 1 when nothing was replayed.
    """
    ids = letter_ids or []
    bad = [i for i in ids if not (_KAFKA_ID.match(i) or _CRM_ID.match(i))]
    if bad:
        fail(f"expected PARTITION:OFFSET or crm:ID, got {', '.join(bad)}", code=USAGE)
    kafka_ids = [i for i in ids if _KAFKA_ID.match(i)]
    crm_ids = [int(m.group(1)) for i in ids if (m := _CRM_ID.match(i))]
    filtered = any(value is not None for value in (consumer, reason, since, until))
    if not (ids or filtered or every_crm):
        fail(
            "give dead-letter IDs, a filter (--consumer/--reason/--since/--until) or --all-crm",
            code=USAGE,
        )
    target = load_target()
    results: list[dict[str, Any]] = []
    if kafka_ids or filtered:
        letters = _kafka(
            target,
            list_dead_letters(
                target.kafka_bootstrap,
                topic_prefix=target.topic_prefix,
                where=_filter(consumer, reason, since, until, include_replayed=True),
                security=target.kafka_security,
            ),
        )
        if kafka_ids:
            missing = set(kafka_ids) - {letter.coordinates for letter in letters}
            if missing:
                fail(f"no dead letter at {', '.join(sorted(missing))}")
            letters = [letter for letter in letters if letter.coordinates in set(kafka_ids)]
        elif not force:
            letters = [letter for letter in letters if not letter.replayed]
        replays = _kafka(
            target,
            replay_dead_letters(
                target.kafka_bootstrap,
                topic_prefix=target.topic_prefix,
                letters=letters,
                force=force,
                security=target.kafka_security,
            ),
        )
        results.extend(
            {"id": r.coordinates, "outcome": r.outcome, "topic": r.topic} for r in replays
        )
    if crm_ids or every_crm:
        with api(target, "crm_sync") as client:
            body = answer(
                client.post("/v1/sync/dead-letters/replay", json={"ids": crm_ids or None})
            )
        results.append(
            {"id": "crm", "outcome": "replayed", "topic": None, "count": body["replayed"]}
        )
    replayed = sum(
        int(result.get("count", 1)) for result in results if result["outcome"] == "replayed"
    )
    if json_output:
        print_json({"replayed": replayed, "results": results})
    else:
        table = Table(title="Replays")
        for column in ("id", "outcome", "to"):
            table.add_column(column)
        for result in results:
            outcome = result["outcome"]
            if "count" in result:
                outcome = f"{result['count']} pushed again by crm_sync"
            row(table, result["id"], outcome, result["topic"] or "-")
        console.print(table)
    if replayed == 0:
        raise typer.Exit(FAILED)
