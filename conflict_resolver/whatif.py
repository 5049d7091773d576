"""Policy what-if from the command line: which past decisions would a draft policy change?

    python -m conflict_resolver.whatif draft.yaml [--since 2026-10-01T00:00:00Z] [--until ...]
        [--database-url postgresql+asyncpg://...] [--json]

Reads the resolver's database (``DEALREG_DATABASE_URL`` unless ``--database-url``), replays the
registrations in memory under the draft (YAML or JSON), and writes nothing. Shows a progress
bar with ``rich`` or ``tqdm`` when one is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from conflict_resolver import handlers
from conflict_resolver.domain.policy import DEFAULT_POLICY, Policy
from services.clock import SystemClock
from services.db import create_engine, create_session_factory
from services.uow import TransactionRunner


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m conflict_resolver.whatif")
    parser.add_argument("policy", type=Path, help="the draft policy (YAML or JSON)")
    parser.add_argument("--since", type=datetime.fromisoformat, default=None)
    parser.add_argument("--until", type=datetime.fromisoformat, default=None)
    parser.add_argument("--database-url", default=os.environ.get("DEALREG_DATABASE_URL"))
    parser.add_argument("--json", action="store_true", help="print the full answer as JSON")
    return parser.parse_args(argv)


@contextmanager
def _progress() -> Iterator[Callable[[int], None]]:
    """A progress callback: rich if installed, else tqdm, else a dot every 1,000."""
    if importlib.util.find_spec("rich") is not None:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("replaying", total=None)
            yield lambda done: bar.update(task, completed=done)
        return
    if importlib.util.find_spec("tqdm") is not None:
        from tqdm import tqdm

        with tqdm(desc="replaying", unit=" registrations") as counter:
            yield lambda done: counter.update(done - counter.n)
        return
    yield lambda done: None if done % 1000 else print(".", end="", file=sys.stderr)


async def run(
    draft: Policy, *, database_url: str, since: datetime | None, until: datetime | None
) -> dict[str, Any]:
    engine = create_engine(database_url)
    try:
        ctx = handlers.Context(
            transactions=TransactionRunner(create_session_factory(engine), None),
            clock=SystemClock(),
            policy=DEFAULT_POLICY,
        )
        with _progress() as progress:
            return await handlers.what_if(ctx, draft, since=since, until=until, progress=progress)
    finally:
        await engine.dispose()


def _summary(answer: dict[str, Any]) -> str:
    lines = [
        f"replayed {answer['replayed']} registrations against policy "
        f"v{answer['current_policy_version']}: {answer['changed']} decisions would change",
        *(f"  {label}: {count}" for label, count in sorted(answer["transitions"].items())),
    ]
    for change in answer["changes"][:50]:
        before, after = change["before"], change["after"]
        lines.append(
            f"  #{change['submission_seq']} {change['registration_id']}: "
            f"{before['outcome']} {before['reason_code'] or ''} -> "
            f"{after['outcome']} {after['reason_code'] or ''} ({change['why']})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if not args.database_url:
        print("set DEALREG_DATABASE_URL or pass --database-url", file=sys.stderr)
        return 2
    draft = Policy.model_validate(yaml.safe_load(args.policy.read_text()))
    answer = asyncio.run(
        run(draft, database_url=args.database_url, since=args.since, until=args.until)
    )
    print(json.dumps(answer, default=str, indent=2) if args.json else _summary(answer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
