"""What every scenario does around its fault: subgraph processes, a load, clean-up."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

from .check import judge_read
from .ledger import Ledger
from .load import Client, Load, Request
from .subgraph import Subgraph


def run_id(prefix: str) -> str:
    """Ids of this run's records, series and counters: fresh on a reused store."""
    return f"{prefix}{uuid.uuid4().hex[:6]}"


async def subgraph(store: str, workdir: Path, name: str) -> Subgraph:
    process = Subgraph(store, workdir, name)
    try:
        await asyncio.to_thread(process.wait_ready)
    except BaseException:
        process.kill()
        raise
    return process


def new_load(ledger: Ledger, clients: list[Client], prefix: str, **options: Any) -> Load:
    return Load(ledger, clients, run_id(prefix), partial(judge_read, ledger), **options)


@contextlib.asynccontextmanager
async def running(load: Load) -> AsyncIterator[asyncio.Task[None]]:
    """The load runs inside the block; at its end it is stopped and awaited (or cancelled)."""
    task = asyncio.create_task(load.run_until_stopped())
    try:
        yield task
    finally:
        load.stop.set()
        try:
            await asyncio.wait_for(task, timeout=60)
        except TimeoutError:
            task.cancel()


class Clock:
    """Seconds since the scenario began, for its notes."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.marks: dict[str, float] = {}
        self._at: list[tuple[str, float]] = [("start", self.began)]

    def mark(self, name: str) -> float:
        now = time.monotonic()
        self.marks[name] = round(now - self.began, 2)
        self._at.append((name, now))
        return now

    def worst_latency_by_phase(self, requests: list[Request]) -> dict[str, float]:
        """The slowest request that ended in each phase ("killed": from the kill to the next
        mark), in seconds."""
        worst: dict[str, float] = {}
        for request in requests:
            phase = "start"
            for name, at in self._at:
                if request.ended >= at:
                    phase = name
            seconds = request.ended - request.started
            worst[phase] = round(max(worst.get(phase, 0.0), seconds), 3)
        return {name: worst[name] for name, _ in self._at if name in worst}

    @property
    def seconds(self) -> float:
        return round(time.monotonic() - self.began, 1)
