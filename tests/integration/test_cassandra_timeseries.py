"""TimeSeries on Cassandra: slice tables, bucket fan-out, reads across driver pages."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest

from abstractions.gateway import DataGateway
from backends.base import EventCursor, EventQuery, StoredEvent, TimeSeriesLayout
from backends.cassandra import CassandraStore
from backends.cassandra.schema import slice_table
from backends.cassandra.timeseries import event_bucket, time_bucket

from .conftest import OpenStore, needs_cassandra
from .helpers import SEC, cql, tables

pytestmark = [pytest.mark.cassandra, needs_cassandra]

MINUTE_SLICES = TimeSeriesLayout(
    seconds_per_slice=60, seconds_per_bucket=10, event_buckets=4, retention_seconds=120
)
HOUR_SLICES = TimeSeriesLayout(
    seconds_per_slice=3600, seconds_per_bucket=60, event_buckets=4, retention_seconds=86400
)


def now_micros() -> int:
    return time.time_ns() // 1000


def newest_first(events: list[StoredEvent]) -> list[StoredEvent]:
    return sorted(events, key=lambda e: (e.event_time, e.event_id), reverse=True)


async def test_slices_are_tables_made_ahead_listed_and_dropped_whole(
    store: CassandraStore, ns_name: str
) -> None:
    layout = MINUTE_SLICES
    now = now_micros()
    now_slice = layout.slice_of(now)
    old_slice = now_slice - 3 * 60
    recent = StoredEvent("s", now, "recent", {"k": b"1"})
    old = StoredEvent("s", old_slice * SEC + 5 * SEC, "old", {"k": b"2"})
    await store.ts_write(ns_name, layout, [recent, old])
    await store.wait_background()  # the slice of now and the next one, made ahead

    expected = {old_slice, now_slice, now_slice + 60}
    assert expected <= set(await store.ts_slices(ns_name))
    assert {slice_table(ns_name, s) for s in expected} <= await tables(store, f"ts_{ns_name}_")
    everything = EventQuery(0, now + 3600 * SEC, 10)
    assert await store.ts_read(ns_name, layout, "s", everything) == [recent, old]

    dropped = await store.ts_drop_slices_before(ns_name, layout, now_slice)
    assert old_slice in dropped and now_slice not in dropped
    assert slice_table(ns_name, old_slice) not in await tables(store, f"ts_{ns_name}_")
    assert slice_table(ns_name, now_slice) in await tables(store, f"ts_{ns_name}_")
    assert old_slice not in await store.ts_slices(ns_name)
    assert await store.ts_read(ns_name, layout, "s", everything) == [recent]
    assert old_slice not in await store.ts_drop_slices_before(ns_name, layout, now_slice)


async def test_a_slice_dropped_by_another_process_reads_empty_and_is_made_again(
    store: CassandraStore, ns_name: str
) -> None:
    """Another process's retention may drop a table between listing and reading it."""
    layout = MINUTE_SLICES
    now = now_micros()
    old_slice = layout.slice_of(now) - 120
    event = StoredEvent("s", old_slice * SEC, "e", {"k": b"v"})
    await store.ts_write(ns_name, layout, [event])
    other = CassandraStore(store.config)
    await other.open()
    try:
        await other.schema.drop([slice_table(ns_name, old_slice)])
    finally:
        await other.close()
    assert old_slice in await store.ts_slices(ns_name)
    assert await store.ts_read(ns_name, layout, "s", EventQuery(0, now, 10)) == []
    # This process still believes in the table: a write finds out, makes it again, and lands.
    await store.ts_write(ns_name, layout, [event])
    assert await store.ts_read(ns_name, layout, "s", EventQuery(0, now, 10)) == [event]


async def test_events_spread_over_buckets_come_back_newest_first(
    store: CassandraStore, ns_name: str
) -> None:
    layout = HOUR_SLICES
    start = now_micros() - 40 * 60 * SEC
    events = [
        StoredEvent("s", start + i * 15 * SEC, f"e{i:03d}", {"i": str(i).encode(),
                                                           "parity": b"odd" if i % 2 else b"even"})
        for i in range(120)
    ]
    # Ties on event time, told apart by event id (descending), across event buckets.
    events += [StoredEvent("s", start + 7 * SEC, f"tie{i}", {"i": b"t"}) for i in range(6)]
    await store.ts_write(ns_name, layout, list(reversed(events)))
    assert len({event_bucket(layout, e.event_id) for e in events}) == layout.event_buckets
    assert len({time_bucket(layout, e.event_time) for e in events}) >= 25
    expected = newest_first(events)
    window = EventQuery(start - SEC, now_micros() + SEC, 1000)

    assert await store.ts_read(ns_name, layout, "s", window) == expected

    # Paging with a cursor walks the same order, a few events at a time, none twice.
    seen: list[StoredEvent] = []
    cursor: EventCursor | None = None
    while True:
        page = await store.ts_read(
            ns_name, layout, "s",
            EventQuery(window.start, window.end, 7, cursor),
        )
        seen += page
        if len(page) < 7:
            break
        cursor = EventCursor(page[-1].event_time, page[-1].event_id)
    assert seen == expected

    evens = EventQuery(window.start, window.end, 1000, equals={"parity": b"even"})
    assert await store.ts_read(ns_name, layout, "s", evens) == [
        e for e in expected if e.items.get("parity") == b"even"
    ]
    interval = EventQuery(start + 300 * SEC, start + 600 * SEC, 1000)
    assert await store.ts_read(ns_name, layout, "s", interval) == [
        e for e in expected if interval.start <= e.event_time < interval.end
    ]


async def test_read_many_fans_out_per_series(store: CassandraStore, ns_name: str) -> None:
    layout = HOUR_SLICES
    now = now_micros()
    events = [StoredEvent(f"s{i % 3}", now - i * 61 * SEC, f"e{i}", {"n": b"x"}) for i in range(30)]
    await store.ts_write(ns_name, layout, events)
    query = EventQuery(now - 3600 * SEC, now + SEC, 4)
    found = await store.ts_read_many(ns_name, layout, ["s0", "s1", "s2", "none"], query)
    for series in ("s0", "s1", "s2"):
        assert found[series] == newest_first([e for e in events if e.series_id == series])[:4]
    assert found["none"] == []


async def test_page_tokens_across_driver_pages(
    small_pages_gateway: Callable[[int], Awaitable[DataGateway]], uid: str
) -> None:
    """A series far larger than the driver's page: every event once, in order, by token."""
    gateway = await small_pages_gateway(3)
    now = now_micros()
    events = [
        StoredEvent(uid, now - i * 97 * SEC, f"e{i:03d}", {"a": str(i).encode(), "b": b"x"})
        for i in range(45)
    ]
    await gateway.timeseries.write_events("viewing_history", events)
    pages = [await gateway.timeseries.read_events("viewing_history", uid, limit=8)]
    while pages[-1].next_page_token is not None:
        pages.append(await gateway.timeseries.read_events(
            "viewing_history", uid, limit=8, page_token=pages[-1].next_page_token
        ))
    assert [len(p.events) for p in pages] == [8, 8, 8, 8, 8, 5]
    assert [e for p in pages for e in p.events] == newest_first(events)


async def test_written_rows_use_the_partition_layout(
    open_store: OpenStore, ns_name: str
) -> None:
    store = await open_store()
    layout = HOUR_SLICES
    at = now_micros()
    await store.ts_write(ns_name, layout, [StoredEvent("s", at, "eid", {"a": b"1", "b": b"2"})])
    rows = await cql(
        store,
        f"SELECT time_series_id, time_bucket, event_bucket, event_time, event_id, item_key, value"
        f" FROM {store.config.keyspace}.{slice_table(ns_name, layout.slice_of(at))}",
    )
    bucket, eb = time_bucket(layout, at), event_bucket(layout, "eid")
    assert sorted(rows) == [("s", bucket, eb, at, "eid", "a", b"1"),
                            ("s", bucket, eb, at, "eid", "b", b"2")]
