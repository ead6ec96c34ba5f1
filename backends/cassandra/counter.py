"""Distributed Counter on Cassandra: an event log, rollup rows, and native counter columns.

Event log: `cl_<ns>` partitioned by `(name, time_bucket)` (10-minute buckets, as in Netflix's
example configuration), clustered by `(event_time, event_id)`, so a retried add overwrites
itself and a partition stays bounded however long a counter lives.  A fold reads only the
buckets a counter has: `cb_<ns>` lists them per counter (written before the events, so a listed
bucket may be empty but an event is never in an unlisted one), then the buckets of the window
are read in parallel and folded here.  A simpler table than TimeSeries slices: retention
deletes a counter's events behind its checkpoint's base, whole partitions at a time (the base
is aligned to the end of a bucket), then their `cb` rows.

Rollups: `cr_<ns>` rows `(count, as_of)` written `USING TIMESTAMP as_of`, so of concurrent
rollups the one as of the latest time wins on every replica, without a read or a lock.
Checkpoints: `ck_<ns>` rows whose base cells are written `USING TIMESTAMP base_as_of` (the
latest base wins) and whose `late` cell is written `USING TIMESTAMP late` (the newest wins).

A read that fails raises: a fold or a checkpoint is never answered as empty because a
statement failed (rollups are stored from what folds return).  Only a table that does not
exist reads as empty, and a checkpoint table is made before the log's, so a log without it is
an error, not an empty checkpoint.

Best effort: `cf_<ns>` with a Cassandra `counter` column (fast, not idempotent); clear subtracts
the current value (a deleted counter cannot be reused: incremented again, its old value returns).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence

from cassandra.metadata import Murmur3Token

from backends.base import Checkpoint, CounterEvent, Fold, Rollup, StoreError

from .schema import counter_table
from .store import CassandraBase

LOG_BUCKET_SECONDS = 600
INDEX_CACHE_LIMIT = 100_000


def log_bucket(micros: int) -> int:
    """Start (seconds) of the log bucket holding `micros`."""
    seconds = micros // 1_000_000
    return seconds - seconds % LOG_BUCKET_SECONDS


class CassandraCounter(CassandraBase):
    """The `CounterStore` part of the Cassandra store."""

    def _c(self, namespace: str, kind: str) -> str:
        return f"{self.ks}.{counter_table(namespace, kind)}"

    async def counter_append(self, namespace: str, events: Sequence[CounterEvent]) -> None:
        if not events:
            return
        await self.schema.ensure_counter(namespace, "ck", "cb", "cl")
        db = self.db
        partitions: dict[tuple[str, int], list[tuple[object, ...]]] = {}
        for e in events:
            bucket = log_bucket(e.event_time)
            partitions.setdefault((e.name, bucket), []).append(
                (e.name, bucket, e.event_time, e.event_id, e.delta, e.reset)
            )
        async with db.call("counter_append"):
            await self._list_buckets(namespace, partitions)
            key = ("counter_append", namespace)  # found without making the text
            insert = db.statement(key) or await db.prepare(
                f"INSERT INTO {self._c(namespace, 'cl')}"
                " (name, time_bucket, event_time, event_id, delta, reset)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                write=True, key=key,
            )
            if len(events) == 1:  # one add: one INSERT
                await db.run(db.bind(insert, next(iter(partitions.values()))[0]), "counter_append")
                return
            await self.each(
                self.write_rows(insert, rows, 3, "counter_append") for rows in partitions.values()
            )

    async def _list_buckets(self, namespace: str, keys: Iterable[tuple[str, int]]) -> None:
        """Make sure `cb` lists each `(name, bucket)` before any event of it is written.

        Each pair is written once per process: pairs known listed are skipped, and concurrent
        appends to a pair being listed wait for that one write instead of repeating it (if it
        fails, each writes the row itself, so an event is never acknowledged in an unlisted
        bucket).
        """
        mine: dict[tuple[str, str, int], asyncio.Future[bool]] = {}
        theirs: list[tuple[tuple[str, str, int], asyncio.Future[bool]]] = []
        for name, bucket in keys:
            key = (namespace, name, bucket)
            if key in self._indexed:
                continue
            pending = self._indexing.get(key)
            if pending is None:
                mine[key] = self._indexing[key] = asyncio.get_running_loop().create_future()
            else:
                theirs.append((key, pending))
        if mine:
            listed = False
            try:
                await self._write_bucket_rows(namespace, list(mine))
                listed = True
            finally:
                for key, future in mine.items():
                    self._indexing.pop(key, None)
                    future.set_result(listed)
                if listed:
                    if len(self._indexed) > INDEX_CACHE_LIMIT:
                        self._indexed.clear()
                    self._indexed.update(mine)
        if theirs:
            done = await asyncio.gather(*(asyncio.shield(f) for _, f in theirs))
            failed = [key for (key, _), ok in zip(theirs, done, strict=True) if not ok]
            if failed:
                await self._write_bucket_rows(namespace, failed)
                self._indexed.update(failed)

    async def _write_bucket_rows(self, namespace: str, keys: list[tuple[str, str, int]]) -> None:
        db = self.db
        index = await db.prepare(
            f"INSERT INTO {self._c(namespace, 'cb')} (name, time_bucket) VALUES (?, ?)",
            write=True,
        )
        await self.each(db.run(db.bind(index, [n, b]), "counter index") for _, n, b in keys)

    async def counter_fold(
        self, namespace: str, windows: Mapping[str, tuple[int, int]]
    ) -> dict[str, Fold]:
        if not windows:
            return {}
        async with self.db.call("counter_fold"):
            if not await self.schema.has(counter_table(namespace, "cb")):
                # No event was ever appended in the namespace.  A missing `cl` behind an
                # existing `cb` is an error (MissingTable), never an empty log.
                return dict.fromkeys(windows, Fold(0, False, None))
            folds = await self.each(
                self._fold(namespace, name, after, until)
                for name, (after, until) in windows.items()
            )
        return dict(zip(windows, folds, strict=True))

    async def _fold(self, namespace: str, name: str, after: int, until: int) -> Fold:
        """The log of one counter over `(after, until]`: deltas after the last reset count."""
        if until <= after:
            return Fold(0, False, None)
        db = self.db
        buckets = await db.prepare(
            f"SELECT time_bucket FROM {self._c(namespace, 'cb')}"
            " WHERE name = ? AND time_bucket >= ? AND time_bucket <= ?",
            write=False,
        )
        listed = await db.rows(
            db.bind(buckets, [name, log_bucket(after + 1), log_bucket(until)]), "counter buckets"
        )
        select = await db.prepare(
            f"SELECT event_time, delta, reset FROM {self._c(namespace, 'cl')}"
            " WHERE name = ? AND time_bucket = ? AND event_time > ? AND event_time <= ?",
            write=False,
        )
        parts = await self.each(
            db.rows(db.bind(select, [name, bucket, after, until]), "counter_fold")
            for (bucket,) in listed
        )
        rows = [row for part in parts for row in part]
        if not rows:
            return Fold(0, False, None)
        resets = [t for t, _, reset in rows if reset]
        since = max(resets) if resets else after
        total = sum(delta or 0 for t, delta, reset in rows if not reset and t > since)
        return Fold(total, bool(resets), max(t for t, _, _ in rows))

    async def counter_rollups(self, namespace: str, names: Sequence[str]) -> dict[str, Rollup]:
        if not names:
            return {}
        db = self.db
        async with db.call("counter_rollups"):
            if not await self.schema.has(counter_table(namespace, "cr")):
                return {}  # never rolled up
            select = await db.prepare(
                f"SELECT count, as_of FROM {self._c(namespace, 'cr')} WHERE name = ?",
                write=False,
            )
            found = await self.each(
                db.rows(db.bind(select, [name]), "counter_rollups") for name in names
            )
        return {
            name: Rollup(rows[0][0], rows[0][1]) for name, rows in zip(names, found, strict=True)
            if rows
        }

    async def counter_put_rollup(
        self, namespace: str, name: str, rollup: Rollup, *, replace: bool = False
    ) -> None:
        await self.schema.ensure_counter(namespace, "cr")
        db = self.db
        table = self._c(namespace, "cr")
        async with db.call("counter_put_rollup"):
            stamp = rollup.as_of
            if replace:  # over the stored row, whatever its write time
                select = await db.prepare(
                    f"SELECT WRITETIME(count) FROM {table} WHERE name = ?", write=False
                )
                rows = await db.rows(db.bind(select, [name]), "counter_put_rollup")
                if rows and rows[0][0] is not None:
                    stamp = max(stamp, rows[0][0] + 1)
            insert = await db.prepare(
                f"INSERT INTO {table} (name, count, as_of) VALUES (?, ?, ?) USING TIMESTAMP ?",
                write=True,
            )
            await db.run(
                db.bind(insert, [name, rollup.count, rollup.as_of, stamp]), "counter_put_rollup"
            )

    async def counter_checkpoints(
        self, namespace: str, names: Sequence[str]
    ) -> dict[str, Checkpoint]:
        if not names:
            return {}
        db = self.db
        async with db.call("counter_checkpoints"):
            if not await self.schema.has(counter_table(namespace, "ck")):
                if await self.schema.has(counter_table(namespace, "cb")):
                    raise StoreError(
                        f"Cassandra counter_checkpoints: {namespace!r} has a counter log but"
                        " its checkpoint table is not found"
                    )
                return {}
            select = await db.prepare(
                f"SELECT base_count, base_as_of, late FROM {self._c(namespace, 'ck')}"
                " WHERE name = ?",
                write=False,
            )
            found = await self.each(
                db.rows(db.bind(select, [name]), "counter_checkpoints") for name in names
            )
        checkpoints = {}
        for name, rows in zip(names, found, strict=True):
            if rows:
                count, as_of, late = rows[0]
                base = None if as_of is None or count is None else Rollup(count, as_of)
                checkpoints[name] = Checkpoint(base, late or 0)
        return checkpoints

    async def counter_put_base(self, namespace: str, name: str, base: Rollup) -> None:
        await self.schema.ensure_counter(namespace, "ck")
        db = self.db
        async with db.call("counter_put_base"):
            insert = await db.prepare(
                f"INSERT INTO {self._c(namespace, 'ck')} (name, base_count, base_as_of)"
                " VALUES (?, ?, ?) USING TIMESTAMP ?",
                write=True,
            )
            await db.run(
                db.bind(insert, [name, base.count, base.as_of, base.as_of]), "counter_put_base"
            )

    async def counter_mark_late(self, namespace: str, name: str, arrival: int) -> None:
        await self.schema.ensure_counter(namespace, "ck")
        db = self.db
        async with db.call("counter_mark_late"):
            update = await db.prepare(
                f"UPDATE {self._c(namespace, 'ck')} USING TIMESTAMP ? SET late = ?"
                " WHERE name = ?",
                write=True,
            )
            await db.run(db.bind(update, [arrival, arrival, name]), "counter_mark_late")

    async def counter_truncate(self, namespace: str, until: Mapping[str, int]) -> None:
        if not until:
            return
        async with self.db.call("counter_truncate"):
            if not await self.schema.has(counter_table(namespace, "cb")):
                return
            await self.each(self._truncate(namespace, n, last) for n, last in until.items())

    async def _truncate(self, namespace: str, name: str, last: int) -> None:
        """Delete the events at or before `last`: whole buckets (their partition, then their
        `cb` row, so a bucket is never unlisted while it holds events), and the older part of
        the bucket holding `last` when it does not end there."""
        db = self.db
        log, index = self._c(namespace, "cl"), self._c(namespace, "cb")
        listed = await db.prepare(
            f"SELECT time_bucket FROM {index} WHERE name = ? AND time_bucket <= ?", write=False
        )
        buckets = [b for (b,) in await db.rows(
            db.bind(listed, [name, log_bucket(last)]), "counter_truncate"
        )]
        whole = [b for b in buckets if (b + LOG_BUCKET_SECONDS) * 1_000_000 - 1 <= last]
        drop = await db.prepare(
            f"DELETE FROM {log} WHERE name = ? AND time_bucket = ?", write=True
        )
        unlist = await db.prepare(
            f"DELETE FROM {index} WHERE name = ? AND time_bucket = ?", write=True
        )
        if len(whole) < len(buckets):
            older = await db.prepare(
                f"DELETE FROM {log} WHERE name = ? AND time_bucket = ? AND event_time <= ?",
                write=True,
            )
            await db.run(db.bind(older, [name, log_bucket(last), last]), "counter_truncate")
        await self.each(db.run(db.bind(drop, [name, b]), "counter_truncate") for b in whole)
        await self.each(db.run(db.bind(unlist, [name, b]), "counter_truncate") for b in whole)

    async def counter_names(
        self, namespace: str, after: str | None, limit: int, *, logged: bool = False
    ) -> list[str]:
        """Names in token order (the order of every table keyed by name), from the log's
        bucket lists and, unless `logged`, the rollups and checkpoints too."""
        partitioner = self.db.cluster.metadata.partitioner or ""
        if not partitioner.endswith("Murmur3Partitioner"):
            raise StoreError(f"Cassandra counter_names: needs Murmur3Partitioner: {partitioner}")
        kinds = ("cb",) if logged else ("cb", "cr", "ck")
        start = _token(after) if after is not None else None
        found: set[str] = set()
        async with self.db.call("counter_names"):
            for kind in kinds:
                if await self.schema.has(counter_table(namespace, kind)):
                    found.update(await self._names(namespace, kind, after, start, limit))
        return sorted(found, key=lambda n: (_token(n), n))[:limit]

    async def _names(
        self, namespace: str, kind: str, after: str | None, start: int | None, limit: int
    ) -> list[str]:
        db = self.db
        distinct = "DISTINCT " if kind == "cb" else ""
        where = " WHERE token(name) >= ?" if start is not None else ""
        select = await db.prepare(
            f"SELECT {distinct}name FROM {self._c(namespace, kind)}{where} LIMIT ?",
            write=False,
        )
        # `>=` and the filter below: names whose token equals `after`'s are not skipped.
        values: list[object] = [start, limit + 1] if start is not None else [limit]
        rows = await db.rows(db.bind(select, values), "counter_names")
        names = [n for (n,) in rows]
        if after is not None:
            assert start is not None
            names = [n for n in names if (_token(n), n) > (start, after)]
        return names[:limit]

    async def counter_incr(self, namespace: str, name: str, delta: int) -> int:
        await self.schema.ensure_counter(namespace, "cf")
        db = self.db
        t = self._c(namespace, "cf")
        async with db.call("counter_incr"):
            update = await db.prepare(
                f"UPDATE {t} SET value = value + ? WHERE name = ?", write=True, idempotent=False
            )
            await db.run(db.bind(update, [delta, name]), "counter_incr")
            select = await db.prepare(f"SELECT value FROM {t} WHERE name = ?", write=False)
            rows = await db.rows(db.bind(select, [name]), "counter_incr")
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    async def counter_values(self, namespace: str, names: Sequence[str]) -> dict[str, int]:
        if not names:
            return {}
        db = self.db
        async with db.call("counter_values"):
            if not await self.schema.has(counter_table(namespace, "cf")):
                return {}  # never counted
            select = await db.prepare(
                f"SELECT value FROM {self._c(namespace, 'cf')} WHERE name = ?", write=False
            )
            found = await self.each(
                db.rows(db.bind(select, [name]), "counter_values") for name in names
            )
        return {
            name: int(rows[0][0]) for name, rows in zip(names, found, strict=True)
            if rows and rows[0][0] is not None
        }

    async def counter_zero(self, namespace: str, name: str) -> None:
        """Subtract the current value: a deleted Cassandra counter that is incremented again
        comes back with its old value (counter removal is not reusable), so no DELETE here.

        Adds that land between the read and the subtraction are kept; two clears racing
        subtract twice, which best effort allows.
        """
        db = self.db
        t = self._c(namespace, "cf")
        async with db.call("counter_zero"):
            if not await self.schema.has(counter_table(namespace, "cf")):
                return  # never counted: nothing to clear
            select = await db.prepare(f"SELECT value FROM {t} WHERE name = ?", write=False)
            rows = await db.rows(db.bind(select, [name]), "counter_zero")
            value = int(rows[0][0]) if rows and rows[0][0] is not None else 0
            if value:
                update = await db.prepare(
                    f"UPDATE {t} SET value = value + ? WHERE name = ?", write=True, idempotent=False
                )
                await db.run(db.bind(update, [-value, name]), "counter_zero")


def _token(name: str) -> int:
    """The partitioner's token of a name (Murmur3, Cassandra's default)."""
    return Murmur3Token.hash_fn(name.encode())
