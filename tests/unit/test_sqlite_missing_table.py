"""SQLite makes every table at open: one gone later ("no such table") is an error, never empty."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from backends.base import EventQuery, KVQuery, StoreError, TimeSeriesLayout
from backends.sqlite import SQLiteStore

LAYOUT = TimeSeriesLayout(
    seconds_per_slice=3600, seconds_per_bucket=600, event_buckets=1, retention_seconds=86400
)

READS = {
    "kv_items": lambda s: s.kv_get("ns", "a", KVQuery()),
    "counter_fast": lambda s: s.counter_values("ns", ["c"]),
    "counter_rollups": lambda s: s.counter_rollups("ns", ["c"]),
    "counter_log": lambda s: s.counter_fold("ns", {"c": (0, 10)}),
    "ts_events": lambda s: s.ts_read("ns", LAYOUT, "s", EventQuery(0, 10, 5)),
    "ts_items": lambda s: s.ts_read("ns", LAYOUT, "s", EventQuery(0, 10, 5, None, {"k": b"v"})),
}


@pytest.mark.parametrize("table", sorted(READS))
async def test_a_read_of_a_table_gone_from_the_file_is_a_store_error(
    tmp_path: Path, table: str
) -> None:
    store = SQLiteStore(tmp_path / "gateway.db")
    await store.open()
    try:
        with sqlite3.connect(tmp_path / "gateway.db") as conn:
            conn.execute(f"DROP TABLE {table}")
        with pytest.raises(StoreError, match="no such table"):
            await READS[table](store)
    finally:
        await store.close()
