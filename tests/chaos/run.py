"""The chaos run: ``python -m tests.chaos.run --duration S --seed N [--short]``.

Starts PostgreSQL, a three-node Kafka cluster, the CRM sandbox and two instances of every
service; drives load while injecting faults at seeded random moments; waits (bounded) for the
system to settle; reads the whole event history back and checks the invariants
(``tests.chaos.checks``); writes ``result.json`` and ``result.md`` into the run's directory and
exits 1 when an invariant failed (2 when the run itself could not be carried out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import httpx

from tests.chaos import faults as chaos_faults
from tests.chaos import net, report
from tests.chaos.checks import check_all
from tests.chaos.faults import say
from tests.chaos.history import consumer_lag, event_count, read_history
from tests.chaos.load import Api, Ledger, Load, bearer
from tests.chaos.processes import ADMIN_TOKEN, KafkaCluster, Postgres, Stack
from tests.support.infra import ROOT
from tests.support.stack import free_port


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.run", description=__doc__)
    parser.add_argument("--duration", type=float, default=None, help="seconds of load")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--short", action="store_true", help="the CI profile (~10 minutes)")
    parser.add_argument("--pg-port", type=int, default=55933)
    parser.add_argument("--kafka-base-port", type=int, default=29092)
    parser.add_argument("--out", type=Path, default=None, help="run directory")
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 300 if args.short else 2700
    return args


async def settle(load: Load, ledger: Ledger, bound: float) -> dict[str, str]:
    """Wait until no accepted registration is still ``submitted`` (bounded); return the final
    status of every registration, read through the partners' own API."""
    deadline = time.monotonic() + bound
    while True:
        statuses = await final_statuses(load, ledger)
        waiting = [rid for rid in ledger.accepted if statuses.get(rid, "submitted") == "submitted"]
        if not waiting or time.monotonic() > deadline:
            return statuses
        await asyncio.sleep(3)


async def final_statuses(load: Load, ledger: Ledger) -> dict[str, str]:
    statuses: dict[str, str] = {}
    for key in ledger.partners.values():
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            response = await load.api.call(
                "deal_registration", "GET", "/v1/registrations", params=params, headers=bearer(key)
            )
            if response is None or response.status_code != 200:
                break
            page = response.json()
            statuses.update({item["id"]: item["status"] for item in page["items"]})
            cursor = page.get("next_cursor")
            if not cursor:
                break
    return statuses


async def open_case_registrations(api: Api) -> set[str]:
    registrations: set[str] = set()
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {
            "state": "open",
            "limit": 200,
            **({"cursor": cursor} if cursor else {}),
        }
        response = await api.call(
            "conflict_resolver", "GET", "/v1/conflicts", params=params, headers=bearer(ADMIN_TOKEN)
        )
        if response is None or response.status_code != 200:
            return registrations
        page = response.json()
        for case in page["items"]:
            registrations.add(case["registration_id"])
        cursor = page.get("next_cursor")
        if not cursor:
            return registrations


def _pending(status: Any) -> int:
    """Deals crm_sync still has to push, summed over every connector in its status answer."""
    if isinstance(status, dict):
        own = int(status["pending"]) if isinstance(status.get("pending"), int) else 0
        return own + sum(_pending(v) for k, v in status.items() if k != "pending")
    if isinstance(status, list):
        return sum(_pending(item) for item in status)
    return 0


async def wait_crm_synced(api: Api, bound: float) -> dict[str, Any]:
    """Wait (bounded) until crm_sync has nothing left to push; returns its last status."""
    deadline = time.monotonic() + bound
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await api.call(
            "crm_sync", "GET", "/v1/sync/status", headers=bearer(ADMIN_TOKEN), patience=10
        )
        if response is not None and response.status_code == 200:
            status = response.json()
            if _pending(status) == 0:
                return status
        await asyncio.sleep(3)
    return status


async def wait_caught_up(stack: Stack, bound: float) -> None:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        try:
            lag = await consumer_lag(stack.cluster.bootstrap, stack.topic_prefix)
            if lag and not any(lag.values()):
                return
        except Exception as error:  # the admin client's errors are many; keep waiting
            say(f"lag not readable yet: {error}")
        await asyncio.sleep(3)


async def wait_quiet(stack: Stack, api: Api, *, quiet_for: float, bound: float) -> bool:
    """Wait (bounded) until no event was written for ``quiet_for`` seconds, every consumer
    caught up and crm_sync had nothing left to push. The system keeps moving after the load
    stops: short protection windows expire and promote the waitlist, SLA deadlines decide;
    reading the history and the CRM while it moves compares two different moments."""
    deadline = time.monotonic() + bound
    last = -1
    while time.monotonic() < deadline:
        count = await event_count(stack.cluster.bootstrap, stack.topic_prefix)
        if count == last:
            await wait_caught_up(stack, bound=30)
            if _pending(await wait_crm_synced(api, bound=30)) == 0 and count == (
                await event_count(stack.cluster.bootstrap, stack.topic_prefix)
            ):
                return True
        last = count
        await asyncio.sleep(quiet_for)
    return False


async def chaos(args: argparse.Namespace) -> int:
    started = time.monotonic()
    run_id = f"{args.seed}-{int(time.time())}"
    run_dir = (args.out or ROOT / ".dealreg" / "chaos" / run_id).resolve()
    profile = chaos_faults.SHORT if args.short else chaos_faults.FULL
    quick_window = 45 if args.short else 120
    rng = random.Random(args.seed)
    stack = Stack(
        run_dir=run_dir,
        postgres=Postgres(args.pg_port),
        cluster=KafkaCluster(args.kafka_base_port, run_dir / "kafka"),
        topic_prefix=f"chaos{run_id}.",
    )
    ok_port, hang_port = free_port(), free_port()
    servers = [
        await net.start_balancer(
            stack.webhook_proxy_port, lambda: [i.port for i in stack.of("crm_sync")]
        ),
        await net.start_receiver(ok_port, hang=False),
        await net.start_receiver(hang_port, hang=True),
    ]
    ledger = Ledger()
    api = Api(
        {s: stack.urls(s) for s in ("deal_registration", "conflict_resolver", "crm_sync")},
        rng,
        ledger,
    )
    try:
        say(f"starting the stack in {run_dir}")
        await stack.start()
        say(f"stack ready after {time.monotonic() - started:.0f}s")
        load = Load(
            api, ledger, rng, accounts=20 if args.short else 60, rate=2 if args.short else 3
        )
        hanging = await load.setup(
            partners=10 if args.short else 30,
            quick_window_seconds=quick_window,
            hook_ports=(ok_port, hang_port),
        )
        faults = chaos_faults.plan(rng, stack, profile)
        load_started = time.monotonic()
        until = load_started + args.duration
        chaos_faults.schedule(rng, faults, start=15, end=args.duration - 20)
        injector = chaos_faults.Injector(stack, load, profile.recovery_bound_seconds)
        stop = asyncio.Event()

        async def faults_then_stop() -> None:
            # The load lasts the duration and at least until the last fault has recovered.
            try:
                await injector.run(faults, load_started, load_started + 3 * args.duration)
                await asyncio.sleep(max(0.0, until - time.monotonic()))
            finally:
                stop.set()

        await asyncio.gather(
            load.drive(stop, quick_window),
            load.ops_loop(stop),
            load.crm_loop(stack.sandbox.url, stop),
            faults_then_stop(),
        )
        say(f"load done ({ledger.offered} offered); settling")
        statuses = await settle(load, ledger, bound=120 if args.short else 300)
        await wait_caught_up(stack, bound=60 if args.short else 180)
        crm_status = await wait_crm_synced(api, bound=60 if args.short else 180)
        quiet = await wait_quiet(
            # Longer than a quick-line window and the 90 s SLA: nothing can be left to fire.
            stack,
            api,
            quiet_for=max(quick_window, 90) + 15,
            bound=360 if args.short else 720,
        )
        say("quiet: no event for a protection window" if quiet else "never quiet: checking")
        # The history, then the CRM once everything in that history has reached it, then the
        # history again: if the system still moves, the CRM must lie between the two reads.
        history = await read_history(stack.cluster.bootstrap, stack.topic_prefix)
        history.save(run_dir / "history.json")
        await wait_caught_up(stack, bound=30)
        crm_status = await wait_crm_synced(api, bound=30)
        async with httpx.AsyncClient(timeout=10) as client:
            deals = (await client.get(f"{stack.sandbox.url}/_sandbox/hubspot/deals")).json()
        after_crm = await read_history(stack.cluster.bootstrap, stack.topic_prefix)
        findings = check_all(
            history,
            after_crm=after_crm,
            accepted=set(ledger.accepted),
            final_status=statuses,
            open_case_registrations=await open_case_registrations(api),
            crm_deals=deals,
            crm_stage_set=ledger.crm_stage_set,
        )
        notes = [
            f"{hanging} of {len(load.partner_ids)} partners have a webhook receiver "
            "that never answers.",
            "CRM webhooks reach both crm_sync instances through a local TCP balancer.",
            "crm_unreachable pauses the sandbox process (SIGSTOP/SIGCONT): its data is in memory.",
            f"quick-line protection window {quick_window} s; SLA auto-approval after 90 s.",
            f"Not accepted (no 202 within 90 s of retries): {dict(ledger.not_accepted)}.",
            "crm_sync at the end: "
            + json.dumps(
                [
                    {k: c.get(k) for k in ("pending", "synced", "dead_letters", "failures")}
                    for c in crm_status.get("connectors", [])
                ]
            ),
        ]
        result = report.build(
            command=shlex.join(["python", "-m", "tests.chaos.run", *sys.argv[1:]]),
            seed=args.seed,
            short=args.short,
            runtime_seconds=time.monotonic() - started,
            ledger=ledger,
            faults=injector.log,
            findings=findings,
            notes=notes,
        )
        json_path, md_path = report.write(result, run_dir)
        print(md_path.read_text(), flush=True)
        say(f"result in {json_path}")
        return 0 if result["passed"] else 1
    finally:
        await api.close()
        for server in servers:
            server.close()
        await asyncio.to_thread(stack.stop)


def main() -> None:
    args = parse(sys.argv[1:])
    try:
        sys.exit(asyncio.run(chaos(args)))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:  # the run itself broke: not a verdict on the system
        traceback.print_exc()
        sys.exit(2)


if __name__ == "__main__":
    main()
