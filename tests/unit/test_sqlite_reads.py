"""TimeSeries reads on SQLite: one hop to a reader thread per read or batch; a history is read
newest first and no further than the page needs; filtered reads are one statement."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from backends.base import Condition, EventCursor, EventQuery, StoredEvent, TimeSeriesLayout
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


async def test_a_batch_of_series_is_one_hop_and_one_snapshot(
    store: SQLiteStore, statements: list[str]
) -> None:
    found = await store.ts_read_many("ns", LAYOUT, [*SERIES, "none"], EventQuery(0, 10**6, 3))
    assert found == {**{s: newest(s, 3) for s in SERIES}, "none": []}
    assert statements.count("<hop>") == 1
    assert statements[1] == "BEGIN" and statements[-1] == "COMMIT"
    assert len(statements) == len(SERIES) + 4  # the hop, BEGIN, one a series, COMMIT


async def test_a_filtered_batch_is_one_statement(
    store: SQLiteStore, statements: list[str]
) -> None:
    query = EventQuery(0, 10**6, 3, equals={"k1": b"s005/3/1"})
    found = await store.ts_read_many("ns", LAYOUT, ["s005", "s006"], query)
    assert {s: [e.event_id for e in events] for s, events in found.items()} == {
        "s005": ["e3"], "s006": []}
    assert statements[0] == "<hop>" and len(statements) == 2


async def test_reads_of_one_series_and_searches_are_one_statement_each(
    store: SQLiteStore, statements: list[str]
) -> None:
    assert await store.ts_read("ns", LAYOUT, "s007", EventQuery(0, 10**6, 10)) == newest(
        "s007", 10)
    found = await store.search("ns", LAYOUT, {}, [Condition("k2", "eq", "s001/2/2")],
                               EventQuery(0, 10**6, 10))
    assert [(e.series_id, e.event_id, len(e.items)) for e in found] == [("s001", "e2", 3)]
    assert statements.count("<hop>") == 2 and len(statements) == 4


async def test_a_page_reads_no_further_back_than_it_needs(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows of a long history past the page are never read, before or after a cursor: the
    work (SQLite's virtual machine steps) of a page is a small part of a whole read's."""
    await store.ts_write("ns", LAYOUT, [
        StoredEvent("long", t, "e", {"k": b"v"}) for t in range(1, 2001)
    ])
    steps = 0
    connect = store._connect

    def counting() -> sqlite3.Connection:
        conn = connect()

        def step() -> int:
            nonlocal steps
            steps += 1
            return 0

        conn.set_progress_handler(step, 1)
        return conn

    monkeypatch.setattr(store, "_connect", counting)

    async def work(query: EventQuery) -> tuple[list[int], int]:
        nonlocal steps
        steps = 0
        found = await store.ts_read("ns", LAYOUT, "long", query)
        return [e.event_time for e in found], steps

    everything, whole = await work(EventQuery(0, 10**6, 2000))
    assert len(everything) == 2000
    top, near_the_top = await work(EventQuery(0, 10**6, 5))
    assert top == [2000, 1999, 1998, 1997, 1996]
    deep, after_a_cursor = await work(EventQuery(0, 10**6, 5, EventCursor(11, "e", "")))
    assert deep == [10, 9, 8, 7, 6]
    assert near_the_top * 50 < whole and after_a_cursor * 50 < whole
