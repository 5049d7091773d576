"""The command line of ``python -m services.kafka.dead_letters``.

Exit codes: 0 done, 1 nothing matched (or nothing was replayed), 2 usage error. The broker and
topic prefix default to ``DEALREG_KAFKA_BOOTSTRAP_SERVERS`` and ``DEALREG_KAFKA_TOPIC_PREFIX``;
SASL and TLS come from the other ``DEALREG_KAFKA_*`` settings (docs/kafka-security.md).

    list   [--consumer GROUP] [--reason TEXT] [--since ISO] [--until ISO] [--all] [--json]
    show   PARTITION:OFFSET [--json]
    replay PARTITION:OFFSET... | --consumer/--reason/--since/--until  [--force] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from services.kafka.dead_letters import (
    DeadLetter,
    DeadLetterFilter,
    NoSuchTopicError,
    list_dead_letters,
    replay_dead_letters,
    show_dead_letter,
)
from services.kafka.security import client_options
from services.settings import KafkaSettings

OK, NOTHING_MATCHED = 0, 1
_COORDINATES = re.compile(r"^\d+:\d+$")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "replay" and not (args.coordinates or _has_filter(args)):
        _parser().error("replay needs PARTITION:OFFSET or at least one filter")
    try:
        result: int = asyncio.run(_COMMANDS[args.command](args))
    except NoSuchTopicError as error:
        print(f"{error} (check --bootstrap and --prefix)", file=sys.stderr)
        return NOTHING_MATCHED
    return result


async def _list(args: argparse.Namespace) -> int:
    letters = await list_dead_letters(
        args.bootstrap,
        topic_prefix=args.prefix,
        where=_filter(args, include_replayed=args.all),
        security=_security(),
    )
    if args.json:
        _print_json([letter.summary() for letter in letters])
    for letter in [] if args.json else letters:
        print(_line(letter))
    return OK if letters else NOTHING_MATCHED


async def _show(args: argparse.Namespace) -> int:
    letter = await show_dead_letter(
        args.bootstrap, topic_prefix=args.prefix, coordinates=args.coordinates, security=_security()
    )
    if letter is None:
        print(f"no dead letter at {args.coordinates}")
        return NOTHING_MATCHED
    details = letter.details()
    if args.json:
        _print_json(details)
    else:
        for name, value in details.items():
            print(f"{name}: {json.dumps(value) if isinstance(value, dict | list) else value}")
    return OK


async def _replay(args: argparse.Namespace) -> int:
    where = _filter(args, include_replayed=True)
    letters = await list_dead_letters(
        args.bootstrap, topic_prefix=args.prefix, where=where, security=_security()
    )
    if args.coordinates:
        wanted = set(args.coordinates)
        letters = [letter for letter in letters if letter.coordinates in wanted]
    replays = await replay_dead_letters(
        args.bootstrap,
        topic_prefix=args.prefix,
        letters=letters,
        force=args.force,
        security=_security(),
    )
    if args.json:
        _print_json([replay.__dict__ for replay in replays])
    for replay in [] if args.json else replays:
        print(f"{replay.coordinates}\t{replay.outcome}\t{replay.topic or ''}")
    return OK if any(replay.outcome == "replayed" for replay in replays) else NOTHING_MATCHED


_COMMANDS = {"list": _list, "show": _show, "replay": _replay}


def _security() -> dict[str, Any]:
    return client_options(KafkaSettings())


def _parser() -> argparse.ArgumentParser:
    settings = KafkaSettings()
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--bootstrap", default=settings.bootstrap_servers)
    common.add_argument("--prefix", default=settings.topic_prefix, help="topic prefix")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--consumer", help="consumer group that gave up on the record")
    filters.add_argument("--reason", help="text the reason contains (any case)")
    filters.add_argument("--since", type=_instant, help="ISO time, inclusive (UTC if no zone)")
    filters.add_argument("--until", type=_instant, help="ISO time, exclusive")

    parser = argparse.ArgumentParser(
        prog="python -m services.kafka.dead_letters", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", parents=[common, filters], help="list dead letters")
    listing.add_argument("--all", action="store_true", help="include replayed ones")
    show = commands.add_parser("show", parents=[common], help="one record in full")
    show.add_argument("coordinates", type=_coordinates, metavar="PARTITION:OFFSET")
    replay = commands.add_parser(
        "replay", parents=[common, filters], help="republish to the original topic"
    )
    replay.add_argument("coordinates", nargs="*", type=_coordinates, metavar="PARTITION:OFFSET")
    replay.add_argument("--force", action="store_true", help="replay even if replayed before")
    return parser


def _filter(args: argparse.Namespace, *, include_replayed: bool) -> DeadLetterFilter:
    return DeadLetterFilter(
        consumer=args.consumer,
        reason=args.reason,
        since=args.since,
        until=args.until,
        include_replayed=include_replayed,
    )


def _has_filter(args: argparse.Namespace) -> bool:
    return any(getattr(args, name) is not None for name in ("consumer", "reason", "since", "until"))


def _coordinates(text: str) -> str:
    if not _COORDINATES.match(text):
        raise argparse.ArgumentTypeError(f"expected PARTITION:OFFSET, got {text!r}")
    return text


def _instant(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _line(letter: DeadLetter) -> str:
    summary = letter.summary()
    source = f"{summary['topic']}:{summary['source_partition']}:{summary['source_offset']}"
    marker = "  (replayed)" if letter.replayed else ""
    return (
        f"{letter.coordinates}\t{summary['dead_lettered_at']}\t{letter.consumer}\t{source}\t"
        f"{letter.reason[:120]}{marker}"
    )


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))
