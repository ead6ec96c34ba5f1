"""An event's items as one value: what a `ts_events` row holds.

A page of the newest events is read from `ts_events`, one row per event, instead of one row per
item from `ts_items` (which stays, for the filters and search): Python's `sqlite3` makes a
tuple and an object per column for every row, so four items an event cost four rows' worth.

The value is the items as JSON, each value's bytes written as the characters U+0000-U+00FF
(Latin-1), which orjson writes and reads in C and which gives back every byte string exactly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

import orjson

MERGE_FUNCTION = "ts_merge_items"


def pack(items: Mapping[str, bytes]) -> bytes:
    return orjson.dumps({key: value.decode("latin-1") for key, value in items.items()})


def unpack(packed: bytes) -> dict[str, bytes]:
    items = orjson.loads(packed)
    for key, value in items.items():  # in place: a fifth faster than a comprehension
        items[key] = value.encode("latin-1")
    return items


def merge(old: bytes, new: bytes) -> bytes:
    """An event written again: its items are the union, the newer value of a key winning (as
    `INSERT OR REPLACE` of its item rows leaves them, and as Cassandra does)."""
    return orjson.dumps({**orjson.loads(old), **orjson.loads(new)})


def register(conn: sqlite3.Connection) -> None:
    conn.create_function(MERGE_FUNCTION, 2, merge, deterministic=True)


def backfill(conn: sqlite3.Connection) -> None:
    """Fill `ts_events` from `ts_items` (a file from before `ts_events`, schema version 3)."""
    rows = conn.execute(
        "SELECT ns, series, event_time, event_id, item_key, value, slice FROM ts_items"
        " ORDER BY ns, series, event_time, event_id"
    )
    batch: list[tuple[str, str, int, str, bytes, int]] = []
    key: tuple[str, str, int, str] | None = None
    items: dict[str, bytes] = {}
    slice_ = 0

    def flush() -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO ts_events (ns, series, event_time, event_id, items, slice)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            batch,
        )
        batch.clear()

    # Inserting into another table while this cursor reads is safe.
    for ns, series, event_time, event_id, item_key, value, slice_of in rows:
        if (ns, series, event_time, event_id) != key:
            if key is not None:
                batch.append((*key, pack(items), slice_))
                if len(batch) >= 10_000:
                    flush()
            key, items, slice_ = (ns, series, event_time, event_id), {}, slice_of
        items[item_key] = bytes(value)
    if key is not None:
        batch.append((*key, pack(items), slice_))
    flush()
