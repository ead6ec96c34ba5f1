"""Background loops stop when cancelled, even right after being woken."""

from __future__ import annotations

import asyncio

from abstractions.background import wait_for_event


async def _loop(event: asyncio.Event) -> None:
    while True:
        await wait_for_event(event, 1.0)
        event.clear()
        await asyncio.sleep(1.0)


async def test_a_loop_cancelled_just_after_its_wake_up_stops() -> None:
    """`asyncio.wait_for` on 3.11 lost this cancellation (the loop then ran forever)."""
    for turns in range(4):  # cancel 0 to 3 loop turns after the wake-up
        event = asyncio.Event()
        task = asyncio.create_task(_loop(event))
        await asyncio.sleep(0.01)
        event.set()
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=2)
        assert done == {task} and task.cancelled(), f"not stopped {turns} turns after waking"


async def test_the_wait_ends_at_the_event_or_the_time() -> None:
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    start = loop.time()
    await wait_for_event(event, 0.05)
    assert loop.time() - start >= 0.05
    event.set()
    await asyncio.wait_for(wait_for_event(event, 60), 1)
