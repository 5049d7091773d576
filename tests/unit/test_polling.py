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
