"""Key-Value on Cassandra: a table per namespace, `PRIMARY KEY ((id), key)`, last write wins.

Every write and delete carries `USING TIMESTAMP <stamp micros>`, so Cassandra's own cell
reconciliation is the last-write-wins rule on every replica and for every retry: a put with an
older stamp than a stored item, or than a record (partition), range or key (row) tombstone, is
shadowed without a read.  TTL is `USING TTL` (0 = none).

An item is ONE cell, `item = nonce, 0x00, len(metadata), metadata, value` (the nonce escaped so
that bytes order like strings), not separate value and metadata cells: Cassandra breaks a tie of
equal timestamps cell by cell, by the larger value, which could pair one write's value with
another's metadata.  One cell that starts with the nonce makes a tie go to the larger nonce,
whole, as in the SQLite store.  (A tombstone still beats a write of the same microsecond.)

Large values: the abstraction writes chunks first (`kv_put_chunks`), then the item that points to
them, so a reader never sees an item whose chunks are missing.  Chunks live in `kvc_<ns>`, one
partition per `(id, key)`, clustered by `(version, seq)` where `version` sorts like the stamp.
`kvk_<ns>` lists the keys of a record that have chunks; every put or delete looks there (one
read, concurrent with the write) and range-deletes chunk versions older than itself, stamped with
its own time, so a late chunk write of an older version is shadowed too.

A namespace's table reads as empty only when the schema says it was never made (`Schema.has`);
a statement the cluster answers "does not exist" is an error (`MissingTable`), never no items.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from itertools import repeat as _repeat
from operator import itemgetter

from cassandra import ConsistencyLevel

from backends.base import KVQuery, StoredItem, StoredItems, WriteStamp

from .schema import kv_table
from .store import CassandraBase

CHUNK_WINDOW = 4  # chunks are large: a few per request
_LEN = struct.Struct(">I")


def _version(stamp: WriteStamp) -> str:
    """Chunk versions sort like stamps: fixed-width time, then nonce (as in the SQLite store)."""
    return f"{stamp.micros:020d}:{stamp.nonce}"


class CassandraKV(CassandraBase):
    """The `KVStore` part of the Cassandra store."""

    def _t(self, namespace: str, kind: str = "kv") -> str:
        return f"{self.ks}.{kv_table(namespace, kind)}"

    # --- writes -----------------------------------------------------------------------------

    async def kv_put(
        self, namespace: str, id: str, items: Sequence[StoredItem], stamp: WriteStamp
    ) -> None:
        if not items:
            return
        await self.schema.ensure_kv(namespace, "kv")
        db = self.db
        async with db.call("kv_put"):
            insert = await db.prepare(
                f"INSERT INTO {self._t(namespace)} (id, key, item)"
                " VALUES (?, ?, ?) USING TIMESTAMP ? AND TTL ?",
                write=True,
            )
            head, micros = _head(stamp), stamp.micros
            rows = [
                (id, i.key, b"".join((head, _LEN.pack(len(i.metadata)), i.metadata, i.value)),
                 micros, i.ttl_seconds or 0)
                for i in items
            ]  # the cells of `_cell`, with the stamp's part made once
            keys = [i.key for i in items]
            _, chunked = await self.each([
                self.write_rows(insert, rows, 2, "kv_put"),
                self._chunked_keys(namespace, id, min(keys), max(keys), inclusive=True),
            ])
            await self._drop_chunks(namespace, id, sorted(set(keys) & set(chunked)), stamp)

    async def kv_put_if_absent(
        self, namespace: str, id: str, item: StoredItem, stamp: WriteStamp
    ) -> StoredItem | None:
        """A lightweight transaction (Paxos) at SERIAL, so claims in every datacenter agree.

        Its cell is written at the ballot's timestamp, not the stamp's (Cassandra allows no
        `USING TIMESTAMP` on a conditional write): a claimed key should be written by claims
        only.  Not idempotent for the driver: a resent claim would find itself.
        """
        await self.schema.ensure_kv(namespace, "kv")
        db = self.db
        async with db.call("kv_put_if_absent"):
            insert = await db.prepare(
                f"INSERT INTO {self._t(namespace)} (id, key, item) VALUES (?, ?, ?)"
                " IF NOT EXISTS USING TTL ?",
                write=True, idempotent=False,
            )
            bound = db.bind(insert, [id, item.key, _cell(stamp, item), item.ttl_seconds or 0])
            bound.serial_consistency_level = ConsistencyLevel.SERIAL
            [row] = await db.rows(bound, "kv_put_if_absent")
        if row[0]:  # [applied]; else the row that is there: [applied], id, key, item
            return None
        return _item(item.key, row[-1], None)

    async def kv_delete(
        self,
        namespace: str,
        id: str,
        stamp: WriteStamp,
        *,
        keys: Sequence[bytes] | None = None,
        start: bytes | None = None,
        end: bytes | None = None,
    ) -> None:
        await self.schema.ensure_kv(namespace, "kv")  # a tombstone must outlive late writes
        db = self.db
        t = self._t(namespace)
        async with db.call("kv_delete"):
            if keys is not None:
                if not keys:
                    return
                delete = await db.prepare(
                    f"DELETE FROM {t} USING TIMESTAMP ? WHERE id = ? AND key IN ?", write=True
                )
                _, chunked = await self.each([
                    db.run(db.bind(delete, [stamp.micros, id, list(keys)]), "kv_delete"),
                    self._chunked_keys(namespace, id, min(keys), max(keys), inclusive=True),
                ])
                await self._drop_chunks(namespace, id, sorted(set(keys) & set(chunked)), stamp)
                return
            if start is None and end is None:  # the whole record: one partition tombstone
                cql, values = f"DELETE FROM {t} USING TIMESTAMP ? WHERE id = ?", [stamp.micros, id]
            elif end is None:  # one range tombstone
                cql = f"DELETE FROM {t} USING TIMESTAMP ? WHERE id = ? AND key >= ?"
                values = [stamp.micros, id, start]
            else:
                cql = f"DELETE FROM {t} USING TIMESTAMP ? WHERE id = ? AND key >= ? AND key < ?"
                values = [stamp.micros, id, start or b"", end]
            delete = await db.prepare(cql, write=True)
            await db.run(db.bind(delete, values), "kv_delete")
            chunked = await self._chunked_keys(namespace, id, start, end, inclusive=False)
            await self._drop_chunks(namespace, id, chunked, stamp)

    async def kv_put_chunks(
        self,
        namespace: str,
        id: str,
        key: bytes,
        stamp: WriteStamp,
        chunks: Sequence[bytes],
        ttl_seconds: int | None,
    ) -> None:
        await self.schema.ensure_kv(namespace, "kvc", "kvk")
        db = self.db
        ttl = ttl_seconds or 0
        async with db.call("kv_put_chunks"):
            mark = await db.prepare(
                f"INSERT INTO {self._t(namespace, 'kvk')} (id, key) VALUES (?, ?)"
                " USING TIMESTAMP ? AND TTL ?",
                write=True,
            )
            insert = await db.prepare(
                f"INSERT INTO {self._t(namespace, 'kvc')} (id, key, version, seq, data)"
                " VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ? AND TTL ?",
                write=True,
            )
            version = _version(stamp)
            await self.each([
                db.run(db.bind(mark, [id, key, stamp.micros, ttl]), "kv_put_chunks"),
                *(
                    db.run(db.bind(insert, [id, key, version, seq, data, stamp.micros, ttl]),
                           "kv_put_chunks")
                    for seq, data in enumerate(chunks)
                ),
            ])

    async def _chunked_keys(
        self, namespace: str, id: str, start: bytes | None, end: bytes | None, *, inclusive: bool
    ) -> list[bytes]:
        """Keys of `id` in the range that have chunks (`end` inclusive or exclusive)."""
        db = self.db
        where, values = "", [id]
        if start is not None:
            where += " AND key >= ?"
            values.append(start)
        if end is not None:
            where += " AND key <= ?" if inclusive else " AND key < ?"
            values.append(end)
        if not await self.schema.has(kv_table(namespace, "kvk")):
            return []  # the namespace never stored a chunked value
        select = await db.prepare(
            f"SELECT key FROM {self._t(namespace, 'kvk')} WHERE id = ?{where}", write=False
        )
        return [row[0] for row in await db.rows(db.bind(select, values), "kv chunk keys")]

    async def _drop_chunks(
        self, namespace: str, id: str, keys: Sequence[bytes], stamp: WriteStamp
    ) -> None:
        """Delete chunk versions older than `stamp` of `keys`, and their markers.

        The chunk range tombstone is stamped at `stamp` (older chunks, however late they
        arrive, stay deleted); the marker tombstone one microsecond earlier, so the marker of a
        chunked value written under `stamp` itself survives.
        """
        if not keys:
            return
        db = self.db
        drop = await db.prepare(
            f"DELETE FROM {self._t(namespace, 'kvc')} USING TIMESTAMP ?"
            " WHERE id = ? AND key = ? AND version < ?",
            write=True,
        )
        unmark = await db.prepare(
            f"DELETE FROM {self._t(namespace, 'kvk')} USING TIMESTAMP ? WHERE id = ? AND key IN ?",
            write=True,
        )
        version = _version(stamp)
        await self.each([
            *(db.run(db.bind(drop, [stamp.micros, id, key, version]), "kv drop chunks")
              for key in keys),
            db.run(db.bind(unmark, [stamp.micros - 1, id, list(keys)]), "kv drop chunks"),
        ])

    # --- reads ------------------------------------------------------------------------------

    async def kv_get(self, namespace: str, id: str, query: KVQuery) -> Sequence[StoredItem]:
        async with self.db.call("kv_get"):
            if not await self.schema.has(kv_table(namespace)):
                return []  # nothing was ever written to the namespace
            return await self._get(namespace, id, query)

    async def kv_get_many(
        self, namespace: str, ids: Sequence[str], query: KVQuery
    ) -> dict[str, Sequence[StoredItem]]:
        if not ids:
            return {}
        async with self.db.call("kv_get_many"):
            if not await self.schema.has(kv_table(namespace)):
                return {id: [] for id in ids}  # nothing was ever written to the namespace
            found = await self.each(self._get(namespace, id, query) for id in ids)
        return dict(zip(ids, found, strict=True))

    async def _get(self, namespace: str, id: str, query: KVQuery) -> Sequence[StoredItem]:
        if query.limit <= 0:
            return []
        db = self.db
        order = "DESC" if query.descending else "ASC"
        columns = "SELECT key, item, TTL(item) FROM {} WHERE id = ?"
        if query.keys is not None:
            keys = sorted(k for k in query.keys if _in_range(k, query))
            if not keys:
                return []
            select = await db.prepare(
                f"{columns.format(self._t(namespace))} AND key IN ?", write=False
            )
            rows = await db.rows(db.bind(select, [id, keys]), "kv_get")
            rows.sort(key=lambda r: r[0], reverse=query.descending)
            rows = rows[: query.limit]
        else:
            where, values = _bounds(query)
            shape = ("kv_get", namespace, where, order)  # found without making the text
            select = db.statement(shape) or await db.prepare(
                f"{columns.format(self._t(namespace))}{where} ORDER BY key {order} LIMIT ?",
                write=False, key=shape,
            )
            fetch = min(self.config.fetch_size, query.limit)
            rows = await db.rows(
                db.bind(select, [id, *values, query.limit], fetch), "kv_get", query.limit
            )
        return _items(rows)

    async def kv_get_chunks(
        self, namespace: str, id: str, key: bytes, stamp: WriteStamp, count: int
    ) -> list[bytes] | None:
        """Windows of `CHUNK_WINDOW` chunks read in parallel: one round trip, not one per page,
        so a reader is done before a racing overwrite removes the version it is reading."""
        db = self.db
        version = _version(stamp)
        async with db.call("kv_get_chunks"):
            if not await self.schema.has(kv_table(namespace, "kvc")):
                return None  # no chunk was ever written to the namespace
            select = await db.prepare(
                f"SELECT seq, data FROM {self._t(namespace, 'kvc')}"
                " WHERE id = ? AND key = ? AND version = ? AND seq >= ? AND seq < ?",
                write=False,
            )
            windows = await self.each(
                db.rows(
                    db.bind(select, [id, key, version, low, low + CHUNK_WINDOW], CHUNK_WINDOW),
                    "kv_get_chunks",
                )
                for low in range(0, max(count, 1), CHUNK_WINDOW)
            )
        rows = [row for window in windows for row in window]
        if [seq for seq, _ in rows] != list(range(count)):
            return None
        return [data or b"" for _, data in rows]

    async def kv_scan_ids(self, namespace: str, after: str | None, limit: int) -> list[str]:
        """Ids with live items, in the cluster's token order (Cassandra cannot scan by id).

        `after` resumes after that id's token, which is what a page token carries.
        """
        db = self.db
        t = self._t(namespace)
        async with db.call("kv_scan_ids"):
            if not await self.schema.has(kv_table(namespace)):
                return []
            if after is None:
                select = await db.prepare(f"SELECT DISTINCT id FROM {t} LIMIT ?", write=False)
                values: list[object] = [limit]
            else:
                select = await db.prepare(
                    f"SELECT DISTINCT id FROM {t} WHERE token(id) > token(?) LIMIT ?",
                    write=False,
                )
                values = [after, limit]
            fetch = min(self.config.fetch_size, limit)
            rows = await db.rows(db.bind(select, values, fetch), "kv_scan_ids", limit)
        return [row[0] for row in rows]


def _cell(stamp: WriteStamp, item: StoredItem) -> bytes:
    """The item's one cell: escaped nonce, terminator, metadata length, metadata, value."""
    return b"".join((_head(stamp), _LEN.pack(len(item.metadata)), item.metadata, item.value))


def _head(stamp: WriteStamp) -> bytes:
    """What a cell starts with: the escaped nonce and its terminator."""
    return stamp.nonce.encode().replace(b"\x00", b"\x00\xff") + b"\x00"


def _item(key: bytes, cell: bytes, ttl: int | None) -> StoredItem:
    """The item of one row: `_cell` taken apart."""
    at = cell.index(0)
    if cell[at + 1] == 0xFF:  # the nonce has 0x00 bytes, escaped as 0x00 0xff: skip them
        while True:
            at = cell.index(0, at + 2)
            if cell[at + 1] != 0xFF:
                break
    at += 1 + _LEN.size
    end = at + _LEN.unpack_from(cell, at - _LEN.size)[0]
    return StoredItem(key, cell[end:], cell[at:end], max(1, ttl) if ttl else None)


def _items(rows: Sequence[tuple[bytes, bytes, int | None]]) -> StoredItems:
    """The items of a read's rows, as columns.

    A read of 100 items spent most of its Python time taking cells apart one by one; the common
    page (every nonce as long as the first, no 0x00 in it, no metadata) is taken apart with
    `map`, in C: each cell's first 0x00 sits at the same place `at`, followed by a zero
    metadata length, so its value is `cell[at + 5:]`.  Other pages go cell by cell.
    """
    if not rows:
        return StoredItems([], [], [], [])
    keys, cells, ttls = map(list, zip(*rows, strict=True))
    at = cells[0].find(0)
    if (
        at >= 0
        and all(map(at.__eq__, map(bytes.find, cells, _repeat(_NUL))))
        and all(map(bytes.startswith, cells, _repeat(_PLAIN_HEAD), _repeat(at)))
    ):
        values = list(map(itemgetter(slice(at + 5, None)), cells))
        metadata = [b""] * len(cells)
    else:
        found = [_item(key, cell, None) for key, cell in zip(keys, cells, strict=True)]
        values = [item.value for item in found]
        metadata = [item.metadata for item in found]
    ttls = [max(1, t) if t else None for t in ttls] if any(ttls) else [None] * len(cells)
    return StoredItems(keys, values, metadata, ttls)


_NUL = b"\x00"
_PLAIN_HEAD = b"\x00" + _LEN.pack(0)  # the nonce's terminator and an empty metadata's length


def _in_range(key: bytes, query: KVQuery) -> bool:
    if query.start is not None and key < query.start:
        return False
    if query.end is not None and key >= query.end:
        return False
    if query.after is not None:
        return key < query.after if query.descending else key > query.after
    return True


def _bounds(query: KVQuery) -> tuple[str, list[bytes]]:
    """One lower and one upper bound on `key` (CQL allows no more), merged from the query."""
    low: tuple[str, bytes] | None = None
    high: tuple[str, bytes] | None = None
    if query.start is not None:
        low = (">=", query.start)
    if query.end is not None:
        high = ("<", query.end)
    if query.after is not None:
        if query.descending:
            if high is None or query.after <= high[1]:
                high = ("<", query.after)
        elif low is None or query.after >= low[1]:
            low = (">", query.after)
    where, values = "", []
    for bound in (low, high):
        if bound is not None:
            where += f" AND key {bound[0]} ?"
            values.append(bound[1])
    return where, values
