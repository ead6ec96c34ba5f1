"""The SQLite file's schema version: an older file is migrated when opened, a newer one refused;
and the matched read of an aggregate's open slices seeks the value's slices, not its history."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from backends.base import EventQuery, StoredEvent, StoreError, TimeSeriesLayout
from backends.sqlite import SQLiteStore
from backends.sqlite.schema import SCHEMA_VERSION

LAYOUT = TimeSeriesLayout(
    seconds_per_slice=3600, seconds_per_bucket=600, event_buckets=1, retention_seconds=86400 * 30
)
HOUR = 3600 * 1_000_000
COLUMNS = {"title_id": "keyword", "position_seconds": "numeric", "device": "keyword"}


def indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ts_items'")}


def version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])


def event(series: str, hour: int, title: str, position: int) -> StoredEvent:
    return StoredEvent(series, hour * HOUR + 1_000, f"e{hour}", {
        "title_id": title.encode(), "position_seconds": str(position).encode(),
        "device": b"tv", "note": b"not asked for",
    })


async def test_a_version_1_file_is_migrated_and_keeps_its_events(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    store = SQLiteStore(path)
    await store.open()
    await store.ts_write("ns", LAYOUT, [event("p1", 5, "t1", 60)])
    await store.close()
    with sqlite3.connect(path) as conn:  # as version 1 left it
        conn.execute("DROP TABLE ts_events")
        conn.execute("DROP INDEX ts_items_value_slice")
        conn.execute("CREATE INDEX ts_items_value ON ts_items (ns, item_key, value)")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")

    store = SQLiteStore(path)
    await store.open()
    try:
        rows = await store.ts_columns(
            "ns", LAYOUT, 0, 10 * HOUR, COLUMNS, ("title_id", ["t1"]))
    finally:
        await store.close()
    assert version(path) == SCHEMA_VERSION == 3
    assert "ts_items_value_slice" in indexes(path)
    assert "ts_items_value" not in indexes(path)
    assert rows == [("p1", 5 * HOUR + 1_000, "e5", "t1", 60.0, "tv")]


async def test_a_version_2_file_gets_its_event_rows_from_its_item_rows(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    store = SQLiteStore(path)
    await store.open()
    events = [event(f"p{p}", hour, f"t{hour}", p) for p in range(3) for hour in range(4)]
    odd = StoredEvent("p9", 3 * HOUR, "e\u00e9", {"raw": bytes(range(256)), "empty": b""})
    await store.ts_write("ns", LAYOUT, [*events, odd])
    await store.close()
    with sqlite3.connect(path) as conn:  # as version 2 left it
        conn.execute("DROP TABLE ts_events")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")

    store = SQLiteStore(path)
    await store.open()
    try:
        found = await store.ts_read_many(
            "ns", LAYOUT, ["p0", "p1", "p2", "p9"], EventQuery(0, 10 * HOUR, 10))
        newest = await store.ts_read("ns", LAYOUT, "p1", EventQuery(0, 10 * HOUR, 2))
    finally:
        await store.close()
    assert version(path) == SCHEMA_VERSION
    assert found == {
        **{f"p{p}": [e for e in reversed(events) if e.series_id == f"p{p}"] for p in range(3)},
        "p9": [odd],
    }
    assert newest == [event("p1", 3, "t3", 1), event("p1", 2, "t2", 1)]


async def test_a_file_of_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    store = SQLiteStore(path)
    await store.open()
    await store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                     (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match="newer than this code"):
        await SQLiteStore(path).open()


async def test_matched_columns_read_only_the_interval_and_the_asked_keys(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "gateway.db")
    await store.open()
    try:
        await store.ts_write("ns", LAYOUT, [
            event(f"p{p}", hour, f"t{(p + hour) % 3}", 10 * p + hour)
            for p in range(4) for hour in range(8)
        ])
        statements: list[str] = []
        connect = store._connect

        def traced() -> sqlite3.Connection:
            conn = connect()
            conn.set_trace_callback(statements.append)
            return conn

        store._connect = traced  # type: ignore[method-assign]
        since, until = 2 * HOUR + 500, 6 * HOUR + 1_000  # inside slices at both ends
        asked = {"position_seconds": "numeric"}
        rows = await store.ts_columns("ns", LAYOUT, since, until, asked, ("title_id", ["t1"]))
        expected = sorted(
            (f"p{p}", hour * HOUR + 1_000, f"e{hour}", float(10 * p + hour))
            for p in range(4) for hour in range(8)
            if (p + hour) % 3 == 1 and since <= hour * HOUR + 1_000 < until
        )
        assert sorted(rows) == expected
        both = await store.ts_columns("ns", LAYOUT, since, until, COLUMNS,
                                      ("title_id", ["t0", "t2"]))
        assert sorted(both) == sorted(
            (f"p{p}", hour * HOUR + 1_000, f"e{hour}", f"t{(p + hour) % 3}",
             float(10 * p + hour), "tv")
            for p in range(4) for hour in range(8)
            if (p + hour) % 3 != 1 and since <= hour * HOUR + 1_000 < until
        )
        [sql, _] = [s for s in statements if "ts_items_value_slice" in s]
        plan = " ".join(str(r[3]) for r in connect().execute("EXPLAIN QUERY PLAN " + sql))
        assert "ts_items_value_slice (ns=? AND item_key=? AND value=? AND slice>? AND slice<?)" \
            in plan, plan
    finally:
        await store.close()
