"""Relational tables in PostgreSQL (15+) through asyncpg.

Types: text `text COLLATE "C"` (byte order, as SQLite sorts), int64 `bigint`, decimal
`numeric(18, scale)`, bool `boolean`, timestamp `timestamptz`, json `jsonb`.  Every transaction
runs on one pooled connection, at READ COMMITTED: a conditional update re-checks its condition
on the row it locked, so optimistic concurrency holds; serialization failures and deadlocks
are retried (a few times, with a short backoff) before they reach the caller.  Connection
failures become `StoreUnavailable`, a refused password `StoreRefused`, a statement past
`command_timeout` `StoreTimeout`; nothing is half-written either way (the transaction rolls
back with the connection).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from typing import Any

from backends.base import (
    Claim,
    Recorded,
    RowOp,
    RowOpFailed,
    RowQuery,
    StoreError,
    StoreRefused,
    StoreTimeout,
    StoreUnavailable,
)
from backends.clock import now_micros

try:
    import asyncpg
except ImportError:  # pragma: no cover - asyncpg is a dependency; the message says what to do
    asyncpg = None

_SQL_TYPES = {"text": 'text COLLATE "C"', "int64": "bigint", "decimal": "numeric",
              "bool": "boolean", "timestamp": "timestamptz", "json": "jsonb"}
_ARRAY_TYPES = {"text": "text[]", "int64": "bigint[]", "decimal": "numeric[]",
                "bool": "boolean[]", "timestamp": "timestamptz[]"}
META = [
    """CREATE TABLE IF NOT EXISTS rel_tables (
        namespace text NOT NULL, name text NOT NULL, spec text NOT NULL,
        PRIMARY KEY (namespace, name))""",
    """CREATE TABLE IF NOT EXISTS rel_idempotency (
        namespace text NOT NULL, key text NOT NULL, digest text NOT NULL, result text NOT NULL,
        created bigint NOT NULL, PRIMARY KEY (namespace, key))""",
]
RETRIES = 8
POOL_SIZE = 10
COMMAND_TIMEOUT = 30.0


class _Taken(Exception):
    """The idempotency key was claimed by another transaction: roll this one back."""


def _sql_type(column: Any) -> str:
    if column.type == "decimal":
        return f"numeric(18, {column.scale})"
    return _SQL_TYPES[column.type]


def _q(name: str) -> str:
    return f'"{name}"'


class _Shape:
    """A table's SQL pieces, made once."""

    def __init__(self, namespace: str, table: Any) -> None:
        self.table = table
        self.name = f'"r_{namespace}__{table.name}"'
        self.select = ", ".join(_q(c.name) for c in table.columns) + ", _version"
        self.types = {c.name: c.type for c in table.columns}
        self.pk = table.primary_key


def _translate(exc: BaseException) -> StoreError:
    if asyncpg is not None:
        if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
            return StoreRefused("PostgreSQL refused the credentials")
        if isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.InterfaceError
                      | asyncpg.InternalClientError
                      | asyncpg.CannotConnectNowError | asyncpg.AdminShutdownError
                      | asyncpg.CrashShutdownError | asyncpg.TooManyConnectionsError):
            return StoreUnavailable(f"PostgreSQL: {type(exc).__name__}")
        if isinstance(exc, asyncpg.QueryCanceledError):
            return StoreTimeout("PostgreSQL: the statement was cancelled (timeout)")
    if isinstance(exc, TimeoutError):
        return StoreTimeout("PostgreSQL did not answer in time")
    if isinstance(exc, OSError | ConnectionError):
        return StoreUnavailable(f"PostgreSQL: {exc.__class__.__name__}")
    return StoreError(f"PostgreSQL: {type(exc).__name__}")


def _retryable(exc: BaseException) -> bool:
    return asyncpg is not None and isinstance(
        exc, asyncpg.SerializationError | asyncpg.DeadlockDetectedError
    )


# What the driver raises when the server fails or goes away: InternalClientError is its
# "another operation is in progress" on a connection broken in the middle of a statement.
_DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError,
     TimeoutError)
    if asyncpg is not None else (OSError, TimeoutError)
)


async def _init(conn: Any) -> None:
    await conn.set_type_codec("jsonb", encoder=lambda v: json.dumps(v, separators=(",", ":")),
                              decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: Any) -> None:
    """Nothing to undo on release: this store leaves no session state behind (no SET, LISTEN,
    session advisory lock or open cursor; asyncpg itself rolls back a transaction left open).
    asyncpg's default reset would send `RESET ALL` and friends: a round trip per checkout."""


class PostgresRelational:
    """The `RelationalStore` on PostgreSQL: `postgresql://user:pass@host:port/db`."""

    backend = "postgres"

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        if asyncpg is None:
            raise ValueError("postgresql:// needs asyncpg: pip install asyncpg")
        self.url = url
        self._pool_size = pool_size
        self._pool: Any = None
        self._shapes: dict[tuple[str, str], _Shape] = {}

    def _shape(self, namespace: str, table: Any) -> _Shape:
        shape = self._shapes.get((namespace, table.name))
        if shape is None or shape.table is not table:
            shape = self._shapes[(namespace, table.name)] = _Shape(namespace, table)
        return shape

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=1, max_size=self._pool_size, init=_init, reset=_keep_session,
                command_timeout=COMMAND_TIMEOUT, timeout=10,
            )
            async with self._pool.acquire() as conn:
                for statement in META:
                    await conn.execute(statement)
        except _DRIVER_ERRORS as exc:
            await self.close()
            raise _translate(exc) from exc

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 10)
            except _DRIVER_ERRORS:
                pool.terminate()

    async def _with_conn(self, fn: Any) -> Any:
        """Run `fn(conn)` on one pooled connection, translating the driver's errors."""
        if self._pool is None:
            raise StoreUnavailable("the PostgreSQL store is not open")
        try:
            async with self._pool.acquire() as conn:
                return await fn(conn)
        except RowOpFailed:
            raise
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc

    async def ping(self) -> None:
        await self._with_conn(lambda conn: conn.fetchval("SELECT 1"))

    async def rel_migrate(self, namespace: str, tables: Sequence[Any], plan: Any) -> None:
        async def migrate(conn: Any) -> None:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('rel_migrate'))")
                for table in tables:
                    spec = await conn.fetchval(
                        "SELECT spec FROM rel_tables WHERE namespace = $1 AND name = $2",
                        namespace, table.name,
                    )
                    step = plan(table, json.loads(spec) if spec else None)
                    name = f'"r_{namespace}__{table.name}"'
                    if step.create:
                        cols = [f"{_q(c.name)} {_sql_type(c)}{' NOT NULL' if c.not_null else ''}"
                                for c in table.columns]
                        pk = ", ".join(_q(c) for c in table.primary_key)
                        await conn.execute(
                            f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(cols)}, "
                            f"_version bigint NOT NULL, PRIMARY KEY ({pk}))"
                        )
                    for c in step.add_columns:
                        await conn.execute(
                            f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS {_q(c.name)} "
                            f"{_sql_type(c)}"
                        )
                    for index in table.indexes if step.create else step.add_indexes:
                        cols = ", ".join(_q(c) for c in table.indexes[index])
                        await conn.execute(
                            f'CREATE INDEX IF NOT EXISTS "ri_{namespace}__{table.name}__{index}"'
                            f" ON {name} ({cols})"
                        )
                    await conn.execute(
                        "INSERT INTO rel_tables(namespace, name, spec) VALUES ($1, $2, $3) "
                        "ON CONFLICT (namespace, name) DO UPDATE SET spec = excluded.spec",
                        namespace, table.name, json.dumps(table.spec()),
                    )

        await self._with_conn(migrate)

    async def rel_get(
        self, namespace: str, table: Any, keys: Sequence[tuple[Any, ...]]
    ) -> list[tuple | None]:
        shape = self._shape(namespace, table)
        if not keys:
            return []
        pk = ", ".join(_q(c) for c in shape.pk)
        arrays = ", ".join(f"${i + 1}::{_ARRAY_TYPES[shape.types[c]]}"
                           for i, c in enumerate(shape.pk))
        sql = (f"SELECT {shape.select} FROM {shape.name} WHERE ({pk}) IN "
               f"(SELECT * FROM unnest({arrays}))")
        columns = [list(col) for col in zip(*keys, strict=True)]
        rows = await self._with_conn(lambda conn: conn.fetch(sql, *columns))
        positions = [table.names.index(c) for c in shape.pk]
        found = {}
        for record in rows:
            row = tuple(record)
            found[tuple(row[p] for p in positions)] = row
        return [found.get(tuple(k)) for k in keys]

    @staticmethod
    def _where(shape: _Shape, query: RowQuery, param: Any) -> str:
        """The WHERE / ORDER BY / LIMIT of `query`; `param(column, value)` names a value."""
        where = [f"{_q(c)} = {param(c, v)}" for c, v in query.equal]
        where += [f"{_q(c)} {op} {param(c, v)}" for c, op, v in query.ranges]
        where += [f"{_q(c)} IS NOT NULL" for c in query.order]
        if query.after is not None:
            cols = ", ".join(_q(c) for c in query.order)
            marks = ", ".join(param(c, v) for c, v in zip(query.order, query.after, strict=True))
            where.append(f"({cols}) {'<' if query.descending else '>'} ({marks})")
        direction = " DESC" if query.descending else ""
        order = ", ".join(f"{_q(c)}{direction}" for c in query.order)
        return f"WHERE {' AND '.join(where) or 'true'} ORDER BY {order} LIMIT {int(query.limit)}"

    @classmethod
    def _values(cls, shape: _Shape, query: RowQuery) -> list[Any]:
        """The values `_where` places, in its order."""
        values = [v for _, v in query.equal]
        values += [v for _, _, v in query.ranges]
        if query.after is not None:
            values += query.after
        return values

    async def rel_query_many(
        self, namespace: str, table: Any, queries: Sequence[RowQuery]
    ) -> list[list[tuple]]:
        shape = self._shape(namespace, table)
        if len(queries) == 1:
            params: list[Any] = []

            def param(column: str, value: Any) -> str:
                params.append(value)
                return f"${len(params)}"

            sql = f"SELECT {shape.select} FROM {shape.name} {self._where(shape, queries[0], param)}"
            rows = await self._with_conn(lambda conn: conn.fetch(sql, *params))
            return [list(rows)]
        # Many queries: one statement per shape of query, each value a column of an unnest()
        # that a LATERAL subquery reads row by row (one round trip for N accounts).
        groups: dict[tuple, list[int]] = {}
        for i, q in enumerate(queries):
            groups.setdefault(q.shape(), []).append(i)
        statements = []
        for members in groups.values():
            types: list[str] = []

            def named(column: str, value: Any, types: list[str] = types) -> str:
                types.append(_ARRAY_TYPES[shape.types[column]])
                return f"q.p{len(types)}"

            inner = self._where(shape, queries[members[0]], named)
            per_query = [self._values(shape, queries[i]) for i in members]
            columns = [list(col) for col in zip(*per_query, strict=True)]
            arrays = ", ".join(f"${n + 2}::{t}" for n, t in enumerate(types))
            names = ", ".join(f"p{n + 1}" for n in range(len(types)))
            outer_order = ", ".join(
                f"x.{_q(c)}{' DESC' if queries[members[0]].descending else ''}"
                for c in queries[members[0]].order
            )
            sql = (f"SELECT x.*, q.i FROM unnest($1::int[]{', ' if arrays else ''}{arrays}) "
                   f"AS q(i{', ' if names else ''}{names}) CROSS JOIN LATERAL "
                   f"(SELECT {shape.select} FROM {shape.name} {inner}) x "
                   f"ORDER BY q.i, {outer_order}")
            statements.append((sql, [members, *columns]))

        async def run(conn: Any) -> list[list[tuple]]:
            # Records as they come (sequences, the query's index last, after the version).
            out: list[list[Any]] = [[] for _ in queries]
            for sql, args in statements:
                for record in await conn.fetch(sql, *args):
                    out[record[-1]].append(record)
            return out

        return await self._with_conn(run)

    async def rel_sums(
        self, namespace: str, table: Any, group: str, keys: Sequence[Any],
        equal: Sequence[tuple[str, Any]], columns: Sequence[str],
    ) -> dict[Any, tuple]:
        shape = self._shape(namespace, table)
        if not keys:
            return {}
        sums = ", ".join(f"SUM({_q(c)})" for c in columns)
        where = [f"{_q(group)} = ANY($1::{_ARRAY_TYPES[shape.types[group]]})"]
        params: list[Any] = [list(keys)]
        for col, value in equal:
            params.append(value)
            where.append(f"{_q(col)} = ${len(params)}")
        sql = (f"SELECT {_q(group)}, {sums} FROM {shape.name} WHERE {' AND '.join(where)} "
               f"GROUP BY {_q(group)}")
        rows = await self._with_conn(lambda conn: conn.fetch(sql, *params))
        ints = [shape.types[c] == "int64" for c in columns]
        return {
            r[0]: tuple(int(v) if (is_int and v is not None) else v
                        for is_int, v in zip(ints, tuple(r)[1:], strict=True))
            for r in rows
        }

    async def rel_transact(
        self, namespace: str, ops: Sequence[RowOp], claim: Claim | None
    ) -> list[tuple | None] | Recorded:
        shapes = [self._shape(namespace, op.table) for op in ops]

        async def recorded(conn: Any) -> Recorded | None:
            row = await conn.fetchrow(
                "SELECT digest, result FROM rel_idempotency WHERE namespace = $1 AND key = $2",
                namespace, claim.key,  # type: ignore[union-attr]
            )
            return None if row is None else Recorded(row[0], row[1])

        async def once(conn: Any) -> list[tuple | None] | Recorded:
            # The key is claimed last, with the result: one statement fewer.  A transaction
            # with the same key committed meanwhile makes the claim wait for it and then find
            # the key taken: this one rolls back and answers with that result, as it does when
            # an operation fails because that transaction already made its writes.
            try:
                async with conn.transaction():
                    rows = [await self._apply(conn, i, op, shape)
                            for i, (op, shape) in enumerate(zip(ops, shapes, strict=True))]
                    if claim is not None:
                        claimed = await conn.fetchval(
                            "INSERT INTO rel_idempotency(namespace, key, digest, result, created)"
                            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1",
                            namespace, claim.key, claim.digest,
                            claim.render(rows), now_micros(),  # type: ignore[operator]
                        )
                        if claimed is None:
                            raise _Taken
                    return rows
            except (_Taken, RowOpFailed) as exc:
                found = await recorded(conn) if claim is not None else None
                if found is not None:
                    return found
                if isinstance(exc, _Taken):  # claimed, then forgotten: a store fault
                    raise StoreError("PostgreSQL: an idempotency key vanished") from None
                raise

        async def run(conn: Any) -> list[tuple | None] | Recorded:
            for attempt in range(RETRIES):
                try:
                    return await once(conn)
                except Exception as exc:
                    if not _retryable(exc) or attempt == RETRIES - 1:
                        raise
                    await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
            raise AssertionError("unreachable")

        return await self._with_conn(run)

    @staticmethod
    async def _apply(conn: Any, index: int, op: RowOp, shape: _Shape) -> tuple | None:
        try:
            if op.kind == "insert":
                cols = list(op.values)
                names = ", ".join(_q(c) for c in cols)
                marks = ", ".join(f"${i + 1}" for i in range(len(cols)))
                row = await conn.fetchrow(
                    f"INSERT INTO {shape.name} ({names}, _version) VALUES ({marks}, 1) "
                    f"ON CONFLICT DO NOTHING RETURNING {shape.select}",
                    *(op.values[c] for c in cols),
                )
                if row is None:
                    raise RowOpFailed(index, "exists")
                return tuple(row)
            params: list[Any] = []

            def param(value: Any) -> str:
                params.append(value)
                return f"${len(params)}"

            sets = [f"{_q(c)} = {param(v)}" for c, v in op.values.items()]
            where = [f"{_q(c)} = {param(v)}" for c, v in zip(shape.pk, op.key, strict=True)]
            key_params = params[len(sets):]
            where += [f"{_q(c)} IS NOT DISTINCT FROM {param(v)}" for c, v in op.expect.items()]
            if op.expect_version is not None:
                where.append(f"_version = {param(op.expect_version)}")
            condition = " AND ".join(where)
            if op.kind == "update":
                sets.append("_version = _version + 1")
                row = await conn.fetchrow(
                    f"UPDATE {shape.name} SET {', '.join(sets)} WHERE {condition} "
                    f"RETURNING {shape.select}", *params,
                )
            else:
                row = await conn.fetchrow(
                    f"DELETE FROM {shape.name} WHERE {condition} RETURNING _version", *params
                )
            if row is None:
                pk_where = " AND ".join(f"{_q(c)} = ${i + 1}" for i, c in enumerate(shape.pk))
                exists = await conn.fetchval(
                    f"SELECT 1 FROM {shape.name} WHERE {pk_where}", *key_params
                )
                raise RowOpFailed(index, "condition" if exists else "missing")
            return tuple(row) if op.kind == "update" else None
        except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError) as exc:
            raise RowOpFailed(index, "constraint") from exc

    async def rel_recorded(self, namespace: str, key: str) -> Recorded | None:
        row = await self._with_conn(lambda conn: conn.fetchrow(
            "SELECT digest, result FROM rel_idempotency WHERE namespace = $1 AND key = $2",
            namespace, key,
        ))
        return None if row is None else Recorded(row[0], row[1])

    async def rel_forget(self, namespace: str, older_than_micros: int) -> int:
        status = await self._with_conn(lambda conn: conn.execute(
            "DELETE FROM rel_idempotency WHERE namespace = $1 AND created < $2",
            namespace, older_than_micros,
        ))
        return int(status.split()[-1])
