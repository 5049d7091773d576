"""The one polling loop every background job runs on (services.polling)."""

from __future__ import annotations

import asyncio

import pytest

from services import polling


async def test_a_step_that_did_work_runs_again_at_once_and_an_idle_one_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = [True, True, False, True]
    happened: list[str] = []

    async def step() -> bool:
        if not answers:
            raise asyncio.CancelledError  # the test is over
        happened.append("step")
        return answers.pop(0)

    async def idle(seconds: float, wake: asyncio.Event | None = None) -> None:
        happened.append(f"idle {seconds}")

    monkeypatch.setattr(polling, "idle", idle)
    with pytest.raises(asyncio.CancelledError):
        await polling.poll(step, idle_seconds=0.3)
    assert happened == ["step", "step", "step", "idle 0.3", "step"]


async def test_a_wake_ends_the_idle_wait_early_and_is_cleared() -> None:
    wake = asyncio.Event()
    asyncio.get_running_loop().call_soon(wake.set)
    await asyncio.wait_for(polling.idle(3600, wake), timeout=30)
    assert not wake.is_set()


async def test_without_a_wake_the_idle_wait_lasts_its_interval() -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(polling.idle(3600), timeout=0.05)


async def test_a_cancelled_loop_stops_even_when_woken_at_that_moment() -> None:
    """On Python 3.11 asyncio.wait_for swallows a cancellation that arrives as its awaitable
    completes: the outbox relay, woken as its service stopped, ran on (the stop took 30 s)."""

    async def nothing_to_do() -> bool:
        return False

    wake = asyncio.Event()
    task = asyncio.create_task(polling.poll(nothing_to_do, idle_seconds=3600, wake=wake))
    for _ in range(3):
        await asyncio.sleep(0)  # the loop is now idle, waiting for a wake
    wake.set()
    task.cancel()  # in the same turn of the event loop as the wake
    done, _ = await asyncio.wait({task}, timeout=2)
    assert done, "the loop ran on after it was cancelled"
    assert task.cancelled()
