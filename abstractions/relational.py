"""The Relational abstraction: declared tables, index queries and atomic transactions.

A namespace of kind `relational` declares its tables (abstractions/relational_schema.py); at
start every table is created or extended (only additive changes).  Operations:

- `get_rows`: rows by primary keys, many keys in one store call;
- `query` / `query_many`: rows through an index (the primary key or a declared one):
  equality on its leading columns, a range on the next, ordered by the rest of the index then
  the key, keyset-paginated with signed cursors (no gaps nor repeats under concurrent inserts);
- `transact`: inserts, updates and deletes, each optionally conditional on column values or the
  row's version, applied atomically, exactly once per idempotency key (the key is claimed in the
  same store transaction as the writes, with a digest of the operations: a retry gets the first
  result, a reuse with other operations `IdempotencyKeyReused`).

Values in: str (text), int (int64), Decimal / int / numeric string (decimal, at most `scale`
places), bool, ISO-8601 with a zone or an aware datetime (timestamp), any JSON value (json).
Rows out: dicts of Python values (`Decimal`, aware `datetime` in UTC) plus `_version`;
`to_json` makes them JSON-safe (decimals and timestamps as strings).  A transaction's result
is JSON-safe already, since it is what a retry replays.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from backends.base import Claim, Recorded, RelationalStore, RowOp, RowOpFailed, RowQuery
from backends.clock import now_micros

from .cursors import Cursors
from .errors import ClientError, IdempotencyKeyReused, InvalidArgument, TooLarge
from .metrics import CallCounter, StoreCalls
from .namespaces import Namespaces, RelationalNamespace
from .relational_schema import MAX_DIGITS, VERSION, Column, Table, plan_migration
from .tokens import PageTokens

log = logging.getLogger(__name__)
INT64 = (-(2**63), 2**63 - 1)
FORGET_INTERVAL_SECONDS = 600.0
RANGE_OPS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}
MAX_KEY_LENGTH = 256


class RowExists(ClientError):
    """An insert's primary key is taken."""

    code = "ROW_EXISTS"


class RowNotFound(ClientError):
    """An update or delete names a key no row has."""

    code = "ROW_NOT_FOUND"


class ConditionFailed(ClientError):
    """A conditional write found other values or another version: re-read and retry."""

    code = "CONDITION_FAILED"


class ConstraintViolation(ClientError):
    """A value breaks a column's declared constraint (not null, min, max, one of)."""

    code = "CONSTRAINT_VIOLATION"


_FAILURES: dict[str, tuple[type[ClientError], str]] = {
    "exists": (RowExists, "a row with this primary key exists"),
    "missing": (RowNotFound, "no row has this primary key"),
    "condition": (ConditionFailed, "the row does not have the expected values or version"),
    "constraint": (ConstraintViolation, "the store refused a value"),
}


@dataclass(frozen=True, slots=True)
class Condition:
    """`column op value`, op one of eq, lt, le, gt, ge."""

    column: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class RowPage:
    """A page of rows; `cursors[i]` resumes after row i (signed when first read)."""

    rows: list[dict[str, Any]]
    cursors: Sequence[str]
    has_next_page: bool

    @property
    def end_cursor(self) -> str | None:
        return self.cursors[-1] if self.cursors else None


@dataclass(frozen=True, slots=True)
class TransactResult:
    """The rows after each operation (JSON-safe; None for a delete), and whether this is the
    replay of an earlier attempt with the same idempotency key."""

    rows: list[dict[str, Any] | None]
    replayed: bool = False


# --- values -----------------------------------------------------------------------------------


def coerce(column: Column, value: Any, where: str, *, checks: bool = True) -> Any:
    """`value` as the Python value of `column`'s type, or `InvalidArgument` / a constraint
    (`checks=False`: the type only, for a value compared with, not written)."""
    if value is None:
        if column.not_null and checks:
            raise ConstraintViolation(f"{where}: column {column.name!r} must not be null")
        return None
    kind = column.type

    def bad() -> InvalidArgument:  # made only when raised: coerce runs per value
        return InvalidArgument(f"{where}: column {column.name!r} needs a {kind} value")

    if kind == "text":
        if not isinstance(value, str):
            raise bad()
        if "\x00" in value:
            raise InvalidArgument(f"{where}: column {column.name!r}: text holds a NUL")
        if checks and column.one_of is not None and value not in column.one_of:
            raise ConstraintViolation(
                f"{where}: column {column.name!r} must be one of {', '.join(column.one_of)}"
            )
        return value
    if kind == "int64":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        if not INT64[0] <= value <= INT64[1]:
            raise InvalidArgument(f"{where}: column {column.name!r} is outside 64 bits")
        if checks:
            _bounds(column, value, where)
        return value
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
            raise InvalidArgument(
                f"{where}: column {column.name!r} needs a decimal as a string or an integer"
            )
        try:
            number = Decimal(value)
        except InvalidOperation as exc:
            raise bad() from exc
        if not number.is_finite():
            raise bad()
        if number.as_tuple().exponent < -column.scale and number != number.quantize(
            Decimal(1).scaleb(-column.scale)
        ):
            raise InvalidArgument(
                f"{where}: column {column.name!r} keeps {column.scale} decimal places"
            )
        number = number.quantize(Decimal(1).scaleb(-column.scale))
        if len(number.as_tuple().digits) > MAX_DIGITS:
            raise InvalidArgument(f"{where}: column {column.name!r} holds at most 18 digits")
        if checks:
            _bounds(column, number, where)
        return number
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad()
        return value
    if kind == "timestamp":
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError as exc:
                raise InvalidArgument(
                    f"{where}: column {column.name!r} needs an ISO-8601 timestamp"
                ) from exc
        if not isinstance(value, datetime):
            raise bad()
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidArgument(
                f"{where}: column {column.name!r} needs a timestamp with a zone"
            )
        return value.astimezone(UTC)
    # json: any JSON value; checked by encoding it (no NaN, no non-JSON types)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise bad() from exc
    return value


def _bounds(column: Column, value: int | Decimal, where: str) -> None:
    if column.min is not None and value < Decimal(str(column.min)):
        raise ConstraintViolation(f"{where}: column {column.name!r} must be at least "
                                  f"{column.min}")
    if column.max is not None and value > Decimal(str(column.max)):
        raise ConstraintViolation(f"{where}: column {column.name!r} must be at most {column.max}")


def json_value(column: Column, value: Any) -> Any:
    """A stored Python value as JSON: decimals and timestamps as strings."""
    if value is None:
        return None
    if column.type == "decimal":
        return str(value)
    if column.type == "timestamp":
        return value.isoformat()
    return value


def to_json(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """A row with JSON-safe values (and its `_version`)."""
    out = {c.name: json_value(c, row.get(c.name)) for c in table.columns}
    out[VERSION] = row[VERSION]
    return out


def _row_dict(table: Table, row: tuple) -> dict[str, Any]:
    return dict(zip(table.row_names, row))  # noqa: B905  (as long by construction; faster)


class _Scope:
    """A query's cursor scope (the digest of what it asks), made when a cursor needs it."""

    __slots__ = ("_made", "_parts")

    def __init__(self, parts: list[Any]) -> None:
        self._parts = parts
        self._made: str | None = None

    def __call__(self) -> str:
        if self._made is None:
            self._made = "rel:" + _digest(self._parts)
        return self._made


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# --- the abstraction --------------------------------------------------------------------------


class Relational:
    """Tables over a `RelationalStore`, per namespace, as declared in the namespaces file."""

    def __init__(
        self,
        store: RelationalStore,
        namespaces: Namespaces,
        tokens: PageTokens,
        calls: CallCounter | None = None,
        store_calls: StoreCalls | None = None,
    ) -> None:
        self.store = store
        self._namespaces = namespaces
        self._tokens = tokens
        self._calls = calls or CallCounter()
        self._call = (store_calls or StoreCalls()).bind("relational", store)
        self._orders: dict[tuple, tuple[str, ...]] = {}  # index choice per query shape
        self._shapes: dict[tuple, tuple[Table, tuple[str, ...], list]] = {}  # see `_plan`
        self._forgetting: asyncio.Task[None] | None = None

    def namespace(self, name: str) -> RelationalNamespace:
        return self._namespaces.get(name, RelationalNamespace)

    async def start(self) -> None:
        """Open the store and bring every relational namespace's tables into it; a
        destructive change raises `TableConfigError` (the process must not start)."""
        await self.store.open()
        for ns in self._namespaces.all():
            if isinstance(ns, RelationalNamespace):
                where = f"{self._namespaces.source}: namespace {ns.name!r}"
                await self.store.rel_migrate(
                    ns.name, list(ns.tables.values()),
                    lambda table, stored, where=where: plan_migration(table, stored, where),
                )

    async def start_background(self, interval_seconds: float = FORGET_INTERVAL_SECONDS) -> None:
        """Forget idempotency keys past their retention, now and every `interval_seconds`."""
        if self._forgetting is None:
            self._forgetting = asyncio.create_task(self._forget_loop(interval_seconds))

    async def _forget_loop(self, interval_seconds: float) -> None:
        while True:
            try:
                await self.forget_old_keys()
            except Exception:
                log.exception("forgetting old relational idempotency keys failed; will retry")
            await asyncio.sleep(interval_seconds)

    async def stop(self) -> None:
        if self._forgetting is not None:
            self._forgetting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._forgetting
            self._forgetting = None
        await self.store.close()

    # reads

    def _key(self, table: Table, key: Mapping[str, Any], where: str) -> tuple[Any, ...]:
        if not isinstance(key, Mapping):
            raise InvalidArgument(f"{where}: a key is an object of the primary key's columns")
        extra = set(key) - set(table.primary_key)
        if extra or len(key) != len(table.primary_key):
            raise InvalidArgument(
                f"{where}: a key of table {table.name!r} names exactly "
                f"{', '.join(table.primary_key)}"
            )
        return tuple(
            coerce(table.column(c), key[c], where) for c in table.primary_key  # type: ignore[arg-type]
        )

    async def get_rows(
        self, namespace: str, table: str, keys: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any] | None]:
        """The rows with these keys, in order (None where there is none): one store call."""
        self._calls.record("relational", "get_rows")
        ns = self.namespace(namespace)
        spec = ns.table(table)
        if len(keys) > ns.max_keys_per_request:
            raise TooLarge(f"at most {ns.max_keys_per_request} keys per request")
        typed = [self._key(spec, k, f"key {i}") for i, k in enumerate(keys)]
        with self._call("get_rows"):
            rows = await self.store.rel_get(namespace, spec, typed)
        return [None if r is None else _row_dict(spec, r) for r in rows]

    def _plan(
        self, spec: Table, where: Sequence[Condition], order_by: str | None
    ) -> tuple[tuple[str, ...], list[tuple[str, Any]], list[tuple[str, str, Any]]]:
        """The order columns, equalities and ranges of a query, through the first index that
        serves it; `InvalidArgument` when none does.  A batch repeats one shape (columns and
        ops) with other values: a shape checked once is only given its values after that."""
        shape = (order_by, *[(c.column, c.op) for c in where])
        known = self._shapes.get(shape)
        if known is None or known[0] is not spec:
            order, _, _ = self._plan_shape(spec, where, order_by)  # raises what is wrong
            columns = [spec.column(c.column) for c in where]
            ops = [None if c.op == "eq" else RANGE_OPS[c.op] for c in where]
            known = (spec, order, list(zip(columns, ops, strict=True)))
            if len(self._shapes) >= 4096:  # shapes are few; a flood of odd ones is not kept
                self._shapes.clear()
            self._shapes[shape] = known
        _, order, slots = known
        equal_items: list[tuple[str, Any]] = []
        range_items: list[tuple[str, str, Any]] = []
        for i, (cond, (column, op)) in enumerate(zip(where, slots)):  # noqa: B905 (same shape)
            if cond.value is None:
                raise InvalidArgument(f"where {i}: compare with a value, not null")
            value = coerce(column, cond.value, f"where {i}", checks=False)
            if op is None:
                equal_items.append((column.name, value))
            else:
                range_items.append((column.name, op, value))
        return order, equal_items, range_items

    def _plan_shape(
        self, spec: Table, where: Sequence[Condition], order_by: str | None
    ) -> tuple[tuple[str, ...], list[tuple[str, Any]], list[tuple[str, str, Any]]]:
        """`_plan` checking every condition (a shape not seen before)."""
        equal: dict[str, Any] = {}
        ranges: list[tuple[str, str, Any]] = []
        for i, cond in enumerate(where):
            column = spec.column(cond.column)
            if column is None:
                raise InvalidArgument(f"where {i}: table {spec.name!r} has no column "
                                      f"{cond.column!r}")
            if column.type == "json":
                raise InvalidArgument(f"where {i}: json column {cond.column!r} is not indexed")
            if cond.value is None:
                raise InvalidArgument(f"where {i}: compare with a value, not null")
            value = coerce(column, cond.value, f"where {i}", checks=False)
            if cond.op == "eq":
                if column.name in equal:
                    raise InvalidArgument(f"where {i}: column {cond.column!r} twice with eq")
                equal[column.name] = value
            elif cond.op in RANGE_OPS:
                ranges.append((column.name, RANGE_OPS[cond.op], value))
            else:
                raise InvalidArgument(f"where {i}: op must be one of eq, lt, le, gt, ge")
        range_cols = {c for c, _, _ in ranges}
        if len(range_cols) > 1:
            raise InvalidArgument("a range condition may bound one column only")
        key = (id(spec), frozenset(equal), frozenset(range_cols), order_by)
        order = self._orders.get(key)
        if order is None:
            order = self._orders[key] = self._order(spec, equal, range_cols, order_by)
            if len(self._orders) > 4096:  # shapes are few; a flood of odd ones is not kept
                self._orders.clear()
        return order, list(equal.items()), ranges

    @staticmethod
    def _order(
        spec: Table, equal: Mapping[str, Any], range_cols: set[str], order_by: str | None
    ) -> tuple[str, ...]:
        for index in (spec.primary_key, *spec.indexes.values()):
            n = len(equal)
            if set(index[:n]) != set(equal):
                continue
            rest = list(index[n:]) + [c for c in spec.primary_key if c not in index]
            if range_cols and (not rest or rest[0] not in range_cols):
                continue
            if order_by is not None and (not rest or rest[0] != order_by):
                continue
            return tuple(rest) or tuple(spec.primary_key)
        raise InvalidArgument(
            f"no index of table {spec.name!r} serves these conditions: equality on an index's "
            "leading columns, a range and the order on the next one"
        )

    async def query(
        self,
        namespace: str,
        table: str,
        where: Sequence[Condition] = (),
        *,
        order_by: str | None = None,
        descending: bool = False,
        first: int | None = None,
        after: str | None = None,
    ) -> RowPage:
        """One page of rows through an index (see the module docstring)."""
        return (await self.query_many(namespace, table, [where], order_by=order_by,
                                      descending=descending, first=first, after=[after]))[0]

    async def query_many(
        self,
        namespace: str,
        table: str,
        wheres: Sequence[Sequence[Condition]],
        *,
        order_by: str | None = None,
        descending: bool = False,
        first: int | None = None,
        after: Sequence[str | None] | None = None,
    ) -> list[RowPage]:
        """`query` for many condition sets of one shape: one store call (the loaders' batch)."""
        self._calls.record("relational", "query")
        ns = self.namespace(namespace)
        spec = ns.table(table)
        limit = ns.page_rows if first is None else first
        if isinstance(limit, bool) or not isinstance(limit, int) or not (
            0 < limit <= ns.max_page_rows
        ):
            raise InvalidArgument(f"first must be from 1 to {ns.max_page_rows}")
        afters = list(after) if after is not None else [None] * len(wheres)
        queries, scopes = [], []
        for where, cursor in zip(wheres, afters, strict=True):
            order, equal, ranges = self._plan(spec, where, order_by)
            scope = _Scope([namespace, table, equal, ranges, order, descending])
            resume = None
            if cursor is not None:
                state = await self._tokens.verify(scope(), cursor)
                values = state.get("k")
                if not isinstance(values, list) or len(values) != len(order):
                    raise InvalidArgument("page token is not valid")
                resume = tuple(
                    coerce(spec.column(c), v, "page token")  # type: ignore[arg-type]
                    for c, v in zip(order, values, strict=True)
                )
            queries.append(RowQuery(tuple(equal), tuple(ranges), order, descending, resume,
                                    limit + 1))
            scopes.append(scope)
        with self._call("query"):
            results = await self.store.rel_query_many(namespace, spec, queries)
        pages = []
        states: dict[tuple[str, ...], Callable[[dict[str, Any]], dict[str, Any]]] = {}
        for query, scope, raw in zip(queries, scopes, results, strict=True):
            more = len(raw) > limit
            rows = [_row_dict(spec, r) for r in raw[:limit]]
            state = states.get(query.order)
            if state is None:
                state = states[query.order] = self._cursor_state(spec, query.order)
            pages.append(RowPage(rows, Cursors(self._tokens, scope, rows, state), more))
        return pages

    @staticmethod
    def _cursor_state(
        spec: Table, order: tuple[str, ...]
    ) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """What a cursor after a row holds: its values of the order columns, as JSON."""
        columns = [spec.column(c) for c in order]

        def state(row: dict[str, Any]) -> dict[str, Any]:
            return {"k": [json_value(c, row[c.name]) for c in columns]}  # type: ignore[union-attr]

        return state

    async def sums(
        self,
        namespace: str,
        table: str,
        group: str,
        keys: Sequence[Any],
        columns: Sequence[str],
        equal: Mapping[str, Any] | None = None,
    ) -> dict[Any, tuple]:
        """Per `group` value in `keys`, the sums of int64/decimal `columns` over the rows that
        match `equal` (0 for groups without rows): one store call."""
        self._calls.record("relational", "sums")
        ns = self.namespace(namespace)
        spec = ns.table(table)
        group_column = spec.column(group)
        if group_column is None:
            raise InvalidArgument(f"table {table!r} has no column {group!r}")
        for c in columns:
            col = spec.column(c)
            if col is None or col.type not in ("int64", "decimal"):
                raise InvalidArgument(f"column {c!r} is not an int64 or decimal column")
        typed_keys = [coerce(group_column, k, "key") for k in keys]
        eq = [(c, coerce(spec.column(c), v, "where")) for c, v in (equal or {}).items()]  # type: ignore[arg-type]
        with self._call("sums"):
            found = await self.store.rel_sums(namespace, spec, group, typed_keys, eq, columns)
        zero = tuple(0 if spec.column(c).type == "int64" else Decimal(0)  # type: ignore[union-attr]
                     for c in columns)
        return {k: tuple(v if v is not None else z for v, z in zip(found.get(k, zero), zero,
                                                                    strict=True))
                for k in typed_keys}

    # writes

    def _op(self, ns: RelationalNamespace, i: int, raw: Mapping[str, Any]) -> RowOp:
        where = f"operation {i}"
        if not isinstance(raw, Mapping):
            raise InvalidArgument(f"{where}: must be an object")
        unknown = set(raw) - {"op", "table", "key", "values", "expect", "expect_version"}
        if unknown:
            raise InvalidArgument(f"{where}: unknown field {sorted(unknown)[0]!r}")
        kind = raw.get("op")
        if kind not in ("insert", "update", "delete"):
            raise InvalidArgument(f"{where}: op must be insert, update or delete")
        table = raw.get("table")
        if not isinstance(table, str):
            raise InvalidArgument(f"{where}: table must be a table name")
        spec = ns.table(table)
        values = raw.get("values") or {}
        if not isinstance(values, Mapping):
            raise InvalidArgument(f"{where}: values must be an object of columns")
        for name in values:
            if spec.column(name) is None:
                raise InvalidArgument(f"{where}: table {table!r} has no column {name!r}")
        expect = raw.get("expect") or {}
        if not isinstance(expect, Mapping):
            raise InvalidArgument(f"{where}: expect must be an object of columns")
        version = raw.get("expect_version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                    or not 0 < version <= INT64[1]):
            raise InvalidArgument(f"{where}: expect_version must be a positive integer")
        typed_expect = {}
        for name, value in expect.items():
            column = spec.column(name)
            if column is None:
                raise InvalidArgument(f"{where}: table {table!r} has no column {name!r}")
            typed_expect[name] = coerce(
                Column(column.name, column.type, column.scale), value, where
            )
        if kind == "insert":
            if "key" in raw or expect or version is not None:
                raise InvalidArgument(f"{where}: an insert takes values only (the key is in them)")
            typed = {c.name: coerce(c, values.get(c.name), where) for c in spec.columns}
            key = tuple(typed[c] for c in spec.primary_key)
            return RowOp("insert", spec, key, typed)
        key = self._key(spec, raw.get("key"), where)  # type: ignore[arg-type]
        if kind == "delete" and values:
            raise InvalidArgument(f"{where}: a delete takes no values")
        for name in values:
            if name in spec.primary_key:
                raise InvalidArgument(f"{where}: an update cannot change the key column "
                                      f"{name!r}")
        typed_values = {n: coerce(spec.column(n), v, where)  # type: ignore[arg-type]
                        for n, v in values.items()}
        return RowOp(kind, spec, key, typed_values, typed_expect, version)

    async def transact(
        self,
        namespace: str,
        operations: Sequence[Mapping[str, Any]],
        idempotency_key: str | None = None,
        *,
        request: Any = None,
    ) -> TransactResult:
        """Apply `operations` (each `{op, table, key, values, expect, expect_version}`)
        atomically; exactly once per `idempotency_key` (see the module docstring).

        The key is bound to a digest of `request` (JSON-able; default: the operations): a
        caller that derives operations from a request (and a read) names the request, so its
        retry, whose operations may differ (a later timestamp), still replays the first result.

        A refused operation raises its error (`RowExists`, `RowNotFound`, `ConditionFailed`,
        `ConstraintViolation`, naming the operation's index) with nothing written.
        """
        self._calls.record("relational", "transact")
        ns = self.namespace(namespace)
        if not isinstance(operations, Sequence) or not operations:
            raise InvalidArgument("a transaction needs at least one operation")
        if len(operations) > ns.max_operations:
            raise TooLarge(f"at most {ns.max_operations} operations per transaction")
        ops = [self._op(ns, i, raw) for i, raw in enumerate(operations)]
        claim = None
        if idempotency_key is not None:
            if not isinstance(idempotency_key, str) or not (
                0 < len(idempotency_key) <= MAX_KEY_LENGTH
            ):
                raise InvalidArgument(f"idempotency key must be 1 to {MAX_KEY_LENGTH} characters")
            digest = _digest(operations if request is None else ["request", request])

            def render(rows: list[tuple | None]) -> str:
                return json.dumps(self._render(ops, rows), separators=(",", ":"))

            claim = Claim(idempotency_key, digest, render)
        try:
            with self._call("transact"):
                done = await self.store.rel_transact(namespace, ops, claim)
        except RowOpFailed as exc:
            error, text = _FAILURES.get(exc.reason, _FAILURES["constraint"])
            raise error(f"operation {exc.index}: {text}") from None
        if isinstance(done, Recorded):
            if claim is not None and done.digest != claim.digest:
                raise IdempotencyKeyReused(
                    "this idempotency key was used with other operations"
                )
            return TransactResult(json.loads(done.result), replayed=True)
        return TransactResult(self._render(ops, done))

    @staticmethod
    def _render(ops: Sequence[RowOp], rows: Sequence[tuple | None]) -> list[dict | None]:
        return [None if row is None else to_json(op.table, _row_dict(op.table, row))  # type: ignore[arg-type]
                for op, row in zip(ops, rows, strict=True)]

    async def recorded(
        self, namespace: str, idempotency_key: str, *, request: Any = None
    ) -> TransactResult | None:
        """The result kept for `idempotency_key`, if a transaction claimed it;
        `IdempotencyKeyReused` when it was claimed for another `request` (see `transact`)."""
        self._calls.record("relational", "recorded")
        self.namespace(namespace)
        with self._call("recorded"):
            found = await self.store.rel_recorded(namespace, idempotency_key)
        if found is None:
            return None
        if request is not None and found.digest != _digest(["request", request]):
            raise IdempotencyKeyReused("this idempotency key was used with another request")
        return TransactResult(json.loads(found.result), True)

    async def forget_old_keys(self) -> int:
        """Drop idempotency keys past their namespace's retention (background work)."""
        dropped = 0
        for ns in self._namespaces.all():
            if isinstance(ns, RelationalNamespace):
                cutoff = now_micros() - int(ns.idempotency_retention_seconds * 1e6)
                with self._call("forget"):
                    dropped += await self.store.rel_forget(ns.name, cutoff)
        return dropped

