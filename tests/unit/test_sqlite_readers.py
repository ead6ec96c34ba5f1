"""The SQLite reader threads: short reads one at a time and in order, a second reader only
beside a read that has run for `spill` seconds, cancelled reads skipped, errors passed on."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backends.sqlite import SQLiteStore
from backends.sqlite.readers import ReaderPool

LONG = 30.0  # a spill that never comes within a test


@pytest.fixture
def pool_of() -> Iterator[Callable[[float], ReaderPool]]:
    made: list[ReaderPool] = []

    def make(spill: float) -> ReaderPool:
        made.append(ReaderPool(2, spill, name="test-reader"))
        return made[-1]

    yield make
    for pool in made:
        pool.shutdown(wait=True)


def test_short_reads_run_one_at_a_time_in_the_order_they_came(
    pool_of: Callable[[float], ReaderPool],
) -> None:
    pool = pool_of(LONG)
    spans: list[tuple[int, float, float]] = []
    lock = threading.Lock()

    def read(n: int) -> int:
        started = time.monotonic()
        time.sleep(0.005)
        with lock:
            spans.append((n, started, time.monotonic()))
        return n

    futures = [pool.submit(read, n) for n in range(20)]
    assert [f.result(timeout=10) for f in futures] == list(range(20))
    spans.sort(key=lambda s: s[1])
    assert [n for n, _, _ in spans] == list(range(20))
    for (_, _, ended), (_, started, _) in itertools.pairwise(spans):
        assert started >= ended  # never two at once: each starts after the one before ended


def test_a_slow_read_lets_the_next_one_run_beside_it_after_the_spill(
    pool_of: Callable[[float], ReaderPool],
) -> None:
    pool = pool_of(0.2)
    release = threading.Event()
    slow_started = threading.Event()

    def slow() -> str:
        slow_started.set()
        assert release.wait(10)
        return "slow"

    slow_future = pool.submit(slow)
    assert slow_started.wait(5)
    began = time.monotonic()
    quick = pool.submit(time.monotonic)
    ran_at = quick.result(timeout=5)  # answered while the slow read still holds reader 0
    assert not slow_future.done()
    assert ran_at - began >= 0.2 - 0.05  # not before the slow read had run for the spill
    release.set()
    assert slow_future.result(timeout=5) == "slow"


def test_two_slow_reads_hold_both_readers_and_the_next_waits_for_one_of_them(
    pool_of: Callable[[float], ReaderPool],
) -> None:
    pool = pool_of(0.05)
    release = threading.Event()
    futures = [pool.submit(lambda: release.wait(10)) for _ in range(2)]
    third = pool.submit(lambda: "third")
    time.sleep(0.3)
    assert not third.done()  # two readers only, however long the reads run
    release.set()
    assert third.result(timeout=5) == "third"
    assert all(f.result(timeout=5) for f in futures)


def test_a_cancelled_read_does_not_run_and_an_error_reaches_its_caller(
    pool_of: Callable[[float], ReaderPool],
) -> None:
    pool = pool_of(LONG)
    release = threading.Event()
    ran: list[str] = []
    blocking = pool.submit(lambda: release.wait(10))
    doomed = pool.submit(lambda: ran.append("doomed"))
    assert doomed.cancel()
    failing = pool.submit(lambda: 1 / 0)
    release.set()
    with pytest.raises(ZeroDivisionError):
        failing.result(timeout=5)
    assert blocking.result(timeout=5) is True
    assert ran == []


def test_shutdown_finishes_the_queued_reads_then_refuses_new_ones(
    pool_of: Callable[[float], ReaderPool],
) -> None:
    pool = pool_of(LONG)
    futures = [pool.submit(time.sleep, 0.01) for _ in range(5)]
    pool.shutdown(wait=True)
    assert all(f.done() and f.exception() is None for f in futures)
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)


async def test_a_store_read_is_answered_beside_a_slow_one(tmp_path: Path) -> None:
    """Through the store: a read stuck in its thread does not hold up the next one for longer
    than the spill (the store's own setting)."""
    from backends.sqlite.db import SPILL_SECONDS

    store = SQLiteStore(tmp_path / "gateway.db")
    await store.open()
    release = threading.Event()
    try:
        slow = asyncio.ensure_future(store.read(lambda conn: release.wait(10)))
        await asyncio.sleep(0.01)
        began = time.monotonic()
        assert await asyncio.wait_for(
            store.read(lambda conn: conn.execute("SELECT 1").fetchone()[0]), 5
        ) == 1
        assert time.monotonic() - began < SPILL_SECONDS + 1.0
        assert not slow.done()
    finally:
        release.set()
        await slow
        await store.close()
