"""The storage interfaces every engine implements, and the one error family they raise.

The abstractions above do validation, tokens, paging, chunking and compression; a backend only
stores and fetches.  Every time is an integer count of microseconds since the Unix epoch, so that
Cassandra's write timestamps, SQLite's integers and Python agree without rounding.

Errors::

    StoreError                 the engine failed; the caller may retry
     ├── StoreUnavailable      not reachable, not enough replicas
     │    └── StoreRefused     reached, but the connection failed its security: credentials
     │                         refused, or a TLS handshake that failed (fix the settings)
     └── StoreTimeout          no answer within the call's deadline
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol, overload, runtime_checkable


class StoreError(Exception):
    """A storage engine failed to do what was asked; nothing about the request was wrong."""


class StoreUnavailable(StoreError):
    """The engine (or enough replicas of it) cannot be reached."""


class StoreRefused(StoreUnavailable):
    """The engine answered, but the connection failed its security checks: the credentials were
    refused, or TLS failed (a certificate not signed by the trusted CA, or one side not speaking
    TLS).  Retrying will not help until the settings change; the message is one line for the
    operator and never contains the password.  A `StoreUnavailable` because to a request that is
    what it means."""


class StoreTimeout(StoreError):
    """The engine did not answer within the deadline."""


class CountOutOfRange(ValueError):
    """An add would take a counter outside the signed 64-bit range; nothing was written."""


# --- Key-Value -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WriteStamp:
    """When a write was generated and by whom: last write wins by `micros`, ties by `nonce`."""

    micros: int
    nonce: str


class StoredItem(NamedTuple):
    """One KV item as stored: `value` may be compressed or empty (chunked); `metadata` says which.

    `metadata` is opaque to the backend; the abstraction reads it back to rebuild the value.
    A named tuple, not a dataclass: a read makes one per row, and a tuple is the cheapest
    immutable record to make (`tuple.__new__(StoredItem, fields)`) and to take apart.
    """

    key: bytes
    value: bytes
    metadata: bytes = b""
    ttl_seconds: int | None = None


class StoredItems(Sequence[StoredItem]):
    """The items of one read, held as four columns (a sequence of `StoredItem`s to anyone else).

    A store may answer `kv_get` with one to spare the abstraction an object per item: it builds
    its own items straight from the columns (see `abstractions.kv`), and a `StoredItem` is made
    only for an item asked for by index.  Compares equal to any sequence of the same items.
    """

    __slots__ = ("keys", "metadata", "ttls", "values")

    def __init__(
        self,
        keys: list[bytes],
        values: list[bytes],
        metadata: list[bytes],
        ttls: list[int | None],
    ) -> None:
        self.keys, self.values, self.metadata, self.ttls = keys, values, metadata, ttls

    @classmethod
    def of(cls, items: Iterable[StoredItem]) -> StoredItems:
        rows = list(items)
        return cls([i.key for i in rows], [i.value for i in rows], [i.metadata for i in rows],
                   [i.ttl_seconds for i in rows])

    def __len__(self) -> int:
        return len(self.keys)

    @overload
    def __getitem__(self, index: int) -> StoredItem: ...

    @overload
    def __getitem__(self, index: slice) -> StoredItems: ...

    def __getitem__(self, index: int | slice) -> StoredItem | StoredItems:
        if isinstance(index, slice):
            return StoredItems(self.keys[index], self.values[index], self.metadata[index],
                               self.ttls[index])
        return StoredItem(self.keys[index], self.values[index], self.metadata[index],
                          self.ttls[index])

    def __iter__(self) -> Iterator[StoredItem]:
        return map(StoredItem, self.keys, self.values, self.metadata, self.ttls)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # the columns are lists

    def __repr__(self) -> str:
        return f"StoredItems({list(self)!r})"


@dataclass(frozen=True, slots=True)
class KVQuery:
    """Which items of one record to fetch, in key order, after an optional resume point.

    `keys` selects exact keys; otherwise `start` (inclusive) and `end` (exclusive) bound a range
    (None is open).  `after` is the last key already returned, in the direction of travel.
    """

    keys: tuple[bytes, ...] | None = None
    start: bytes | None = None
    end: bytes | None = None
    after: bytes | None = None
    descending: bool = False
    limit: int = 100


@runtime_checkable
class KVStore(Protocol):
    """`id -> sorted map(key -> value)` per namespace, with last-write-wins by `WriteStamp`."""

    async def kv_put(
        self, namespace: str, id: str, items: Sequence[StoredItem], stamp: WriteStamp
    ) -> None:
        """Upsert items; an item (or tombstone) with a newer stamp is left as it is."""
        ...

    async def kv_put_if_absent(
        self, namespace: str, id: str, item: StoredItem, stamp: WriteStamp
    ) -> StoredItem | None:
        """Store `item` unless a live item has its key: None when stored, else that live item
        (its `ttl_seconds` not reported), with nothing written.

        Atomic across every process on the store: of concurrent claims of one key, exactly one
        stores (SQLite: one transaction; Cassandra: a lightweight transaction at SERIAL).  An
        expired or deleted item counts as absent.  Never for chunked values.
        """
        ...

    async def kv_get(self, namespace: str, id: str, query: KVQuery) -> Sequence[StoredItem]:
        """Live (not deleted, not expired) items of one record, in the query's order.

        A list, or `StoredItems` (columns) when that is cheaper for the store to make.
        """
        ...

    async def kv_get_many(
        self, namespace: str, ids: Sequence[str], query: KVQuery
    ) -> dict[str, Sequence[StoredItem]]:
        """`kv_get` for many records in one call; `query.limit` applies per record."""
        ...

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
        """Delete keys, a range, or (neither given) the whole record, as of `stamp`.

        Items written later with an older stamp stay deleted, as a tombstone would keep them.
        """
        ...

    async def kv_scan_ids(self, namespace: str, after: str | None, limit: int) -> list[str]:
        """Ids that hold at least one live item, in the store's scan order, after `after`.

        SQLite scans in id order, Cassandra in token order; resuming after an id works for both.
        """
        ...

    async def kv_put_chunks(
        self,
        namespace: str,
        id: str,
        key: bytes,
        stamp: WriteStamp,
        chunks: Sequence[bytes],
        ttl_seconds: int | None,
    ) -> None:
        """Store the chunks of one large value, under the stamp of the write that will point to it.

        Chunks are written before the item, so a reader never finds an item without its chunks.
        A later winning put or delete of the item removes chunks stamped before it.
        """
        ...

    async def kv_get_chunks(
        self, namespace: str, id: str, key: bytes, stamp: WriteStamp, count: int
    ) -> list[bytes] | None:
        """All `count` chunks written under `stamp`, or None when any is gone (replaced)."""
        ...


# --- TimeSeries ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeSeriesLayout:
    """How a namespace splits time: slices (tables, retention unit), buckets inside a slice."""

    seconds_per_slice: int
    seconds_per_bucket: int
    event_buckets: int
    retention_seconds: int

    def slice_of(self, micros: int) -> int:
        """The start (in seconds) of the slice holding `micros`."""
        seconds = micros // 1_000_000
        return seconds - seconds % self.seconds_per_slice


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event: `(series_id, event_time, event_id)` identifies it; items are key -> bytes."""

    series_id: str
    event_time: int
    event_id: str
    items: Mapping[str, bytes]


# The slots of `StoredEvent`, set directly: a read of a page of histories makes thousands of
# events, and the frozen dataclass's `__init__` sets each field by name through
# `object.__setattr__` (half the time of making one).  `stored_event_fast` is the same event.
_SET_EVENT_FIELDS = (
    StoredEvent.series_id.__set__,  # type: ignore[attr-defined]
    StoredEvent.event_time.__set__,  # type: ignore[attr-defined]
    StoredEvent.event_id.__set__,  # type: ignore[attr-defined]
    StoredEvent.items.__set__,  # type: ignore[attr-defined]
)


def stored_event_fast(
    series_id: str, event_time: int, event_id: str, items: Mapping[str, bytes]
) -> StoredEvent:
    """`StoredEvent(series_id, event_time, event_id, items)`, made without its `__init__`."""
    event = object.__new__(StoredEvent)
    set_series, set_time, set_id, set_items = _SET_EVENT_FIELDS
    set_series(event, series_id)
    set_time(event, event_time)
    set_id(event, event_id)
    set_items(event, items)
    return event


@dataclass(frozen=True, slots=True)
class EventCursor:
    """The last event already returned; reads newest first resume strictly below it."""

    event_time: int
    event_id: str
    series_id: str = ""


FieldType = Literal["keyword", "numeric", "date"]
Operator = Literal["eq", "gt", "gte", "lt", "lte"]


@dataclass(frozen=True, slots=True)
class Condition:
    """One search condition on an item's value, typed by the namespace's search fields."""

    key: str
    op: Operator
    value: str | float


@dataclass(frozen=True, slots=True)
class EventQuery:
    """A read or search over `[start, end)` in microseconds, newest first."""

    start: int
    end: int
    limit: int
    before: EventCursor | None = None
    equals: Mapping[str, bytes] = field(default_factory=dict)


@runtime_checkable
class TimeSeriesStore(Protocol):
    """Append-only event series split into time slices; `(time, id, item key)` is idempotent."""

    async def ts_write(
        self, namespace: str, layout: TimeSeriesLayout, events: Sequence[StoredEvent]
    ) -> None:
        """Durably store events; writing the same event again changes nothing."""
        ...

    async def ts_read(
        self, namespace: str, layout: TimeSeriesLayout, series_id: str, query: EventQuery
    ) -> list[StoredEvent]:
        """Events of one series, newest first, whose items include every `query.equals` pair."""
        ...

    async def ts_read_many(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        series_ids: Sequence[str],
        query: EventQuery,
    ) -> dict[str, list[StoredEvent]]:
        """`ts_read` for many series in one call; `query.limit` applies per series."""
        ...

    async def ts_drop_slices_before(
        self, namespace: str, layout: TimeSeriesLayout, cutoff_seconds: int
    ) -> list[int]:
        """Remove whole slices that end at or before `cutoff_seconds`; returns their starts."""
        ...

    async def ts_slices(self, namespace: str) -> list[int]:
        """Starts (seconds) of the slices that exist for a namespace, ascending."""
        ...


@runtime_checkable
class EventScan(Protocol):
    """A `TimeSeriesStore` that can list every event of an interval (to rebuild a search index)."""

    def ts_scan(
        self, namespace: str, layout: TimeSeriesLayout, start: int, end: int, batch: int = 500
    ) -> AsyncIterator[list[StoredEvent]]:
        """Every event in `[start, end)`, whole, in batches of at most `batch`, in any order."""
        ...


@runtime_checkable
class EventColumns(Protocol):
    """A `TimeSeriesStore` that can pivot events into typed columns itself (SQLite, in SQL), so
    an aggregate's open slices are read without an object per event."""

    async def ts_columns(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        start: int,
        end: int,
        columns: Mapping[str, FieldType],
        match: tuple[str, Sequence[str]] | None = None,
    ) -> list[tuple[object, ...]]:
        """One row per event of `[start, end)`: `(series_id, event_time, event_id, *values)`,
        each value as `columns` types it (keyword: str; numeric: float; date: epoch seconds;
        None when absent or not of that type).  `match = (key, values)`: only events whose
        `key` (an item key, or "series_id") is one of `values`."""
        ...


@runtime_checkable
class KVGarbage(Protocol):
    """A `KVStore` whose tombstones and expired items stay until someone collects them (SQLite).

    Cassandra collects its own (compaction, after the table's gc_grace_seconds) and has no
    such method.
    """

    async def kv_collect_garbage(self, namespace: str, before: int, limit: int) -> int:
        """Remove up to `limit` rows of each kind (item tombstones and expired items, range and
        record tombstones, expired chunks) stamped before `before`; return how many went."""
        ...


@runtime_checkable
class SearchIndex(Protocol):
    """Search across series: AND of conditions, newest first, and distinct values of one key.

    A store can be its own index (SQLite); then `index_events` and `drop_slices_before` do
    nothing, and `open`/`close` are the store's.  A separate index (OpenSearch, Elasticsearch)
    keeps one index per namespace per time slice, so retention drops it as the store drops its
    slices.
    """

    async def open(self) -> None:
        """Get ready to serve; must not fail when the engine is down (calls fail instead)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...

    async def index_events(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        fields: Mapping[str, FieldType],
        events: Sequence[StoredEvent],
        *,
        refresh_seconds: float = 1.0,
    ) -> None:
        """Make events searchable within about `refresh_seconds`; the same event again merges
        its items into what is indexed, as the store merges them."""
        ...

    async def drop_slices_before(
        self, namespace: str, layout: TimeSeriesLayout, cutoff_seconds: int
    ) -> list[int]:
        """Drop what indexes slices that end at or before `cutoff_seconds`; returns their starts."""
        ...

    async def search(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        fields: Mapping[str, FieldType],
        conditions: Sequence[Condition],
        query: EventQuery,
    ) -> list[StoredEvent]:
        """Events in the interval matching every condition, newest first, after `query.before`."""
        ...

    async def distinct(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        fields: Mapping[str, FieldType],
        key: str,
        conditions: Sequence[Condition],
        query: EventQuery,
    ) -> list[tuple[bytes, int]]:
        """Distinct values of item `key` among matching events, with counts, most frequent first."""
        ...


# --- Distributed Counter ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CounterEvent:
    """An add (or a reset, when `reset`) in a counter's event log; `(name, time, id)` is its key."""

    name: str
    event_time: int
    event_id: str
    delta: int = 0
    reset: bool = False


@dataclass(frozen=True, slots=True)
class Fold:
    """The log of one counter folded over a window: after a reset, only later deltas count."""

    total: int
    reset: bool
    last_event_time: int | None


@dataclass(frozen=True, slots=True)
class Rollup:
    """A counter's rolled-up count as of `as_of` (microseconds, inclusive); stored ones fit in
    64 bits."""

    count: int
    as_of: int


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What a counter's recomputation starts from, besides its rollup row.

    `base` is the count of every event at or before `base.as_of`: the log may no longer hold
    those events (retention deletes them once they are in a base).  `late` is the arrival time
    of the newest event written behind the accept window (a replayed retry), 0 if none: a
    rollup as of an earlier time may miss it and must be recomputed from the base.
    """

    base: Rollup | None = None
    late: int = 0


@runtime_checkable
class CounterStore(Protocol):
    """Event-log counters with rollup rows and checkpoints, and fast best-effort counters.

    Reads raise when they cannot read everything asked for: a fold or a checkpoint that could
    not be read is never answered as empty, since rollups are stored from what they return.
    """

    async def counter_append(self, namespace: str, events: Sequence[CounterEvent]) -> None:
        """Append events to the log; an event already there is left as it is."""
        ...

    async def counter_fold(
        self, namespace: str, windows: Mapping[str, tuple[int, int]]
    ) -> dict[str, Fold]:
        """For each counter, fold its log over `(after, until]` (microseconds).

        Totals are exact Python ints, also past 64 bits (the abstraction decides what such a
        count means); a fold never fails because of the values it sums.
        """
        ...

    async def counter_rollups(self, namespace: str, names: Sequence[str]) -> dict[str, Rollup]:
        """The stored rollups of the counters that have one."""
        ...

    async def counter_put_rollup(
        self, namespace: str, name: str, rollup: Rollup, *, replace: bool = False
    ) -> None:
        """Store a rollup unless one as of a later time is stored: concurrent rollups converge.

        `replace` (repairs) stores it whatever is stored, even as of the same or a later time.
        """
        ...

    async def counter_checkpoints(
        self, namespace: str, names: Sequence[str]
    ) -> dict[str, Checkpoint]:
        """The checkpoints of the counters that have one."""
        ...

    async def counter_put_base(self, namespace: str, name: str, base: Rollup) -> None:
        """Store a checkpoint's base unless one as of a later time is stored."""
        ...

    async def counter_mark_late(self, namespace: str, name: str, arrival: int) -> None:
        """Record that an event arrived at `arrival` behind the accept window (newest wins)."""
        ...

    async def counter_truncate(self, namespace: str, until: Mapping[str, int]) -> None:
        """Delete each counter's log events at or before its time in `until` (retention)."""
        ...

    async def counter_names(
        self, namespace: str, after: str | None, limit: int, *, logged: bool = False
    ) -> list[str]:
        """Up to `limit` counter names after `after`, in the store's scan order: those with a
        log, a rollup or a checkpoint, or with `logged` only those with events in the log."""
        ...

    async def counter_incr(self, namespace: str, name: str, delta: int) -> int:
        """Best-effort in-store add; returns the new value."""
        ...

    async def counter_values(self, namespace: str, names: Sequence[str]) -> dict[str, int]:
        """Best-effort values of the counters that exist."""
        ...

    async def counter_zero(self, namespace: str, name: str) -> None:
        """Best-effort clear."""
        ...


@runtime_checkable
class Store(KVStore, TimeSeriesStore, CounterStore, Protocol):
    """A storage engine that backs all three abstractions; opened and closed with the app."""

    async def open(self) -> None:
        """Connect and create what is missing (schema, tables)."""
        ...

    async def close(self) -> None:
        """Release connections; pending work is done before it returns."""
        ...

    async def ping(self) -> None:
        """Raise `StoreError` when the engine is not reachable (readiness)."""
        ...


# --- Cache engines -------------------------------------------------------------------------


class CacheError(Exception):
    """A cache engine failed (down, slow, refused).  Never a reason to fail a read: the
    abstraction falls through to the store.  Not a `StoreError`: the store did not fail."""


class CacheKey(NamedTuple):
    """A cache key and its route: every key with the same `route` lives on the same node (a
    record's generation and its pages), so one node's state decides what a read may serve.
    `name` is at most 250 bytes of printable ASCII without spaces (memcached's rule)."""

    route: str
    name: str


@runtime_checkable
class CacheEngine(Protocol):
    """A look-aside cache: bytes by key, each with a TTL in whole seconds (memcached's model).

    The engine's promise that the abstractions build on: once an operation on a node has
    failed (raised `CacheError`), no later operation in this process uses that node until it
    answers again and has been flushed; until then operations on its keys raise
    `CacheError` at once.  So a write whose invalidation failed never lets this process read
    the entry it could not invalidate.
    """

    backend: str

    async def get_many(self, keys: Sequence[CacheKey]) -> tuple[dict[CacheKey, bytes], set[str]]:
        """The values found (missing keys are left out), and the routes whose node could not
        be read (down, or it failed now): their keys are neither found nor known missing."""
        ...

    async def set(self, key: CacheKey, value: bytes, ttl: int) -> None: ...

    async def add(self, key: CacheKey, value: bytes, ttl: int) -> bool:
        """Store unless the key exists; True when stored."""
        ...

    async def incr(self, key: CacheKey, delta: int, initial: int, ttl: int) -> int:
        """Add a signed `delta` to an unsigned 64-bit counter (created at `initial`, then
        added to); the new value.  The TTL starts when the key is created."""
        ...

    async def get_counter(self, key: CacheKey) -> int | None: ...

    async def gets(self, key: CacheKey) -> tuple[bytes, int] | None:
        """The value and its CAS token (changed by every write of the key), or None."""
        ...

    async def cas(self, key: CacheKey, value: bytes, token: int, ttl: int) -> bool:
        """Store only if the key was not written since `gets` gave `token`; True when stored."""
        ...

    async def delete(self, key: CacheKey) -> None: ...

    def evictions(self) -> dict[str, int]:
        """Entries pushed out for room so far, by namespace where the engine can tell (the
        LRU), else under "" (memcached counts per server), as last seen."""
        ...

    async def close(self) -> None: ...


# --- Relational ------------------------------------------------------------------------------
# Tables are declared in the namespaces file (abstractions/relational_schema.py); a store gets a
# `Table` and values already checked and typed by the abstraction (str, int, Decimal, bool,
# aware datetime in UTC, JSON-able objects), and returns rows as tuples (or the driver's own
# sequences) in the table's column order followed by the row version (anything after that is
# ignored).


class RowOpFailed(Exception):
    """Operation `index` of a transaction was refused; nothing of the transaction was written.

    `reason`: "exists" (an insert's key is taken), "missing" (no row has the key), "condition"
    (the row's values or version are not the expected ones), "constraint" (the engine refused
    a value, e.g. out of its range).
    """

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"operation {index}: {reason}")
        self.index = index
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RowQuery:
    """Rows of one table by an index: `equal` pins the index's leading columns, `ranges` bound
    the next one (`op` in < <= > >=), `order` is the sort (index columns, then key columns),
    `after` the `order` values of the last row already returned."""

    equal: tuple[tuple[str, object], ...]
    ranges: tuple[tuple[str, str, object], ...]
    order: tuple[str, ...]
    descending: bool
    after: tuple[object, ...] | None
    limit: int

    def shape(self) -> tuple[object, ...]:
        """Everything but the values: queries of one shape share their statement's text."""
        return (tuple(c for c, _ in self.equal), tuple((c, op) for c, op, _ in self.ranges),
                self.order, self.descending, self.after is not None, self.limit)


@dataclass(frozen=True, slots=True)
class RowOp:
    """One write of a transaction: `kind` insert | update | delete; `key` the primary key's
    values; `values` the row (insert) or the columns to set (update); `expect` column values
    and `expect_version` the version the row must have for the write to apply."""

    kind: Literal["insert", "update", "delete"]
    table: object  # abstractions.relational_schema.Table (backends do not import abstractions)
    key: tuple[object, ...]
    values: Mapping[str, object] = field(default_factory=dict)
    expect: Mapping[str, object] = field(default_factory=dict)
    expect_version: int | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """The idempotency key a transaction claims in the same store transaction as its writes.

    `render` turns the written rows into the result kept with the key (JSON text), so a retry
    gets exactly the first attempt's result."""

    key: str
    digest: str
    render: object  # Callable[[list[tuple | None]], str]


@dataclass(frozen=True, slots=True)
class Recorded:
    """A claimed key's digest and the result kept with it."""

    digest: str
    result: str


@runtime_checkable
class RelationalStore(Protocol):
    """Tables, index queries and atomic transactions (SQLite, PostgreSQL)."""

    backend: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    async def rel_migrate(
        self, namespace: str, tables: Sequence[object], plan: object
    ) -> None:
        """Bring `tables` (`relational_schema.Table`s) into the store: in one transaction, one
        process at a time, read the spec kept for each, call `plan(table, spec | None)` for
        its `Migration` (which raises to refuse), apply it and keep the table's new spec."""
        ...

    async def rel_get(
        self, namespace: str, table: object, keys: Sequence[tuple[object, ...]]
    ) -> list[tuple | None]:
        """The rows with these primary keys, in the keys' order (None where none)."""
        ...

    async def rel_query_many(
        self, namespace: str, table: object, queries: Sequence[RowQuery]
    ) -> list[list[tuple]]:
        """Each query's rows (`RowQuery`), in one call to the engine."""
        ...

    async def rel_sums(
        self, namespace: str, table: object, group: str, keys: Sequence[object],
        equal: Sequence[tuple[str, object]], columns: Sequence[str],
    ) -> dict[object, tuple]:
        """Per value of `group` in `keys`: the sums of `columns` over rows matching `equal`
        (groups without rows are absent)."""
        ...

    async def rel_transact(
        self, namespace: str, ops: Sequence[RowOp], claim: Claim | None
    ) -> list[tuple | None] | Recorded:
        """Apply `ops` atomically: the rows after each (None for a delete), or raise
        `RowOpFailed` with nothing written.  With `claim`: a key already claimed returns its
        `Recorded` and writes nothing; else the key is kept with `claim.render(rows)` in the
        same transaction.  Serialization failures and deadlocks are retried inside."""
        ...

    async def rel_recorded(self, namespace: str, key: str) -> Recorded | None:
        """The digest and result kept for an idempotency key, if any."""
        ...

    async def rel_forget(self, namespace: str, older_than_micros: int) -> int:
        """Drop idempotency keys claimed before `older_than_micros`; how many."""
        ...
