"""``dealreg trace REGISTRATION_ID``: one registration's story, in time order, from the events.

Every event on the registration, decision and CRM topics whose subject, correlation id or
``registration_id`` names the registration, plus the dead letters about it. Read from the
topics themselves (no consumer group joins, nothing is committed), so it shows what really
happened between the services, whichever service's database says otherwise.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from schemas.envelope import MalformedEventError, UnknownEventError, decode_event
from schemas.topics import CRM, DEAD_LETTERS, DECISIONS, REGISTRATIONS
from services.cli.config import Target, load_target
from services.cli.output import FAILED, console, fail, print_json, row
from services.kafka.dead_letters import NoSuchTopicError, fold_markers, read_topic

TRACED_TOPICS = (REGISTRATIONS, DECISIONS, CRM)
# The facts worth a column, in this order, wherever an event's data has them.
_FACTS = (
    "partner.name",
    "customer.name",
    "customer.domain",
    "registration.partner_name",
    "product_line",
    "status",
    "decision",
    "rule",
    "reason_code",
    "protection_expires_at",
    "blocking_registration_id",
    "crm_system",
    "opportunity_id",
    "stage",
    "outcome",
)


@dataclass(frozen=True)
class Step:
    time: datetime
    topic: str
    event_type: str
    source: str
    event_id: str
    facts: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(),
            "topic": self.topic,
            "type": self.event_type,
            "source": self.source,
            "id": self.event_id,
            "facts": self.facts,
        }


def _fact(data: dict[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def facts_of(data: dict[str, Any]) -> dict[str, Any]:
    facts = {}
    for name in _FACTS:
        value = _fact(data, name)
        if value not in (None, "", {}, []):
            facts[name] = value
    return facts


def _names(registration_id: str, envelope: dict[str, Any]) -> bool:
    data = envelope.get("data") or {}
    return registration_id in (
        envelope.get("subject"),
        envelope.get("correlationid"),
        data.get("registration_id") if isinstance(data, dict) else None,
    )


async def collect(target: Target, registration_id: str, progress: Progress) -> list[Step]:
    steps: list[Step] = []
    topics = [spec.name for spec in TRACED_TOPICS]
    task = progress.add_task("reading the topics", total=len(topics) + 1)
    for name in topics:
        topic = target.topic(name)
        for record in await read_topic(
            target.kafka_bootstrap, topic, security=target.kafka_security
        ):
            try:
                envelope = decode_event(record.value, list(record.headers)).model_dump(mode="json")
            except (MalformedEventError, UnknownEventError):
                continue
            if _names(registration_id, envelope):
                steps.append(
                    Step(
                        time=datetime.fromisoformat(envelope["time"]),
                        topic=name,
                        event_type=envelope["type"],
                        source=envelope["source"],
                        event_id=envelope["id"],
                        facts=facts_of(envelope["data"]),
                    )
                )
        progress.advance(task)
    dead = fold_markers(
        await read_topic(
            target.kafka_bootstrap, target.topic(DEAD_LETTERS.name), security=target.kafka_security
        )
    )
    for letter in dead:
        envelope = letter.envelope_json() or {}
        if letter.header("ce_subject") == registration_id or _names(registration_id, envelope):
            steps.append(
                Step(
                    time=letter.dead_lettered_at,
                    topic=DEAD_LETTERS.name,
                    event_type=f"{letter.header('ce_type') or 'record'} (dead-lettered)",
                    source=str(letter.consumer),
                    event_id=letter.header("ce_id") or letter.coordinates,
                    facts={
                        "dead_letter": letter.coordinates,
                        "reason": letter.reason.splitlines()[0][:160] if letter.reason else "",
                        "replayed": letter.replayed,
                    },
                )
            )
    progress.advance(task)
    return sorted(steps, key=lambda step: (step.time, step.topic))


def trace(
    registration_id: Annotated[str, typer.Argument(help="The registration's id.")],
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """One registration's story across the three services, in time order.

    Read from the Kafka topics (registrations, decisions, CRM, dead letters): time, topic,
    event type, source and the key facts of each event. Exits 1 when no event names it.
    """
    target = load_target()
    try:
        with Progress(transient=True, console=console, disable=json_output) as progress:
            steps = asyncio.run(collect(target, registration_id, progress))
    except NoSuchTopicError as error:
        fail(f"{error} (check DEALREG_KAFKA_BOOTSTRAP_SERVERS and DEALREG_KAFKA_TOPIC_PREFIX)")
    except Exception as error:  # an unreachable broker, say: one line, not a traceback
        fail(f"Kafka at {target.kafka_bootstrap}: {type(error).__name__}: {error}")
    if json_output:
        print_json({"registration_id": registration_id, "events": [s.as_json() for s in steps]})
    else:
        table = Table(title=f"Registration {escape(registration_id)}", expand=True)
        table.add_column("time (UTC)", no_wrap=True)
        table.add_column("topic", overflow="fold", ratio=2)
        table.add_column("event", overflow="fold", ratio=3)
        table.add_column("source", overflow="fold", ratio=2)
        table.add_column("facts", overflow="fold", ratio=5)
        for step in steps:
            row(
                table,
                step.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
                step.topic.removeprefix("dealreg."),
                step.event_type.removeprefix("dealreg."),
                step.source.rsplit("/", 1)[-1],
                "\n".join(f"{k}: {v}" for k, v in step.facts.items()),
            )
        console.print(table)
    if not steps:
        if not json_output:
            console.print(Text(f"No event names {registration_id}."))
        raise typer.Exit(FAILED)
