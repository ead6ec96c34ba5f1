"""What the background loops (counter rollups, fire-and-forget flushes) wait with."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_for_event(event: asyncio.Event, seconds: float) -> None:
    """Wait until `event` is set or `seconds` pass; a cancellation always gets through.

    Not `asyncio.wait_for(event.wait(), seconds)`: on Python 3.11 it swallows a cancellation
    that arrives just after the event was set (it returns the finished wait instead), so a
    loop stopped right after a wake-up never saw its cancel and `stop()` waited forever.
    `asyncio.timeout` tells its own cancellation from the caller's.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
