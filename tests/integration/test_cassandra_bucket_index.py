"""TimeSeries on Cassandra: the bucket index makes a read skip the partitions never written,
and a slice whose index cannot be believed is read whole, never wrongly."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from backends.base import EventQuery, StoredEvent, TimeSeriesLayout
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
    """Every partition the store reads from now on, as (slice, bucket, event bucket)."""
    seen: list[Any] = []
    real = store._partition

    async def counting(namespace: str, layout: TimeSeriesLayout, slice_start: int,
                       series_id: str, tb: int, eb: int, *rest: Any) -> list[StoredEvent]:
        seen.append((slice_start, tb, eb))
        return await real(namespace, layout, slice_start, series_id, tb, eb, *rest)

    monkeypatch.setattr(store, "_partition", counting)
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
