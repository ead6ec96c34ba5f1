"""Which partitions of a time series hold events: so a read skips the empty ones.

A read of a series over the default interval (the whole retention: 90 days of hourly buckets,
4 event buckets each) would otherwise ask 8,640 partitions whether they hold anything, and a
series with fewer events than the page asks all of them.  Each namespace has an index table
`tsi_<ns>`: one partition per series, a row `(slice, time_bucket, event_bucket)` for each
partition of a slice table that was written, newest first.  A read asks it once per series and
reads only the partitions it names.

When the index can be believed is kept per slice, in `ts_indexed` (keyspace-wide): a slice is
marked (a lightweight transaction, so every process agrees on it) *before* its table is made,
so a process that sees the table (or its listing in `ts_slices`) sees the mark; every write into
a marked slice writes its index rows before its events (an index row without events costs one
empty read; events without their index row would be invisible).  A slice without a mark (made
before this index existed) is read as before: every bucket, every event bucket.

Index rows expire by TTL at the mark's `keep_until` (the slice's end + retention + a margin, as
the process that made the slice saw retention): retention drops slice tables whole, and the
index cannot be dropped per slice.  A read believes a slice's index only before `keep_until`
(less a clock skew), so retention raised after the fact makes old slices read the slow way,
never wrongly.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from cassandra import ConsistencyLevel

from backends.base import TimeSeriesLayout

from .schema import slice_table, table_name
from .store import CassandraBase

INDEX_MARGIN_SECONDS = 7 * 86400  # index rows outlive their slice's retention by this much
CLOCK_SKEW_SECONDS = 300
MAX_TTL_SECONDS = 630_720_000  # Cassandra's largest TTL (20 years)
RECENT_KEYS = 200_000  # index rows this process wrote lately (not written again)

INDEX_TABLE = (
    "CREATE TABLE IF NOT EXISTS {ks}.{t} (time_series_id text, slice bigint, time_bucket bigint,"
    " event_bucket int, PRIMARY KEY ((time_series_id), slice, time_bucket, event_bucket))"
    " WITH CLUSTERING ORDER BY (slice DESC, time_bucket DESC, event_bucket ASC)"
    " AND gc_grace_seconds = 10800"  # rows only ever expire (same instant on every replica)
)

Partition = tuple[int, int, int]
"""(slice start, time bucket start, event bucket) of one partition of a slice table."""


def index_table(namespace: str) -> str:
    return table_name("tsi", namespace)


class BucketIndex:
    """The bucket index of every TimeSeries namespace, and the marks saying where it holds."""

    def __init__(self, store: CassandraBase) -> None:
        self._store = store
        self._db = store.db
        self._schema = store.schema
        # (namespace, slice) -> keep_until (seconds), or None: a slice made before the index
        self._marks: dict[tuple[str, int], int | None] = {}
        self._recent: OrderedDict[tuple[str, str, int, int, int], None] = OrderedDict()

    @property
    def _ks(self) -> str:
        return self._db.config.keyspace

    async def ensure_tables(self, namespace: str) -> None:
        await self._schema.ensure({index_table(namespace): INDEX_TABLE})

    async def ensure_slice(self, namespace: str, layout: TimeSeriesLayout, start: int) -> str:
        """`Schema.ensure_slice`, marking a slice this call finds missing before making it."""
        name = slice_table(namespace, start)
        if self._schema.is_listed(name) and (namespace, start) in self._marks:
            return name
        await self.ensure_tables(namespace)
        if (namespace, start) not in self._marks:
            if await self._schema.has(name):
                found = await self._read_marks(namespace)
                self._marks[(namespace, start)] = found.get(start)
            else:
                proposed = start + layout.seconds_per_slice + layout.retention_seconds
                self._marks[(namespace, start)] = await self._mark(
                    namespace, start, proposed + INDEX_MARGIN_SECONDS
                )
        return await self._schema.ensure_slice(namespace, start)

    async def _mark(self, namespace: str, start: int, keep_until: int) -> int:
        """Mark the slice (Paxos, so all agree); the keep_until that holds, ours or another's."""
        db = self._db
        async with db.call("mark slice"):
            insert = await db.prepare(
                f"INSERT INTO {self._ks}.ts_indexed (namespace, slice, keep_until)"
                " VALUES (?, ?, ?) IF NOT EXISTS",
                write=True, idempotent=False,
            )
            bound = db.bind(insert, [namespace, start, keep_until])
            bound.serial_consistency_level = ConsistencyLevel.SERIAL
            [row] = await db.rows(bound, "mark slice")
        return keep_until if row[0] else int(row[-1])

    async def _read_marks(self, namespace: str) -> dict[int, int]:
        db = self._db
        async with db.call("read slice marks"):
            select = await db.prepare(
                f"SELECT slice, keep_until FROM {self._ks}.ts_indexed WHERE namespace = ?",
                write=False,
            )
            rows = await db.rows(db.bind(select, [namespace]), "read slice marks")
        return {int(s): int(k) for s, k in rows}

    async def unmark(self, namespace: str, start: int) -> None:
        """Forget a dropped slice's mark (after it is unlisted: a listed slice keeps its mark)."""
        db = self._db
        async with db.call("unmark slice"):
            delete = await db.prepare(
                f"DELETE FROM {self._ks}.ts_indexed WHERE namespace = ? AND slice = ?",
                write=True,
            )
            await db.run(db.bind(delete, [namespace, start]), "unmark slice")
        self._marks.pop((namespace, start), None)

    async def believed(self, namespace: str, slices: Iterable[int]) -> set[int]:
        """Of these listed slices, those whose index holds every partition written."""
        slices = list(slices)
        if any((namespace, s) not in self._marks for s in slices):
            found = await self._read_marks(namespace)
            for s in slices:  # listed, so a mark it lacks now it never gets
                self._marks.setdefault((namespace, s), found.get(s))
        now = time.time() + CLOCK_SKEW_SECONDS
        return {
            s for s in slices
            if (keep := self._marks.get((namespace, s))) is not None and keep > now
        }

    def _keep_until(self, namespace: str, layout: TimeSeriesLayout, start: int) -> int:
        keep = self._marks.get((namespace, start))
        if keep is None:  # an unmarked slice: rows nobody reads, kept as a marked one would be
            keep = start + layout.seconds_per_slice + layout.retention_seconds
            keep += INDEX_MARGIN_SECONDS
        return keep

    async def write(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        partitions: Iterable[tuple[str, Partition]],
    ) -> None:
        """Index rows for `(series, partition)`s not written lately, before their events."""
        rows: dict[str, list[tuple[object, ...]]] = {}
        keys: list[tuple[str, str, int, int, int]] = []
        now = int(time.time())
        for series, (start, tb, eb) in partitions:
            key = (namespace, series, start, tb, eb)
            if key in self._recent:
                self._recent.move_to_end(key)
                continue
            ttl = min(self._keep_until(namespace, layout, start) - now, MAX_TTL_SECONDS)
            if ttl <= 0:
                continue  # its index is past believing: reads of it walk every bucket
            rows.setdefault(series, []).append((series, start, tb, eb, ttl))
            keys.append(key)
        if not rows:
            return
        db = self._db
        insert = await db.prepare(
            f"INSERT INTO {self._ks}.{index_table(namespace)} (time_series_id, slice,"
            " time_bucket, event_bucket) VALUES (?, ?, ?, ?) USING TTL ?",
            write=True,
        )
        store = self._store
        await store.each(
            store.write_rows(insert, series_rows, 0, "ts_write index")
            for series_rows in rows.values()
        )
        for key in keys:
            self._recent[key] = None
        while len(self._recent) > RECENT_KEYS:
            self._recent.popitem(last=False)

    async def read_many(
        self, namespace: str, series_ids: Sequence[str], first_slice: int, last_slice: int
    ) -> list[list[Partition]]:
        """Each series' indexed partitions of slices in `[first_slice, last_slice]`, newest
        first; the index table looked up once for the batch (a namespace written only before
        the index existed has none: its slices are unmarked and read whole)."""
        if not await self._schema.has(index_table(namespace)):
            return [[] for _ in series_ids]
        db = self._db
        select = await db.prepare(
            f"SELECT slice, time_bucket, event_bucket FROM {self._ks}.{index_table(namespace)}"
            " WHERE time_series_id = ? AND slice >= ? AND slice <= ?",
            write=False,
        )

        async def one(series_id: str) -> list[Partition]:
            rows = await db.rows(db.bind(select, [series_id, first_slice, last_slice], 5000),
                                 "ts_read index")
            return [(int(s), int(tb), int(eb)) for s, tb, eb in rows]

        return await self._store.each(one(s) for s in series_ids)


def group_partitions(found: Sequence[Partition]) -> list[tuple[int, int, tuple[int, ...]]]:
    """`(slice, bucket, event buckets)` from index rows (newest bucket first)."""
    grouped: dict[tuple[int, int], list[int]] = {}
    for start, tb, eb in found:
        grouped.setdefault((start, tb), []).append(eb)
    return [(s, tb, tuple(ebs)) for (s, tb), ebs in grouped.items()]
