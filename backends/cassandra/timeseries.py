"""TimeSeries on Cassandra: a table per time slice, partitions (series, time bucket, event bucket).

Layout (after Netflix's TimeSeries abstraction): a slice table `ts_<ns>_<slice start>` holds the
events of `[start, start + seconds_per_slice)`; its partition key is
`(time_series_id, time_bucket, event_bucket)` where `time_bucket` is the start (seconds) of the
event's bucket and `event_bucket = crc32(event_id) % event_buckets` spreads a busy series'
bucket over several partitions; rows are clustered `(event_time DESC, event_id DESC, item_key)`,
one row per item, so a retried write overwrites itself.  `ts_slices` lists the slices whose
table exists; retention drops whole tables (no tombstones) and unlists them.

Tables are made ahead of time: a write makes sure the slice of now and the next one exist (in
the background), and creates on demand an older slice it writes into (within the accept window).

A read asks the series' bucket index (bucket_index.py: which partitions were written) while the
slice list is read, then walks those partitions newest first (every partition of a slice made
before the index existed).  It reads a group of buckets at once, their partitions in parallel,
merges the group newest first, and stops as soon as the limit is met; the group doubles each
round so a sparse series needs few rounds, or grows to as many buckets as the events per bucket
seen so far say the rest of the page needs.  Each partition is read page by page only until it
has given enough complete, matching events.

What reads as empty is what the slice list says: a slice `ts_slices` does not list has no
events.  A listed slice whose table every host denies ("does not exist": the session asked them
all) is empty only if retention may have dropped it (it drops the table, then unlists it): its
end is at or before now - retention, give or take RETENTION_SKEW_SECONDS for another process's
clock.  Any other listed slice that no host can read is a schema that lags, and the read fails
(`MissingTable`, UNAVAILABLE), never an empty page.
"""

from __future__ import annotations

import asyncio
import functools
import math
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, pairwise

from backends.base import EventQuery, StoredEvent, TimeSeriesLayout, stored_event_fast
from backends.clock import now_micros

from .bucket_index import BucketIndex, group_partitions
from .errors import MissingTable
from .schema import slice_table
from .store import CassandraBase

MAX_GROUP_BUCKETS = 32
MAX_IN_PARTITIONS = 64  # partitions one read statement names (IN on the partition key)
# A slice scan (`ts_scan`: reindex, analytics export) splits the Murmur3 token ring in this many
# ranges and reads this many at once.
SCAN_RANGES = 64
SCAN_CONCURRENCY = 4
MIN_TOKEN = -(2**63)
MAX_TOKEN = 2**63 - 1
ROWS_PER_EVENT_GUESS = 4
RETENTION_SKEW_SECONDS = 300  # how far another process's retention clock may run ahead


def time_bucket(layout: TimeSeriesLayout, micros: int) -> int:
    """Start (seconds) of the time bucket holding `micros`."""
    seconds = micros // 1_000_000
    return seconds - seconds % layout.seconds_per_bucket


def event_bucket(layout: TimeSeriesLayout, event_id: str) -> int:
    """A stable spread of event ids over the event buckets (not Python's salted hash)."""
    return zlib.crc32(event_id.encode()) % layout.event_buckets


@dataclass(slots=True)
class _Building:
    """The event whose item rows are being read."""

    event_time: int
    event_id: str
    items: dict[str, bytes] = field(default_factory=dict)


class CassandraTimeSeries(CassandraBase):
    """The `TimeSeriesStore` part of the Cassandra store (search is the search cluster's job)."""

    @functools.cached_property
    def bucket_index(self) -> BucketIndex:
        return BucketIndex(self)

    # --- writes -----------------------------------------------------------------------------

    async def ts_write(
        self, namespace: str, layout: TimeSeriesLayout, events: Sequence[StoredEvent]
    ) -> None:
        if not events:
            return
        try:
            await self._write(namespace, layout, events)
        except MissingTable:
            # Another process dropped a slice this one still believed in: make it again, once.
            self.schema.forget(slice_table(namespace, layout.slice_of(e.event_time))
                               for e in events)
            await self._write(namespace, layout, events)

    async def _write(
        self, namespace: str, layout: TimeSeriesLayout, events: Sequence[StoredEvent]
    ) -> None:
        index = self.bucket_index
        tables = {
            s: await index.ensure_slice(namespace, layout, s)
            for s in sorted({layout.slice_of(e.event_time) for e in events})
        }
        self.make_slices_ahead(namespace, layout)
        partitions: dict[tuple[int, str, int, int], list[tuple[object, ...]]] = {}
        for e in events:
            tb, eb = time_bucket(layout, e.event_time), event_bucket(layout, e.event_id)
            rows = partitions.setdefault((layout.slice_of(e.event_time), e.series_id, tb, eb), [])
            rows.extend(
                (e.series_id, tb, eb, e.event_time, e.event_id, key, value)
                for key, value in e.items.items()
            )
        db = self.db
        async with db.call("ts_write"):
            # the index first: an index row without its events costs a read, never an answer
            await index.write(namespace, layout, ((k[1], (k[0], k[2], k[3])) for k in partitions))
            inserts = {
                s: await db.prepare(
                    f"INSERT INTO {self.ks}.{t} (time_series_id, time_bucket, event_bucket,"
                    " event_time, event_id, item_key, value) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    write=True,
                )
                for s, t in tables.items()
            }
            await self.each(
                self.write_rows(inserts[key[0]], rows, 6, "ts_write")
                for key, rows in partitions.items()
            )

    def make_slices_ahead(self, namespace: str, layout: TimeSeriesLayout) -> None:
        """In the background, create the slice of now and the next one if they are missing."""
        pending = self._ahead_pending
        now_slice = layout.slice_of(now_micros())
        for start in (now_slice, now_slice + layout.seconds_per_slice):
            name = slice_table(namespace, start)
            if self.schema.is_listed(name) or name in pending:
                continue
            pending.add(name)
            self.in_background(self._make_slice(namespace, layout, start, name))

    async def _make_slice(
        self, namespace: str, layout: TimeSeriesLayout, start: int, name: str
    ) -> None:
        try:
            await self.bucket_index.ensure_slice(namespace, layout, start)
        finally:
            self._ahead_pending.discard(name)

    # --- reads ------------------------------------------------------------------------------

    async def ts_read(
        self, namespace: str, layout: TimeSeriesLayout, series_id: str, query: EventQuery
    ) -> list[StoredEvent]:
        return (await self.ts_read_many(namespace, layout, [series_id], query))[series_id]

    async def ts_read_many(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        series_ids: Sequence[str],
        query: EventQuery,
    ) -> dict[str, list[StoredEvent]]:
        if not series_ids:
            return {}
        low, high = _bounds(query)
        if query.limit <= 0 or high < low:
            return {s: [] for s in series_ids}
        index = self.bucket_index
        first, last = layout.slice_of(low), layout.slice_of(high)
        async with self.db.call("ts_read_many"):
            # the slice list and each series' index at once: one round trip before the data
            listed, indexed = await asyncio.gather(
                self._listed(namespace), index.read_many(namespace, series_ids, first, last)
            )
            slices = {s for s, _ in listed}
            believed = await index.believed(namespace, (s for s in slices if first <= s <= last))
            found = await self.each(
                self._read(namespace, layout, s, query,
                           _buckets(layout, slices, believed, parts, low, high))
                for s, parts in zip(series_ids, indexed, strict=True)
            )
        return dict(zip(series_ids, found, strict=True))

    async def _read(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        series_id: str,
        query: EventQuery,
        buckets: list[tuple[int, int, tuple[int, ...]]],
    ) -> list[StoredEvent]:
        found: list[StoredEvent] = []
        # a quarter of the page's buckets first: the index names buckets that hold events
        width, i = min(max(1, query.limit // 4), MAX_GROUP_BUCKETS), 0
        while i < len(buckets) and len(found) < query.limit:
            group, i = buckets[i:i + width], i + width
            need = query.limit - len(found)
            parts = await self._read_group(namespace, layout, series_id, group, query, need)
            merged = sorted(chain.from_iterable(parts),
                            key=lambda e: (e.event_time, e.event_id), reverse=True)
            found.extend(merged[:need])
            width = _next_width(width, i, len(found), query.limit)
        return found

    async def _read_group(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        series_id: str,
        group: list[tuple[int, int, tuple[int, ...]]],
        query: EventQuery,
        need: int,
    ) -> list[list[StoredEvent]]:
        """The partitions of the group's time buckets: per slice, one statement for many."""
        low, high = _bounds(query)
        by_slice: dict[int, list[tuple[int, tuple[int, ...]]]] = {}
        for slice_start, tb, ebs in group:
            by_slice.setdefault(slice_start, []).append((tb, ebs))
        works = []
        for slice_start, buckets in by_slice.items():
            for chunk in _in_chunks(buckets):
                if len(chunk) == 1 and len(chunk[0][1]) == 1:
                    (tb, (eb,)), = chunk
                    works.append(self._partition(namespace, layout, slice_start, series_id, tb,
                                                 eb, low, high, query, need))
                else:
                    works.append(self._partitions(namespace, layout, slice_start, series_id,
                                                  chunk, low, high, query, need))
        return await self.each(works)

    async def _partitions(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        slice_start: int,
        series_id: str,
        buckets: list[tuple[int, tuple[int, ...]]],
        low: int,
        high: int,
        query: EventQuery,
        need: int,
    ) -> list[StoredEvent]:
        """Up to `need` events of each partition of `buckets` in one statement (`IN` on the
        partition key), `PER PARTITION LIMIT` rows each; a partition that gives the whole limit
        may hold more (or an event cut short) and is read again on its own, page by page."""
        db = self.db
        rows_each = (need + 1) * ROWS_PER_EVENT_GUESS
        tbs = [tb for tb, _ in buckets]
        ebs = sorted({eb for _, ebs in buckets for eb in ebs})
        try:
            select = await db.prepare(
                f"SELECT time_bucket, event_bucket, event_time, event_id, item_key, value"
                f" FROM {self.ks}.{slice_table(namespace, slice_start)}"
                " WHERE time_series_id = ? AND time_bucket IN ? AND event_bucket IN ?"
                " AND event_time >= ? AND event_time <= ? PER PARTITION LIMIT ?",
                write=False,
            )
            rows = await db.rows(
                db.bind(select, [series_id, tbs, ebs, low, high, rows_each],
                        self.config.fetch_size),
                "ts_read",
            )
        except MissingTable:  # on every host: retention dropped it since it was listed?
            if _past_retention(layout, slice_start):
                return []
            raise
        by_partition: dict[tuple[int, int], list[tuple[int, str, str, bytes]]] = {}
        for tb, eb, event_time, event_id, key, value in rows:
            by_partition.setdefault((tb, eb), []).append((event_time, event_id, key, value))
        found: list[StoredEvent] = []
        again = []
        for (tb, eb), part in by_partition.items():
            if len(part) >= rows_each:
                again.append(self._partition(namespace, layout, slice_start, series_id, tb, eb,
                                             low, high, query, need))
            else:
                found.extend(_events(part, query, series_id, need))
        for events in await self.each(again):
            found.extend(events)
        return found

    async def _partition(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        slice_start: int,
        series_id: str,
        tb: int,
        eb: int,
        low: int,
        high: int,
        query: EventQuery,
        need: int,
    ) -> list[StoredEvent]:
        """Up to `need` complete events of one partition that match `query.equals`, newest first."""
        db = self.db
        try:
            select = await db.prepare(
                f"SELECT event_time, event_id, item_key, value"
                f" FROM {self.ks}.{slice_table(namespace, slice_start)}"
                " WHERE time_series_id = ? AND time_bucket = ? AND event_bucket = ?"
                " AND event_time >= ? AND event_time <= ?",
                write=False,
            )
            fetch = min(self.config.fetch_size, (need + 1) * ROWS_PER_EVENT_GUESS)
            pages = db.pages(db.bind(select, [series_id, tb, eb, low, high], fetch), "ts_read")
            fold = _Fold(query, series_id, need)
            while (page := await pages.next()) is not None:
                for event_time, event_id, key, value in page:
                    if fold.add(event_time, event_id, key, value):
                        return fold.finish()  # the rest of the partition is left unread
            return fold.finish()
        except MissingTable:  # on every host: retention dropped it since it was listed?
            if _past_retention(layout, slice_start):
                return []
            raise

    # --- scans ------------------------------------------------------------------------------

    async def ts_scan(
        self, namespace: str, layout: TimeSeriesLayout, start: int, end: int, batch: int = 500
    ) -> AsyncIterator[list[StoredEvent]]:
        """Every event of `[start, end)`: each listed slice table overlapping it is read by
        token range (SCAN_RANGES of the Murmur3 ring, SCAN_CONCURRENCY at a time, each paged),
        rows folded into events as they come (a partition's rows are contiguous, and an event's
        rows adjacent in it).  Events come in batches of at most `batch`, in token order."""
        async with self.db.call("ts_scan"):
            listed = await self._listed(namespace)
        lo_s, hi_s = start // 1_000_000, (end - 1) // 1_000_000
        tables = [
            (s, t) for s, t in listed
            if s <= hi_s and s + layout.seconds_per_slice > lo_s
        ]
        ranges = _token_ranges(SCAN_RANGES)
        pending: list[StoredEvent] = []
        for slice_start, table in tables:
            for i in range(0, len(ranges), SCAN_CONCURRENCY):
                wave = ranges[i:i + SCAN_CONCURRENCY]
                found = await self.each(
                    self._scan_range(layout, slice_start, table, lo, hi, start, end)
                    for lo, hi in wave
                )
                for events in found:
                    pending.extend(events)
                    while len(pending) >= batch:
                        yield pending[:batch]
                        pending = pending[batch:]
        if pending:
            yield pending

    async def _scan_range(
        self,
        layout: TimeSeriesLayout,
        slice_start: int,
        table: str,
        lo: int,
        hi: int,
        start: int,
        end: int,
    ) -> list[StoredEvent]:
        """The events of `[start, end)` in one token range of one slice table."""
        db = self.db
        op = ">=" if lo == MIN_TOKEN else ">"
        try:
            async with db.call("ts_scan"):
                select = await db.prepare(
                    "SELECT time_series_id, event_time, event_id, item_key, value"
                    f" FROM {self.ks}.{table}"
                    f" WHERE token(time_series_id, time_bucket, event_bucket) {op} ?"
                    " AND token(time_series_id, time_bucket, event_bucket) <= ?",
                    write=False,
                )
                pages = db.pages(db.bind(select, [lo, hi], self.config.fetch_size), "ts_scan")
                events: list[StoredEvent] = []
                last: tuple[str, int, str] | None = None
                items: dict[str, bytes] = {}
                while (page := await pages.next()) is not None:
                    for series, event_time, event_id, key, value in page:
                        if not start <= event_time < end:
                            continue
                        if (series, event_time, event_id) != last:
                            last = (series, event_time, event_id)
                            items = {}
                            events.append(stored_event_fast(series, event_time, event_id, items))
                        items[key] = value or b""
                return events
        except MissingTable:  # dropped by retention since it was listed
            if _past_retention(layout, slice_start):
                return []
            raise

    # --- slices -----------------------------------------------------------------------------

    async def _listed(self, namespace: str) -> list[tuple[int, str]]:
        """`(slice start, table)` of the namespace's slices, ascending, from `ts_slices`.

        Read on every call rather than cached: another process may just have created an older
        slice on demand, and a read must see the events written there.
        """
        db = self.db
        select = await db.prepare(
            f"SELECT slice, table_name FROM {self.ks}.ts_slices WHERE namespace = ?", write=False
        )
        rows = await db.rows(db.bind(select, [namespace]), "ts_slices")
        return sorted((int(s), str(t)) for s, t in rows)

    async def ts_slices(self, namespace: str) -> list[int]:
        async with self.db.call("ts_slices"):
            return [s for s, _ in await self._listed(namespace)]

    async def ts_drop_slices_before(
        self, namespace: str, layout: TimeSeriesLayout, cutoff_seconds: int
    ) -> list[int]:
        """Drop the tables of slices ending at or before the cutoff, then unlist them.

        Dropped first: if unlisting fails, the next pass finds the slice again and the
        `DROP TABLE IF EXISTS` is a no-op; readers treat a listed but missing table as empty.
        """
        async with self.db.call("ts_drop_slices_before"):
            listed = await self._listed(namespace)
        doomed = [(s, t) for s, t in listed if s + layout.seconds_per_slice <= cutoff_seconds]
        db = self.db
        for start, table in doomed:
            await self.schema.drop([table])
            async with db.call("ts_drop_slices_before"):
                unlist = await db.prepare(
                    f"DELETE FROM {self.ks}.ts_slices WHERE namespace = ? AND slice = ?",
                    write=True,
                )
                await db.run(db.bind(unlist, [namespace, start]), "unlist slice")
            await self.bucket_index.unmark(namespace, start)
        return [s for s, _ in doomed]


def _token_ranges(n: int) -> list[tuple[int, int]]:
    """`n` contiguous `(lo, hi]` ranges covering the whole Murmur3 ring (the first from
    MIN_TOKEN inclusive)."""
    width = (MAX_TOKEN - MIN_TOKEN) // n
    bounds = [MIN_TOKEN + i * width for i in range(n)] + [MAX_TOKEN]
    return list(pairwise(bounds))


def _bounds(query: EventQuery) -> tuple[int, int]:
    """The query's interval as inclusive bounds, in microseconds."""
    high = query.end - 1
    if query.before is not None:
        high = min(high, query.before.event_time)
    return query.start, high


def _past_retention(layout: TimeSeriesLayout, slice_start: int) -> bool:
    """Whether retention (in this process or one whose clock runs ahead) may drop the slice."""
    cutoff = now_micros() // 1_000_000 - layout.retention_seconds + RETENTION_SKEW_SECONDS
    return slice_start + layout.seconds_per_slice <= cutoff


def _events(
    rows: list[tuple[int, str, str, bytes]], query: EventQuery, series_id: str, need: int
) -> list[StoredEvent]:
    """The first `need` complete events matching `query` of one partition's rows (all of it
    in the interval: the caller saw fewer rows than its limit)."""
    fold = _Fold(query, series_id, need)
    for event_time, event_id, key, value in rows:
        if fold.add(event_time, event_id, key, value):
            break
    return fold.finish()


def _in_chunks(
    buckets: list[tuple[int, tuple[int, ...]]],
) -> list[list[tuple[int, tuple[int, ...]]]]:
    """Buckets cut so that one statement names at most MAX_IN_PARTITIONS partitions (its
    `IN` lists' product: the event buckets of the chunk, for each time bucket)."""
    chunks: list[list[tuple[int, tuple[int, ...]]]] = []
    chunk: list[tuple[int, tuple[int, ...]]] = []
    ebs: set[int] = set()
    for tb, these in buckets:
        wider = ebs | set(these)
        if chunk and (len(chunk) + 1) * len(wider) > MAX_IN_PARTITIONS:
            chunks.append(chunk)
            chunk, wider = [], set(these)
        chunk.append((tb, these))
        ebs = wider
    if chunk:
        chunks.append(chunk)
    return chunks


class _Fold:
    """One partition's item rows, in their order (newest event first), folded into the events
    matching `query`: the same fold whether the rows come whole or page by page."""

    __slots__ = ("_before", "_current", "_equals", "_need", "_series_id", "events")

    def __init__(self, query: EventQuery, series_id: str, need: int) -> None:
        before = query.before
        self._before = None if before is None else (before.event_time, before.event_id)
        self._equals = query.equals
        self._series_id = series_id
        self._need = need
        self._current: _Building | None = None
        self.events: list[StoredEvent] = []

    def add(self, event_time: int, event_id: str, key: str, value: bytes | None) -> bool:
        """Take one row; True once `need` events are complete (the rows after need no read)."""
        if self._before is not None and (event_time, event_id) >= self._before:
            return False
        current = self._current
        if current is None or current.event_time != event_time or current.event_id != event_id:
            if current is not None and self._keep(current) and len(self.events) >= self._need:
                self._current = None
                return True
            current = self._current = _Building(event_time, event_id)
        current.items[key] = value or b""
        return False

    def finish(self) -> list[StoredEvent]:
        """The events, the last one kept when it matches; at most `need`."""
        if self._current is not None:
            self._keep(self._current)
            self._current = None
        return self.events[:self._need]

    def _keep(self, event: _Building) -> bool:
        """Keep the finished event if its items include every `query.equals` pair."""
        if any(event.items.get(k) != v for k, v in self._equals.items()):
            return False
        self.events.append(
            StoredEvent(self._series_id, event.event_time, event.event_id, event.items))
        return True


def _next_width(width: int, read: int, found: int, limit: int) -> int:
    """Buckets in the next group: double the last, or more when the buckets read so far say
    (at the events per bucket seen, with a margin) that more are needed to meet the limit, so
    a large page of a dense series takes two rounds rather than log2(buckets)."""
    want = width * 2
    if found:
        want = max(want, math.ceil((limit - found) * read / found * 1.25))
    return min(want, MAX_GROUP_BUCKETS)


def _buckets(
    layout: TimeSeriesLayout,
    slices: set[int],
    believed: set[int],
    indexed: list[tuple[int, int, int]],
    low: int,
    high: int,
) -> list[tuple[int, int, tuple[int, ...]]]:
    """`(slice, bucket, event buckets)` to read for `[low, high]`, newest bucket first: from the
    index in slices where it is believed, every partition in the other listed slices."""
    low_s, high_s = low // 1_000_000, high // 1_000_000
    step = layout.seconds_per_bucket
    first_tb = low_s - low_s % step
    from_index: dict[int, list[tuple[int, int, int]]] = {}
    for part in indexed:
        if part[0] in believed and first_tb <= part[1] <= high_s:
            from_index.setdefault(part[0], []).append(part)
    every = tuple(range(layout.event_buckets))
    found: list[tuple[int, int, tuple[int, ...]]] = []
    for start in sorted(slices, reverse=True):
        end = start + layout.seconds_per_slice - 1
        if start > high_s or end < low_s:
            continue
        if start in believed:
            found.extend(group_partitions(from_index.get(start, [])))
            continue
        first = min(end, high_s)
        first -= first % step
        last = max(start, low_s)
        last -= last % step
        found.extend((start, tb, every) for tb in range(first, last - 1, -step))
    return found
