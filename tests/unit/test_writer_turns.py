"""SQLite writers of one process take turns (services.uow.WriterTurns): first come first
served, each as soon as the one before ends; a bounded wait; no wait for oneself."""

from __future__ import annotations

import asyncio
import time

from services.uow import WriterTurns


async def test_writers_go_one_at_a_time_in_arrival_order() -> None:
    turns = WriterTurns(wait=5)
    inside: list[int] = []
    order: list[int] = []

    async def write(number: int) -> None:
        async with turns.turn():
            inside.append(number)
            assert len(inside) == 1, inside  # nobody else holds a turn
            order.append(number)
            await asyncio.sleep(0.01)
            inside.remove(number)

    await asyncio.gather(*(write(number) for number in range(5)))
    assert order == [0, 1, 2, 3, 4]


async def test_the_next_writer_starts_as_soon_as_the_one_before_ends() -> None:
    """No polling: SQLite's busy handler would sleep up to 100 ms between tries."""
    turns = WriterTurns(wait=5)
    ended: list[float] = []
    started: list[float] = []

    async def first() -> None:
        async with turns.turn():
            await asyncio.sleep(0.05)
            ended.append(time.monotonic())

    async def second() -> None:
        await asyncio.sleep(0.001)
        async with turns.turn():
            started.append(time.monotonic())

    await asyncio.gather(first(), second())
    assert started[0] - ended[0] < 0.02


async def test_a_transaction_inside_another_of_the_same_task_does_not_wait_for_itself() -> None:
    turns = WriterTurns(wait=5)
    async with asyncio.timeout(1), turns.turn(), turns.turn():
        pass


async def test_past_the_wait_a_writer_goes_on_as_without_turns() -> None:
    """SQLite's own busy timeout then decides, as before turns existed."""
    turns = WriterTurns(wait=0.05)
    release = asyncio.Event()
    went_on: list[bool] = []

    async def holder() -> None:
        async with turns.turn():
            await release.wait()

    async def late() -> None:
        await asyncio.sleep(0.001)
        async with turns.turn():
            went_on.append(True)
        release.set()

    async with asyncio.timeout(2):
        await asyncio.gather(holder(), late())
    assert went_on == [True]
    # The turns still work afterwards.
    async with asyncio.timeout(1), turns.turn():
        pass
