"""Relational tables in the SQLite file: one table per declared table, writes on the writer thread.

Types as stored: text TEXT, int64 INTEGER, decimal INTEGER (the value times 10^scale, so it
is exact and sorts right), bool INTEGER, timestamp INTEGER (microseconds since the epoch, UTC),
json TEXT.  The single writer thread makes every transaction serial: no deadlocks, no
serialization failures to retry.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from backends.base import Claim, Recorded, RowOp, RowOpFailed, RowQuery
from backends.clock import now_micros

from .db import SQLiteDB

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICRO = timedelta(microseconds=1)
_SQL_TYPES = {"text": "TEXT", "int64": "INTEGER", "decimal": "INTEGER", "bool": "INTEGER",
              "timestamp": "INTEGER", "json": "TEXT"}
META = """
CREATE TABLE IF NOT EXISTS rel_tables (
    namespace TEXT NOT NULL, name TEXT NOT NULL, spec TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rel_idempotency (
    namespace TEXT NOT NULL, key TEXT NOT NULL, digest TEXT NOT NULL, result TEXT NOT NULL,
    created INTEGER NOT NULL, PRIMARY KEY (namespace, key)
) WITHOUT ROWID
"""


def table_name(namespace: str, table: Any) -> str:
    return f'"r_{namespace}__{table.name}"'


def encoder(column: Any) -> Callable[[Any], Any]:
    """Python value -> stored value, for one column."""
    kind = column.type
    if kind == "decimal":
        scale = column.scale
        return lambda v: None if v is None else int(v.scaleb(scale))
    if kind == "timestamp":
        return lambda v: None if v is None else (v - EPOCH) // MICRO
    if kind == "bool":
        return lambda v: None if v is None else int(v)
    if kind == "json":
        return lambda v: None if v is None else json.dumps(v, separators=(",", ":"))
    return lambda v: v


def decoder(column: Any) -> Callable[[Any], Any] | None:
    """Stored value -> Python value, for one column (None: as stored)."""
    kind = column.type
    if kind == "decimal":
        scale = -column.scale
        return lambda v: None if v is None else Decimal(v).scaleb(scale)
    if kind == "timestamp":
        return lambda v: None if v is None else EPOCH + v * MICRO
    if kind == "bool":
        return lambda v: None if v is None else bool(v)
    if kind == "json":
        return lambda v: None if v is None else json.loads(v)
    return None


class _Codec:
    """A table's column list, encoders and row decoder, made once per table."""

    def __init__(self, namespace: str, table: Any) -> None:
        self.table = table
        self.name = table_name(namespace, table)
        self.columns = [c.name for c in table.columns]
        self.select = ", ".join(f'"{c}"' for c in self.columns) + ", _version"
        self.enc = {c.name: encoder(c) for c in table.columns}
        decs = [decoder(c) for c in table.columns]
        self._decs = [(i, d) for i, d in enumerate(decs) if d is not None]
        self.pk_where = " AND ".join(f'"{c}" = ?' for c in table.primary_key)
        self.queries: dict[tuple, str] = {}  # query text by shape (see `_query_sql`)

    def row(self, raw: Sequence[Any]) -> tuple:
        if not self._decs:
            return tuple(raw)
        out = list(raw)
        for i, dec in self._decs:
            out[i] = dec(out[i])
        return tuple(out)

    def key(self, values: Sequence[Any]) -> list[Any]:
        return [self.enc[c](v) for c, v in zip(self.table.primary_key, values, strict=True)]


class SQLiteRelational:
    """The `RelationalStore` over a `SQLiteDB` (the gateway's own file, by default)."""

    backend = "sqlite"

    def __init__(self, db: SQLiteDB, *, owned: bool = False) -> None:
        self.db = db
        self._owned = owned  # opened and closed here, or by the gateway's store
        self._codecs: dict[tuple[str, str], _Codec] = {}

    def _codec(self, namespace: str, table: Any) -> _Codec:
        codec = self._codecs.get((namespace, table.name))
        if codec is None or codec.table is not table:
            codec = self._codecs[(namespace, table.name)] = _Codec(namespace, table)
        return codec

    async def open(self) -> None:
        if self._owned:
            await self.db.open()

        def meta(conn: sqlite3.Connection) -> None:
            for statement in META.split(";"):
                conn.execute(statement)

        await self.db.write(meta)

    async def close(self) -> None:
        if self._owned:
            await self.db.close()

    async def ping(self) -> None:
        await self.db.ping()

    async def rel_migrate(self, namespace: str, tables: Sequence[Any], plan: Any) -> None:
        def migrate(conn: sqlite3.Connection) -> None:
            for table in tables:
                row = conn.execute(
                    "SELECT spec FROM rel_tables WHERE namespace = ? AND name = ?",
                    (namespace, table.name),
                ).fetchone()
                step = plan(table, json.loads(row[0]) if row else None)
                name = table_name(namespace, table)
                if step.create:
                    cols = [
                        f'"{c.name}" {_SQL_TYPES[c.type]}{" NOT NULL" if c.not_null else ""}'
                        for c in table.columns
                    ]
                    pk = ", ".join(f'"{c}"' for c in table.primary_key)
                    conn.execute(
                        f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(cols)}, "
                        f"_version INTEGER NOT NULL, PRIMARY KEY ({pk})) WITHOUT ROWID"
                    )
                for c in step.add_columns:
                    conn.execute(f'ALTER TABLE {name} ADD COLUMN "{c.name}" {_SQL_TYPES[c.type]}')
                for index in table.indexes if step.create else step.add_indexes:
                    cols = ", ".join(f'"{c}"' for c in table.indexes[index])
                    conn.execute(
                        f'CREATE INDEX IF NOT EXISTS "ri_{namespace}__{table.name}__{index}" '
                        f"ON {name} ({cols})"
                    )
                conn.execute(
                    "INSERT INTO rel_tables(namespace, name, spec) VALUES (?, ?, ?) "
                    "ON CONFLICT(namespace, name) DO UPDATE SET spec = excluded.spec",
                    (namespace, table.name, json.dumps(table.spec())),
                )

        await self.db.write(migrate)

    async def rel_get(
        self, namespace: str, table: Any, keys: Sequence[tuple[Any, ...]]
    ) -> list[tuple | None]:
        codec = self._codec(namespace, table)
        if not keys:
            return []
        width = len(table.primary_key)
        pk = ", ".join(f'"{c}"' for c in table.primary_key)
        values = ", ".join([f"({', '.join('?' * width)})"] * len(keys))
        params = [v for key in keys for v in codec.key(key)]
        sql = f"SELECT {codec.select} FROM {codec.name} WHERE ({pk}) IN (VALUES {values})"

        def decode(rows: list[Any]) -> list[tuple | None]:
            found = {}
            for raw in rows:
                row = codec.row(raw)
                found[tuple(row[codec.columns.index(c)] for c in table.primary_key)] = row
            return [found.get(tuple(k)) for k in keys]

        return await self.db.select(sql, params, decode)

    def _query_sql(self, codec: _Codec, query: RowQuery) -> tuple[str, list[Any]]:
        enc = codec.enc
        params = [enc[col](value) for col, value in query.equal]
        params += [enc[col](value) for col, _, value in query.ranges]
        if query.after is not None:
            params += [enc[c](v) for c, v in zip(query.order, query.after, strict=True)]
        # A batch asks one shape many times: its text is made once.
        shape = query.shape()
        sql = codec.queries.get(shape)
        if sql is None:
            sql = self._query_text(codec, query)
            if len(codec.queries) > 1024:  # shapes are few; a flood of odd ones is not kept
                codec.queries.clear()
            codec.queries[shape] = sql
        return sql, params

    @staticmethod
    def _query_text(codec: _Codec, query: RowQuery) -> str:
        where = [f'"{col}" = ?' for col, _ in query.equal]
        where += [f'"{col}" {op} ?' for col, op, _ in query.ranges]
        where += [f'"{col}" IS NOT NULL' for col in query.order]
        if query.after is not None:
            cols = ", ".join(f'"{c}"' for c in query.order)
            where.append(f"({cols}) {'<' if query.descending else '>'} "
                         f"({', '.join('?' * len(query.order))})")
        direction = " DESC" if query.descending else ""
        order = ", ".join(f'"{c}"{direction}' for c in query.order)
        return (f"SELECT {codec.select} FROM {codec.name} WHERE {' AND '.join(where) or '1'} "
                f"ORDER BY {order} LIMIT {int(query.limit)}")

    async def rel_query_many(
        self, namespace: str, table: Any, queries: Sequence[RowQuery]
    ) -> list[list[tuple]]:
        codec = self._codec(namespace, table)
        statements = [self._query_sql(codec, q) for q in queries]

        def run(conn: sqlite3.Connection) -> list[list[tuple]]:
            return [[codec.row(r) for r in conn.execute(sql, params).fetchall()]
                    for sql, params in statements]

        return await self.db.read(run, snapshot=len(statements) > 1)

    async def rel_sums(
        self, namespace: str, table: Any, group: str, keys: Sequence[Any],
        equal: Sequence[tuple[str, Any]], columns: Sequence[str],
    ) -> dict[Any, tuple]:
        codec = self._codec(namespace, table)
        if not keys:
            return {}
        sums = ", ".join(f'SUM("{c}")' for c in columns)
        where = [f'"{group}" IN ({", ".join("?" * len(keys))})']
        params = [codec.enc[group](k) for k in keys]
        for col, value in equal:
            where.append(f'"{col}" = ?')
            params.append(codec.enc[col](value))
        sql = (f'SELECT "{group}", {sums} FROM {codec.name} WHERE {" AND ".join(where)} '
               f'GROUP BY "{group}"')
        decs = [decoder(table.column(c)) for c in columns]
        dec_group = decoder(table.column(group)) or (lambda v: v)

        def decode(rows: list[Any]) -> dict[Any, tuple]:
            return {
                dec_group(r[0]): tuple(d(v) if d else v for d, v in zip(decs, r[1:], strict=True))
                for r in rows
            }

        return await self.db.select(sql, params, decode)

    async def rel_transact(
        self, namespace: str, ops: Sequence[RowOp], claim: Claim | None
    ) -> list[tuple | None] | Recorded:
        codecs = [self._codec(namespace, op.table) for op in ops]

        def transact(conn: sqlite3.Connection) -> list[tuple | None] | Recorded:
            if claim is not None:
                row = conn.execute(
                    "SELECT digest, result FROM rel_idempotency WHERE namespace = ? AND key = ?",
                    (namespace, claim.key),
                ).fetchone()
                if row is not None:
                    return Recorded(row[0], row[1])
            rows = [self._apply(conn, i, op, codec)
                    for i, (op, codec) in enumerate(zip(ops, codecs, strict=True))]
            if claim is not None:
                conn.execute(
                    "INSERT INTO rel_idempotency(namespace, key, digest, result, created) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (namespace, claim.key, claim.digest, claim.render(rows), now_micros()),
                )
            return rows

        return await self.db.write(transact)

    @staticmethod
    def _apply(conn: sqlite3.Connection, index: int, op: RowOp, codec: _Codec) -> tuple | None:
        try:
            if op.kind == "insert":
                cols = list(op.values)
                names = ", ".join(f'"{c}"' for c in cols)
                marks = ", ".join("?" * len(cols))
                raw = conn.execute(
                    f"INSERT INTO {codec.name} ({names}, _version) VALUES ({marks}, 1) "
                    f"ON CONFLICT DO NOTHING RETURNING {codec.select}",
                    [codec.enc[c](op.values[c]) for c in cols],
                ).fetchone()
                if raw is None:
                    raise RowOpFailed(index, "exists")
                return codec.row(raw)
            where = [codec.pk_where]
            params: list[Any] = []
            for col, value in op.expect.items():
                where.append(f'"{col}" IS ?')
                params.append(codec.enc[col](value))
            if op.expect_version is not None:
                where.append("_version = ?")
                params.append(op.expect_version)
            condition = " AND ".join(where)
            key = codec.key(op.key)
            if op.kind == "update":
                sets = [f'"{c}" = ?' for c in op.values] + ["_version = _version + 1"]
                raw = conn.execute(
                    f"UPDATE {codec.name} SET {', '.join(sets)} WHERE {condition} "
                    f"RETURNING {codec.select}",
                    [*(codec.enc[c](v) for c, v in op.values.items()), *key, *params],
                ).fetchone()
            else:
                raw = conn.execute(
                    f"DELETE FROM {codec.name} WHERE {condition} RETURNING _version",
                    [*key, *params],
                ).fetchone()
            if raw is None:
                exists = conn.execute(
                    f"SELECT 1 FROM {codec.name} WHERE {codec.pk_where}", key
                ).fetchone()
                raise RowOpFailed(index, "condition" if exists else "missing")
            return codec.row(raw) if op.kind == "update" else None
        except sqlite3.IntegrityError as exc:
            raise RowOpFailed(index, "constraint") from exc

    async def rel_recorded(self, namespace: str, key: str) -> Recorded | None:
        return await self.db.select(
            "SELECT digest, result FROM rel_idempotency WHERE namespace = ? AND key = ?",
            (namespace, key),
            lambda rows: Recorded(rows[0][0], rows[0][1]) if rows else None,
        )

    async def rel_forget(self, namespace: str, older_than_micros: int) -> int:
        return await self.db.write(lambda conn: conn.execute(
            "DELETE FROM rel_idempotency WHERE namespace = ? AND created < ?",
            (namespace, older_than_micros),
        ).rowcount)
