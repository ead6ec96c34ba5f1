"""A TimeSeries read on SQLite is one statement on one reader thread, whatever its size."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from backends.base import Condition, EventQuery, StoredEvent, TimeSeriesLayout
from backends.sqlite import SQLiteStore

LAYOUT = TimeSeriesLayout(
    seconds_per_slice=3600, seconds_per_bucket=600, event_buckets=1, retention_seconds=86400
)
SERIES = [f"s{n:03d}" for n in range(120)]


def events() -> list[StoredEvent]:
    """Four events a series, of one to four items, some with equal times (ids break ties)."""
    made = []
    for n, series in enumerate(SERIES):
        for k in range(4):
            items = {f"k{i}": f"{series}/{k}/{i}".encode() for i in range(k + 1)}
            made.append(StoredEvent(series, 1_000 + (k // 2) * 10 + n, f"e{k}", items))
    return made


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    store = SQLiteStore(tmp_path / "gateway.db")
    await store.open()
    await store.ts_write("ns", LAYOUT, events())
    yield store
    await store.close()


@pytest.fixture
def statements(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements of the reads (and hops to a thread: `_run`) from now on."""
    seen: list[str] = []
    connect, run = store._connect, store._run

    def traced() -> sqlite3.Connection:
        conn = connect()
        conn.set_trace_callback(seen.append)
        return conn

    async def counted(pool: Any, fn: Any) -> Any:
        seen.append("<hop>")
        return await run(pool, fn)

    monkeypatch.setattr(store, "_connect", traced)
    monkeypatch.setattr(store, "_run", counted)
    return seen


def newest(series: str, limit: int) -> list[StoredEvent]:
    mine = [e for e in events() if e.series_id == series]
    return sorted(mine, key=lambda e: (e.event_time, e.event_id), reverse=True)[:limit]


async def test_a_batch_of_series_is_read_in_one_statement(
    store: SQLiteStore, statements: list[str]
) -> None:
    found = await store.ts_read_many("ns", LAYOUT, [*SERIES, "none"], EventQuery(0, 10**6, 3))
    assert statements[0] == "<hop>" and len(statements) == 2
    assert found == {**{s: newest(s, 3) for s in SERIES}, "none": []}


async def test_reads_of_one_series_and_searches_are_one_statement_each(
    store: SQLiteStore, statements: list[str]
) -> None:
    assert await store.ts_read("ns", LAYOUT, "s007", EventQuery(0, 10**6, 10)) == newest(
        "s007", 10)
    found = await store.search("ns", LAYOUT, {}, [Condition("k2", "eq", "s001/2/2")],
                               EventQuery(0, 10**6, 10))
    assert [(e.series_id, e.event_id, len(e.items)) for e in found] == [("s001", "e2", 3)]
    assert statements.count("<hop>") == 2 and len(statements) == 4


async def test_a_scan_reads_every_event_once_in_key_order(store: SQLiteStore) -> None:
    scanned = [e async for batch in store.ts_scan("ns", LAYOUT, 0, 10**6, batch=7)
               for e in batch]
    expected = sorted(events(), key=lambda e: (e.series_id, e.event_time, e.event_id))
    assert scanned == expected
