"""TimeSeries on Cassandra: the bucket index makes a read skip the partitions never written,
and a slice whose index cannot be believed is read whole, never wrongly."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from backends.base import EventCursor, EventQuery, StoredEvent, TimeSeriesLayout
from backends.cassandra import CassandraStore
from backends.cassandra.bucket_index import index_table
from backends.cassandra.timeseries import event_bucket, time_bucket

from .conftest import OpenStore, needs_cassandra
from .helpers import SEC, cql

pytestmark = [pytest.mark.cassandra, needs_cassandra]

# Hour slices of minute buckets kept a day: a day's read has 24 x 60 x 4 = 5,760 partitions.
LAYOUT = TimeSeriesLayout(
    seconds_per_slice=3600, seconds_per_bucket=60, event_buckets=4, retention_seconds=86400
)


def now_micros() -> int:
    return time.time_ns() // 1000


def a_day(now: int) -> EventQuery:
    return EventQuery(now - 86400 * SEC, now + 60 * SEC, 50)


def sparse_events(now: int) -> list[StoredEvent]:
    """Three events of one series, hours apart, newest first."""
    return [
        StoredEvent("s", now - (2 + 5 * i) * 3600 * SEC + i, f"e{i}", {"k": str(i).encode()})
        for i in range(3)
    ]


def count_partition_reads(store: CassandraStore, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every partition the store reads from now on, as (slice, bucket, event bucket): those
    read alone, and those a statement names with `IN` (every pair of its two lists)."""
    seen: list[Any] = []
    one, many = store._partition, store._partitions

    async def counting_one(namespace: str, layout: TimeSeriesLayout, slice_start: int,
                           series_id: str, tb: int, eb: int, *rest: Any) -> list[StoredEvent]:
        seen.append((slice_start, tb, eb))
        return await one(namespace, layout, slice_start, series_id, tb, eb, *rest)

    async def counting_many(namespace: str, layout: TimeSeriesLayout, slice_start: int,
                            series_id: str, buckets: list[Any], *rest: Any) -> list[StoredEvent]:
        ebs = {eb for _, these in buckets for eb in these}
        seen.extend((slice_start, tb, eb) for tb, _ in buckets for eb in ebs)
        return await many(namespace, layout, slice_start, series_id, buckets, *rest)

    monkeypatch.setattr(store, "_partition", counting_one)
    monkeypatch.setattr(store, "_partitions", counting_many)
    return seen


async def test_a_sparse_series_reads_only_the_partitions_it_wrote(
    store: CassandraStore, ns_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = now_micros()
    events = sparse_events(now)
    await store.ts_write(ns_name, LAYOUT, events)
    await store.ts_write(ns_name, LAYOUT, [StoredEvent("other", now, "x", {"k": b"x"})])
    seen = count_partition_reads(store, monkeypatch)

    assert await store.ts_read(ns_name, LAYOUT, "s", a_day(now)) == events
    written = {
        (LAYOUT.slice_of(e.event_time), time_bucket(LAYOUT, e.event_time),
         event_bucket(LAYOUT, e.event_id))
        for e in events
    }
    assert sorted(seen) == sorted(written)  # not the 5,760 of the day


async def test_another_process_reads_what_one_wrote_through_the_index(
    open_store: OpenStore, ns_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer, reader = await open_store(), await open_store()
    now = now_micros()
    events = sparse_events(now)
    await writer.ts_write(ns_name, LAYOUT, events)
    seen = count_partition_reads(reader, monkeypatch)
    found = await reader.ts_read_many(ns_name, LAYOUT, ["s", "nobody"], a_day(now))
    assert found == {"s": events, "nobody": []}
    assert len(seen) == len(events)


async def test_a_slice_made_before_the_index_is_read_whole(
    open_store: OpenStore, ns_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No mark (a slice made by code before the index), or a mark past its keep_until
    (retention raised since): every partition is read, and every event found."""
    writer = await open_store()
    now = now_micros()
    events = sparse_events(now)
    await writer.ts_write(ns_name, LAYOUT, events)
    unmarked, expired = LAYOUT.slice_of(events[0].event_time), LAYOUT.slice_of(events[1].event_time)
    await cql(writer, f"TRUNCATE {writer.ks}.{index_table(ns_name)}")
    await cql(writer, f"DELETE FROM {writer.ks}.ts_indexed WHERE namespace = %s AND slice = %s",
              [ns_name, unmarked])
    await cql(writer, f"UPDATE {writer.ks}.ts_indexed SET keep_until = %s"
                      " WHERE namespace = %s AND slice = %s",
              [int(time.time()) - 1, ns_name, expired])

    reader = await open_store()  # a process that never saw the marks
    seen = count_partition_reads(reader, monkeypatch)
    assert await reader.ts_read(ns_name, LAYOUT, "s", a_day(now)) == events[:2]
    per_slice = 60 * LAYOUT.event_buckets
    assert {s for s, _, _ in seen} == {unmarked, expired}
    # both slices whole; the third is believed (its index emptied above, so its event is not seen)
    assert len(seen) == 2 * per_slice


@pytest.mark.parametrize("failing", ["ts_write index", "ts_write"])
async def test_a_write_that_fails_half_way_shows_nothing(
    store: CassandraStore, ns_name: str, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """The index is written before the events: failing either leaves no event readable."""
    now = now_micros()
    real: Callable[..., Awaitable[None]] = store.write_rows

    async def write_rows(prepared: Any, rows: Any, size: int, what: str) -> None:
        if what == failing:
            raise RuntimeError("injected")
        await real(prepared, rows, size, what)

    monkeypatch.setattr(store, "write_rows", write_rows)
    with pytest.raises(RuntimeError):
        await store.ts_write(ns_name, LAYOUT, sparse_events(now))
    monkeypatch.undo()
    assert await store.ts_read(ns_name, LAYOUT, "s", a_day(now)) == []
    retried = sparse_events(now)
    await store.ts_write(ns_name, LAYOUT, retried)
    assert await store.ts_read(ns_name, LAYOUT, "s", a_day(now)) == retried


async def test_reads_of_many_partitions_at_once_match_a_brute_force_answer(
    store: CassandraStore, ns_name: str
) -> None:
    """Events of 1 to 9 items (the per-partition row limit assumes 4 an event), all of event
    bucket 0, in three buckets of one slice: one statement reads the three partitions, those
    cut at the row limit are read again on their own; every page right, its items whole."""
    rng = random.Random(7)
    now = now_micros()
    first_bucket = (LAYOUT.slice_of(now) - 2 * 3600 + 600) * SEC
    ids = (f"e{n:04d}" for n in itertools.count())
    events = []
    for i in range(90):
        event_id = next(x for x in ids if event_bucket(LAYOUT, x) == 0)
        at = first_bucket + rng.randrange(0, 180_000_000)
        items = {f"k{j}": f"{i}-{j}".encode() for j in range(rng.randint(1, 9))}
        events.append(StoredEvent("s", at, event_id, items))
    await store.ts_write(ns_name, LAYOUT, events)
    expected = sorted(events, key=lambda e: (e.event_time, e.event_id), reverse=True)
    interval = (now - 4 * 3600 * SEC, now + SEC)
    for limit in (1, 3, 7, 16, 40, 91):
        assert await store.ts_read(ns_name, LAYOUT, "s", EventQuery(*interval, limit)) == (
            expected[:limit]
        ), limit
    # page by page, resuming after the last event of each
    got: list[StoredEvent] = []
    before = None
    while True:
        page = await store.ts_read(ns_name, LAYOUT, "s", EventQuery(*interval, 9, before))
        got.extend(page)
        if len(page) < 9:
            break
        before = EventCursor(page[-1].event_time, page[-1].event_id)
    assert got == expected
