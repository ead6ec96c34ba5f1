"""A coordinator whose schema lags answers "does not exist": that is an error, never an empty read.

After a node is killed and restarted it may lack the application keyspace for minutes; every
statement it coordinates fails with `InvalidRequest("keyspace ... does not exist")`.  A table
the store knows to exist (it made it, the driver's metadata lists it, or a host's schema has it)
is then read on another host; when no host can read it, the read fails (`StoreUnavailable`,
`UNAVAILABLE` through the abstractions).  Only a table the store never made reads as empty, and
a time slice that no host has reads as empty only once retention may have dropped it.

`LaggingSchema` stands in for the store's driver session: the statements naming one table are
sent instead to the same host as a statement the real server answers "does not exist" (a real
`ResponseFuture`, a real error).  One node stands in for the cluster: `deny="routed"` denies
the statements the load balancer routes (the lagging coordinator) and lets through those the
store sends to a host of its choosing (another replica); `deny="all"` denies them everywhere.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import pytest
from cassandra.query import BatchStatement, BoundStatement, SimpleStatement

from abstractions.errors import Unavailable
from abstractions.gateway import DataGateway
from abstractions.kv import Item
from abstractions.namespaces import Namespaces
from abstractions.timeseries import Event
from abstractions.tokens import IdempotencyToken, PageTokens
from backends.base import (
    CounterEvent,
    EventQuery,
    Fold,
    KVQuery,
    Rollup,
    StoredEvent,
    StoredItem,
    StoreUnavailable,
    TimeSeriesLayout,
    WriteStamp,
)
from backends.cassandra import CassandraStore
from backends.cassandra.schema import counter_table, kv_table, slice_table

from .conftest import OpenStore, needs_cassandra
from .helpers import SEC

pytestmark = [pytest.mark.cassandra, needs_cassandra]

MISSING_KEYSPACE = "gw_lag_missing"
DAY_SLICES = TimeSeriesLayout(
    seconds_per_slice=3600, seconds_per_bucket=600, event_buckets=2, retention_seconds=86400
)
Deny = Literal["routed", "all"]


def now_micros() -> int:
    return time.time_ns() // 1000


def _text(statement: Any) -> str:
    if isinstance(statement, BoundStatement):
        return statement.prepared_statement.query_string
    if isinstance(statement, BatchStatement):
        return " ".join(_text(s) for s, *_ in getattr(statement, "_statements_and_parameters", ()))
    return str(getattr(statement, "query_string", statement))


class LaggingSchema:
    """The store's session, with the statements naming `table` denied by a lagging schema."""

    def __init__(
        self, store: CassandraStore, table: str, *, deny: Deny = "routed",
        missing: Literal["keyspace", "table"] = "keyspace", prepares: int = 0,
    ) -> None:
        self._store = store
        self._session: Any = None  # the session in place when installed (`__enter__`)
        self.marker = f".{table} "
        self.deny = deny
        self.prepares = prepares  # how many PREPAREs of the table to deny
        self.denial = (
            f"SELECT * FROM {MISSING_KEYSPACE}.t" if missing == "keyspace"
            else f"SELECT * FROM {store.ks}.{table}_gone"
        )
        self.sent: list[Any] = []  # the `host=` of each statement naming the table
        self.denied = 0

    def __enter__(self) -> LaggingSchema:
        self._session = self._store.db._session
        self._store.db._session = self  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        self._store.db._session = self._session

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def denies(self, host: Any) -> bool:
        return self.deny == "all" or host is None

    def execute_async(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if self.marker in _text(statement):
            host = kwargs.get("host")
            self.sent.append(host)
            if self.denies(host):
                self.denied += 1
                return self._session.execute_async(
                    SimpleStatement(self.denial), timeout=kwargs.get("timeout"), host=host
                )
        return self._session.execute_async(statement, *args, **kwargs)

    def prepare(self, query: str, *args: Any, **kwargs: Any) -> Any:
        if self.marker in query and self.prepares:
            self.prepares -= 1
            return self._session.prepare(self.denial)  # raises the server's InvalidRequest
        return self._session.prepare(query, *args, **kwargs)


def lagging(store: CassandraStore, table: str, **options: Any) -> LaggingSchema:
    """`with lagging(store, table, ...) as lag:` denies `table` for the block."""
    return LaggingSchema(store, table, **options)


class FirstLookupMisses(LaggingSchema):
    """The first host asked whether a table exists has no such table in its schema."""

    def __init__(self, store: CassandraStore) -> None:
        super().__init__(store, "tables")  # system_schema.tables
        self.denial = (
            "SELECT table_name FROM system_schema.tables"
            f" WHERE keyspace_name = '{MISSING_KEYSPACE}' AND table_name = 'kv'"
        )  # no rows, no error: what a schema without the table answers

    def denies(self, host: Any) -> bool:
        return self.denied == 0


def retried_elsewhere(lag: LaggingSchema) -> bool:
    """The lagging coordinator was asked, then a host the store chose answered."""
    return lag.denied >= 1 and any(host is not None for host in lag.sent)


@pytest.fixture(params=["keyspace", "table"])
def missing(request: pytest.FixtureRequest) -> str:
    """What the lagging coordinator lacks: the keyspace (as after the crash) or the table."""
    return str(request.param)


def stamp() -> WriteStamp:
    return WriteStamp(now_micros(), "n")


# --- KV -------------------------------------------------------------------------------------


async def kv_data(store: CassandraStore, ns: str) -> list[bytes]:
    await store.kv_put(ns, "a", [StoredItem(b"k1", b"v1"), StoredItem(b"k2", b"v2")], stamp())
    await store.kv_put(ns, "b", [StoredItem(b"k1", b"w1")], stamp())
    chunks = [b"chunk0", b"chunk1"]
    await store.kv_put_chunks(ns, "a", b"big", WriteStamp(7, "c"), chunks, None)
    return chunks


async def test_kv_reads_a_lagging_coordinator_denies_are_answered_by_another_host(
    store: CassandraStore, ns_name: str, missing: str
) -> None:
    chunks = await kv_data(store, ns_name)
    with lagging(store, kv_table(ns_name), missing=missing) as lag:
        assert [i.value for i in await store.kv_get(ns_name, "a", KVQuery())] == [b"v1", b"v2"]
        assert retried_elsewhere(lag)
        many = await store.kv_get_many(ns_name, ["a", "b", "c"], KVQuery(keys=(b"k1",)))
        assert {k: [i.value for i in v] for k, v in many.items()} == {
            "a": [b"v1"], "b": [b"w1"], "c": []
        }
        assert sorted(await store.kv_scan_ids(ns_name, None, 10)) == ["a", "b"]
    with lagging(store, kv_table(ns_name, "kvc"), missing=missing) as lag:
        assert await store.kv_get_chunks(ns_name, "a", b"big", WriteStamp(7, "c"), 2) == chunks
        assert retried_elsewhere(lag)


async def test_a_read_over_many_driver_pages_retried_elsewhere_reads_every_page(
    open_store: OpenStore, ns_name: str
) -> None:
    store = await open_store(fetch_size=2)
    items = [StoredItem(f"k{i}".encode(), f"v{i}".encode()) for i in range(7)]
    await store.kv_put(ns_name, "r", items, stamp())
    with lagging(store, kv_table(ns_name)) as lag:
        found = await store.kv_get(ns_name, "r", KVQuery(limit=100))
    assert [i.value for i in found] == [i.value for i in items]
    assert retried_elsewhere(lag)


async def test_kv_reads_every_host_denies_are_unavailable_never_empty(
    store: CassandraStore, ns_name: str, missing: str
) -> None:
    await kv_data(store, ns_name)
    with lagging(store, kv_table(ns_name), deny="all", missing=missing):
        with pytest.raises(StoreUnavailable, match="does not exist"):
            await store.kv_get(ns_name, "a", KVQuery())
        with pytest.raises(StoreUnavailable):
            await store.kv_get_many(ns_name, ["a", "b"], KVQuery())
        with pytest.raises(StoreUnavailable):
            await store.kv_scan_ids(ns_name, None, 10)
    kvc = lagging(store, kv_table(ns_name, "kvc"), deny="all", missing=missing)
    with kvc, pytest.raises(StoreUnavailable):
        await store.kv_get_chunks(ns_name, "a", b"big", WriteStamp(7, "c"), 2)
    kvk = lagging(store, kv_table(ns_name, "kvk"), deny="all", missing=missing)
    with kvk, pytest.raises(StoreUnavailable):  # a put that cannot see its old chunks fails
        await store.kv_put(ns_name, "a", [StoredItem(b"big", b"small now")], stamp())


async def test_a_write_a_lagging_coordinator_denies_lands_through_another_host(
    store: CassandraStore, ns_name: str
) -> None:
    await kv_data(store, ns_name)
    with lagging(store, kv_table(ns_name)) as lag:
        await store.kv_put(ns_name, "c", [StoredItem(b"k", b"late")], stamp())
        assert retried_elsewhere(lag)
    assert [i.value for i in await store.kv_get(ns_name, "c", KVQuery())] == [b"late"]


async def test_a_kv_namespace_never_written_reads_empty_without_asking_a_table(
    store: CassandraStore, ns_name: str
) -> None:
    with lagging(store, kv_table(ns_name), deny="all") as lag:
        assert await store.kv_get(ns_name, "a", KVQuery()) == []
        assert await store.kv_get_many(ns_name, ["a"], KVQuery()) == {"a": []}
        assert await store.kv_scan_ids(ns_name, None, 10) == []
        assert await store.kv_get_chunks(ns_name, "a", b"k", WriteStamp(7, "c"), 1) is None
    assert lag.sent == []


async def test_a_statement_a_lagging_coordinator_cannot_prepare_is_prepared_elsewhere(
    store: CassandraStore, ns_name: str
) -> None:
    await kv_data(store, ns_name)
    fresh = CassandraStore(store.config)  # nothing prepared yet
    await fresh.open()
    try:
        with lagging(fresh, kv_table(ns_name), prepares=1) as lag:
            found = await fresh.kv_get(ns_name, "b", KVQuery())
            assert [i.value for i in found] == [b"w1"]
            assert lag.prepares == 0
    finally:
        await fresh.close()
    again = CassandraStore(store.config)
    await again.open()
    try:
        with lagging(again, kv_table(ns_name), prepares=100), pytest.raises(StoreUnavailable):
            await again.kv_get(ns_name, "b", KVQuery())
    finally:
        await again.close()


async def test_a_table_the_driver_metadata_lacks_is_looked_up_on_every_host(
    store: CassandraStore, ns_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver's metadata may come from the lagging node (its control connection): a
    table one host's schema lacks but another's has exists, and is read."""
    await kv_data(store, ns_name)
    fresh = CassandraStore(store.config)
    await fresh.open()
    try:
        monkeypatch.setattr(fresh.db, "table_names", set)
        host = next(iter(fresh.db.cluster.metadata.all_hosts()))
        monkeypatch.setattr(fresh.db, "schema_hosts", lambda: [host, host], raising=False)
        with FirstLookupMisses(fresh) as lag:
            found = await fresh.kv_get(ns_name, "b", KVQuery())
        assert [i.value for i in found] == [b"w1"]
        assert lag.denied == 1
    finally:
        await fresh.close()


# --- Counter --------------------------------------------------------------------------------


async def counter_data(store: CassandraStore, ns: str) -> int:
    await store.counter_incr(ns, "fast", 7)
    await store.counter_put_rollup(ns, "slow", Rollup(40, 1000))
    t = now_micros() - 60 * SEC
    await store.counter_append(ns, [
        CounterEvent("slow", t, "e1", 2, False), CounterEvent("slow", t + 1, "e2", 3, False),
    ])
    return t


COUNTER_TABLES = ("cf", "cr", "cb", "cl")


@pytest.mark.parametrize("kind", COUNTER_TABLES)
async def test_counter_reads_a_lagging_coordinator_denies_are_answered_by_another_host(
    store: CassandraStore, ns_name: str, kind: str
) -> None:
    t = await counter_data(store, ns_name)
    with lagging(store, counter_table(ns_name, kind)) as lag:
        assert await store.counter_values(ns_name, ["fast", "none"]) == {"fast": 7}
        assert await store.counter_rollups(ns_name, ["slow"]) == {"slow": Rollup(40, 1000)}
        folds = await store.counter_fold(ns_name, {"slow": (t - SEC, t + SEC)})
        assert folds == {"slow": Fold(5, False, t + 1)}
    assert retried_elsewhere(lag)


@pytest.mark.parametrize("kind", COUNTER_TABLES)
async def test_counter_reads_every_host_denies_are_unavailable_never_zero(
    store: CassandraStore, ns_name: str, kind: str
) -> None:
    t = await counter_data(store, ns_name)
    read = {
        "cf": lambda: store.counter_values(ns_name, ["fast"]),
        "cr": lambda: store.counter_rollups(ns_name, ["slow"]),
        "cb": lambda: store.counter_fold(ns_name, {"slow": (t - SEC, t + SEC)}),
        "cl": lambda: store.counter_fold(ns_name, {"slow": (t - SEC, t + SEC)}),
    }[kind]
    with lagging(store, counter_table(ns_name, kind), deny="all"):
        with pytest.raises(StoreUnavailable, match="does not exist"):
            await read()
        if kind == "cf":
            with pytest.raises(StoreUnavailable):  # a clear that cannot read does not clear
                await store.counter_zero(ns_name, "fast")
    assert await store.counter_values(ns_name, ["fast"]) == {"fast": 7}


async def test_a_counter_namespace_never_written_reads_zero_without_asking_a_table(
    store: CassandraStore, ns_name: str
) -> None:
    lags = [lagging(store, counter_table(ns_name, k), deny="all") for k in COUNTER_TABLES]
    for lag in lags:
        lag.__enter__()
    try:
        assert await store.counter_values(ns_name, ["x"]) == {}
        assert await store.counter_rollups(ns_name, ["x"]) == {}
        assert await store.counter_fold(ns_name, {"x": (0, now_micros())}) == {
            "x": Fold(0, False, None)
        }
        await store.counter_zero(ns_name, "x")
    finally:
        for lag in reversed(lags):
            lag.__exit__()
    assert all(lag.sent == [] for lag in lags)


# --- TimeSeries -----------------------------------------------------------------------------


async def ts_data(store: CassandraStore, ns: str) -> tuple[int, list[StoredEvent]]:
    now = now_micros()
    events = [StoredEvent(s, now - i * SEC, f"e{i}", {"k": str(i).encode()})
              for s in ("s1", "s2") for i in range(3)]
    await store.ts_write(ns, DAY_SLICES, events)
    return now, events


def of(series: str, events: list[StoredEvent]) -> list[StoredEvent]:
    return sorted((e for e in events if e.series_id == series),
                  key=lambda e: (e.event_time, e.event_id), reverse=True)


@pytest.mark.parametrize("which", ["slice", "ts_slices"])
async def test_ts_reads_a_lagging_coordinator_denies_are_answered_by_another_host(
    store: CassandraStore, ns_name: str, which: str, missing: str
) -> None:
    now, events = await ts_data(store, ns_name)
    table = slice_table(ns_name, DAY_SLICES.slice_of(now)) if which == "slice" else "ts_slices"
    window = EventQuery(now - 3600 * SEC, now + SEC, 10)
    with lagging(store, table, missing=missing) as lag:
        assert await store.ts_read(ns_name, DAY_SLICES, "s1", window) == of("s1", events)
        many = await store.ts_read_many(ns_name, DAY_SLICES, ["s1", "s2", "s3"], window)
        assert many == {"s1": of("s1", events), "s2": of("s2", events), "s3": []}
    assert retried_elsewhere(lag)


@pytest.mark.parametrize("which", ["slice", "ts_slices"])
async def test_ts_reads_every_host_denies_are_unavailable_never_empty(
    store: CassandraStore, ns_name: str, which: str
) -> None:
    now, _ = await ts_data(store, ns_name)
    table = slice_table(ns_name, DAY_SLICES.slice_of(now)) if which == "slice" else "ts_slices"
    window = EventQuery(now - 3600 * SEC, now + SEC, 10)
    with lagging(store, table, deny="all"):
        with pytest.raises(StoreUnavailable, match="does not exist"):
            await store.ts_read(ns_name, DAY_SLICES, "s1", window)
        with pytest.raises(StoreUnavailable):
            await store.ts_read_many(ns_name, DAY_SLICES, ["s1", "s2"], window)


async def test_a_listed_slice_no_host_has_reads_empty_once_past_retention(
    store: CassandraStore, ns_name: str
) -> None:
    """Retention drops a slice's table before unlisting it: a listed slice that retention may
    have dropped (with room for other processes' clocks) and that no host has is empty."""
    layout = TimeSeriesLayout(
        seconds_per_slice=60, seconds_per_bucket=60, event_buckets=1, retention_seconds=600
    )
    now = now_micros()
    old = layout.slice_of(now) - 3600  # an hour old: 50 minutes past retention
    event = StoredEvent("s", old * SEC, "e", {"k": b"v"})
    await store.ts_write(ns_name, layout, [event])
    window = EventQuery(0, now, 10)
    with lagging(store, slice_table(ns_name, old), deny="all"):
        assert await store.ts_read(ns_name, layout, "s", window) == []


# --- through the abstractions ---------------------------------------------------------------


@pytest.fixture
async def gateway_over(
    store: CassandraStore, namespaces: Namespaces
) -> DataGateway:
    gw = DataGateway(store, namespaces, page_tokens=PageTokens(b"test"))
    await gw.start(background=False)
    return gw


async def test_through_the_abstractions_every_host_denying_is_unavailable(
    gateway_over: DataGateway, store: CassandraStore, uid: str
) -> None:
    gw = gateway_over
    await gw.kv.put_items("kv_small", uid, [Item(b"k", b"v")], IdempotencyToken.new())
    await gw.counters.add("page_views", uid, 3)
    await gw.counters.add("title_plays", uid, 4, IdempotencyToken.new())
    await gw.counters.rollup("title_plays", [uid])  # a rollup row, even if of nothing yet
    await gw.counters.add("profile_plays", uid, 5, IdempotencyToken.new())
    await gw.timeseries.write_events(
        "viewing_history", [Event(uid, now_micros() - SEC, "e", {"k": b"v"})]
    )
    cases: list[tuple[str, Any]] = [
        (kv_table("kv_small"), lambda: gw.kv.get_items("kv_small", uid)),
        (kv_table("kv_small"), lambda: gw.kv.get_items_many("kv_small", [uid])),
        (counter_table("page_views", "cf"), lambda: gw.counters.get("page_views", uid)),
        (counter_table("title_plays", "cr"), lambda: gw.counters.get_many("title_plays", [uid])),
        (counter_table("profile_plays", "cl"), lambda: gw.counters.get("profile_plays", uid)),
        ("ts_slices", lambda: gw.timeseries.read_events("viewing_history", uid)),
        ("ts_slices", lambda: gw.timeseries.read_events_many("viewing_history", [uid])),
    ]
    for table, read in cases:
        with lagging(store, table, deny="all"), pytest.raises(Unavailable) as raised:
            await read()
        assert raised.value.code == "UNAVAILABLE"
        assert isinstance(raised.value.__cause__, StoreUnavailable)
    # ...and with one coordinator lagging, the same reads are right.
    with lagging(store, kv_table("kv_small")):
        page = await gw.kv.get_items("kv_small", uid)
        assert [i.value for i in page.items] == [b"v"]
    with lagging(store, counter_table("page_views", "cf")):
        assert await gw.counters.get("page_views", uid) == 3
    with lagging(store, "ts_slices"):
        events = await gw.timeseries.read_events("viewing_history", uid)
        assert [e.event_id for e in events.events] == ["e"]
