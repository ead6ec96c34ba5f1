"""Key-Value on SQLite: last write wins by stamp, tombstones that outlive late writes."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from backends.base import KVQuery, StoredItem, WriteStamp
from backends.clock import now_micros

from .db import SQLiteDB

_LIVE = "deleted = 0 AND (expires_at IS NULL OR expires_at > ?)"


def _now() -> int:
    return now_micros()


def _expiry(ttl_seconds: int | None, now: int) -> int | None:
    return now + ttl_seconds * 1_000_000 if ttl_seconds else None


def _predicate(query: KVQuery) -> tuple[str, list[object]]:
    """SQL conditions (after `ns`, `id`) and their parameters for a KV query."""
    sql: list[str] = []
    params: list[object] = []
    if query.keys is not None:
        sql.append(f"key IN ({','.join('?' * len(query.keys))})")
        params.extend(query.keys)
    if query.start is not None:
        sql.append("key >= ?")
        params.append(query.start)
    if query.end is not None:
        sql.append("key < ?")
        params.append(query.end)
    if query.after is not None:
        sql.append("key < ?" if query.descending else "key > ?")
        params.append(query.after)
    return "".join(f" AND {s}" for s in sql), params


def _item(row: sqlite3.Row | tuple, now: int) -> StoredItem:
    key, value, metadata, expires_at = row[-4:]
    ttl = None if expires_at is None else max(1, (expires_at - now) // 1_000_000)
    return StoredItem(bytes(key), bytes(value), bytes(metadata), ttl)


class SQLiteKV(SQLiteDB):
    """The `KVStore` half of the SQLite store."""

    async def kv_put(
        self, namespace: str, id: str, items: Sequence[StoredItem], stamp: WriteStamp
    ) -> None:
        mine = (stamp.micros, stamp.nonce)

        def put(conn: sqlite3.Connection) -> None:
            now = _now()
            for item in items:
                row = conn.execute(
                    "SELECT ts, nonce FROM kv_items WHERE ns = ? AND id = ? AND key = ?",
                    (namespace, id, item.key),
                ).fetchone()
                tomb = conn.execute(
                    "SELECT ts, nonce FROM kv_tombstones WHERE ns = ? AND id = ? AND start <= ?"
                    " AND (end_ IS NULL OR end_ > ?) ORDER BY ts DESC, nonce DESC LIMIT 1",
                    (namespace, id, item.key, item.key),
                ).fetchone()
                if (row and tuple(row) >= mine) or (tomb and tuple(tomb) >= mine):
                    conn.execute(
                        "DELETE FROM kv_chunks WHERE ns = ? AND id = ? AND key = ? AND version = ?",
                        (namespace, id, item.key, _version(stamp)),
                    )
                    continue
                conn.execute(
                    "INSERT OR REPLACE INTO kv_items"
                    " (ns, id, key, value, metadata, ts, nonce, expires_at, deleted)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
                    (namespace, id, item.key, item.value, item.metadata, stamp.micros,
                     stamp.nonce, _expiry(item.ttl_seconds, now)),
                )
                _drop_older_chunks(conn, namespace, id, item.key, item.key + b"\0", stamp)

        await self.write(put)

    async def kv_put_if_absent(
        self, namespace: str, id: str, item: StoredItem, stamp: WriteStamp
    ) -> StoredItem | None:
        # One immediate transaction: the write lock is taken before the look, so a claim by
        # another connection (or process) on the file waits for this one to commit.
        def claim(conn: sqlite3.Connection) -> StoredItem | None:
            now = _now()
            row = conn.execute(
                "SELECT key, value, metadata, NULL FROM kv_items"
                f" WHERE ns = ? AND id = ? AND key = ? AND {_LIVE}",
                (namespace, id, item.key, now),
            ).fetchone()
            if row is not None:
                return _item(row, now)
            conn.execute(
                "INSERT OR REPLACE INTO kv_items"
                " (ns, id, key, value, metadata, ts, nonce, expires_at, deleted)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
                (namespace, id, item.key, item.value, item.metadata, stamp.micros, stamp.nonce,
                 _expiry(item.ttl_seconds, now)),
            )
            return None

        return await self.write(claim)

    async def kv_get(self, namespace: str, id: str, query: KVQuery) -> list[StoredItem]:
        where, params = _predicate(query)
        order = "DESC" if query.descending else "ASC"

        def get(conn: sqlite3.Connection) -> list[StoredItem]:
            now = _now()
            rows = conn.execute(
                "SELECT key, value, metadata, expires_at FROM kv_items"
                f" WHERE ns = ? AND id = ? AND {_LIVE}{where} ORDER BY key {order} LIMIT ?",
                (namespace, id, now, *params, query.limit),
            ).fetchall()
            return [_item(r, now) for r in rows]

        return await self.read(get)

    async def kv_get_many(
        self, namespace: str, ids: Sequence[str], query: KVQuery
    ) -> dict[str, list[StoredItem]]:
        if not ids:
            return {}
        where, params = _predicate(query)
        order = "DESC" if query.descending else "ASC"
        marks = ",".join("?" * len(ids))

        def get(conn: sqlite3.Connection) -> dict[str, list[StoredItem]]:
            now = _now()
            rows = conn.execute(
                "SELECT id, key, value, metadata, expires_at FROM ("
                " SELECT id, key, value, metadata, expires_at,"
                f" ROW_NUMBER() OVER (PARTITION BY id ORDER BY key {order}) AS rn"
                f" FROM kv_items WHERE ns = ? AND id IN ({marks}) AND {_LIVE}{where})"
                f" WHERE rn <= ? ORDER BY id, key {order}",
                (namespace, *ids, now, *params, query.limit),
            ).fetchall()
            found: dict[str, list[StoredItem]] = {i: [] for i in ids}
            for row in rows:
                found[row[0]].append(_item(row, now))
            return found

        return await self.read(get)

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
        mine = (stamp.micros, stamp.nonce)

        def delete(conn: sqlite3.Connection) -> None:
            if keys is not None:
                for key in keys:
                    row = conn.execute(
                        "SELECT ts, nonce FROM kv_items WHERE ns = ? AND id = ? AND key = ?",
                        (namespace, id, key),
                    ).fetchone()
                    if row and tuple(row) >= mine:
                        continue
                    conn.execute(
                        "INSERT OR REPLACE INTO kv_items"
                        " (ns, id, key, value, metadata, ts, nonce, expires_at, deleted)"
                        " VALUES (?, ?, ?, x'', x'', ?, ?, NULL, 1)",
                        (namespace, id, key, stamp.micros, stamp.nonce),
                    )
                    _drop_older_chunks(conn, namespace, id, key, key + b"\0", stamp)
                return
            low = start if start is not None else b""
            conn.execute(
                "INSERT INTO kv_tombstones (ns, id, start, end_, ts, nonce) VALUES (?,?,?,?,?,?)",
                (namespace, id, low, end, stamp.micros, stamp.nonce),
            )
            bound = "" if end is None else " AND key < ?"
            extra: tuple[object, ...] = () if end is None else (end,)
            conn.execute(
                f"DELETE FROM kv_items WHERE ns = ? AND id = ? AND key >= ?{bound}"
                " AND (ts < ? OR (ts = ? AND nonce <= ?))",
                (namespace, id, low, *extra, stamp.micros, stamp.micros, stamp.nonce),
            )
            _drop_older_chunks(conn, namespace, id, low, end, stamp)

        await self.write(delete)

    async def kv_scan_ids(self, namespace: str, after: str | None, limit: int) -> list[str]:
        def scan(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                f"SELECT DISTINCT id FROM kv_items WHERE ns = ? AND id > ? AND {_LIVE}"
                " ORDER BY id LIMIT ?",
                (namespace, after or "", _now(), limit),
            ).fetchall()
            return [r[0] for r in rows]

        return await self.read(scan)

    async def kv_put_chunks(
        self,
        namespace: str,
        id: str,
        key: bytes,
        stamp: WriteStamp,
        chunks: Sequence[bytes],
        ttl_seconds: int | None,
    ) -> None:
        def put(conn: sqlite3.Connection) -> None:
            expires = _expiry(ttl_seconds, _now())
            conn.executemany(
                "INSERT OR REPLACE INTO kv_chunks (ns, id, key, version, seq, data, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(namespace, id, key, _version(stamp), seq, chunk, expires)
                 for seq, chunk in enumerate(chunks)],
            )

        await self.write(put)

    async def kv_get_chunks(
        self, namespace: str, id: str, key: bytes, stamp: WriteStamp, count: int
    ) -> list[bytes] | None:
        def get(conn: sqlite3.Connection) -> list[bytes] | None:
            rows = conn.execute(
                "SELECT data FROM kv_chunks WHERE ns = ? AND id = ? AND key = ? AND version = ?"
                " ORDER BY seq",
                (namespace, id, key, _version(stamp)),
            ).fetchall()
            return [bytes(r[0]) for r in rows] if len(rows) == count else None

        return await self.read(get)

    async def kv_collect_garbage(self, namespace: str, before: int, limit: int) -> int:
        """Remove what no read and no accepted write can need any more: item tombstones and
        expired items, range and record tombstones stamped before `before`, and expired chunks
        (their items read as expired already).  At most `limit` rows of each kind, in one short
        write, so requests' writes are not held up behind a long sweep.
        """

        def collect(conn: sqlite3.Connection) -> int:
            now = _now()
            gone = conn.execute(
                "DELETE FROM kv_items WHERE (ns, id, key) IN (SELECT ns, id, key FROM kv_items"
                " WHERE ns = ? AND deleted = 1 AND ts < ? LIMIT ?)",
                (namespace, before, limit),
            ).rowcount
            gone += conn.execute(
                "DELETE FROM kv_items WHERE (ns, id, key) IN (SELECT ns, id, key FROM kv_items"
                " WHERE ns = ? AND expires_at IS NOT NULL AND expires_at <= ? AND ts < ? LIMIT ?)",
                (namespace, now, before, limit),
            ).rowcount
            gone += conn.execute(
                "DELETE FROM kv_tombstones WHERE rowid IN (SELECT rowid FROM kv_tombstones"
                " WHERE ns = ? AND ts < ? LIMIT ?)",
                (namespace, before, limit),
            ).rowcount
            gone += conn.execute(
                "DELETE FROM kv_chunks WHERE (ns, id, key, version, seq) IN (SELECT ns, id, key,"
                " version, seq FROM kv_chunks WHERE ns = ? AND expires_at IS NOT NULL"
                " AND expires_at <= ? LIMIT ?)",
                (namespace, now, limit),
            ).rowcount
            return gone

        return await self.write(collect)


def _version(stamp: WriteStamp) -> str:
    """Chunk versions sort like stamps: fixed-width time, then nonce."""
    return f"{stamp.micros:020d}:{stamp.nonce}"


def _drop_older_chunks(
    conn: sqlite3.Connection, ns: str, id: str, start: bytes, end: bytes | None, stamp: WriteStamp
) -> None:
    """Chunks of values that a newer write replaced or deleted are no longer reachable."""
    bound = "" if end is None else " AND key < ?"
    extra: tuple[object, ...] = () if end is None else (end,)
    conn.execute(
        f"DELETE FROM kv_chunks WHERE ns = ? AND id = ? AND key >= ?{bound} AND version < ?",
        (ns, id, start, *extra, _version(stamp)),
    )
