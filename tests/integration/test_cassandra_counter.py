"""Counters on Cassandra: the bucketed event log, converging rollups, native counters."""

from __future__ import annotations

import asyncio

import pytest

from abstractions.gateway import DataGateway
from abstractions.namespaces import (
    CounterNamespace,
    KVNamespace,
    Namespaces,
    Settings,
    TimeSeriesNamespace,
)
from abstractions.tokens import IdempotencyToken, now_micros
from backends.base import CounterEvent, Fold, Rollup, StoreError
from backends.cassandra import CassandraStore
from backends.cassandra.counter import LOG_BUCKET_SECONDS, log_bucket
from backends.cassandra.errors import MissingTable
from backends.cassandra.schema import counter_table

from .conftest import needs_cassandra
from .helpers import SEC, cql, tables

pytestmark = [pytest.mark.cassandra, needs_cassandra]


async def test_fold_reads_every_listed_log_bucket_of_the_window(
    store: CassandraStore, ns_name: str
) -> None:
    step = LOG_BUCKET_SECONDS * SEC
    t = now_micros() - 10 * step
    events = [
        CounterEvent("c", t, "a", delta=5),
        CounterEvent("c", t + step, "b", delta=7),
        CounterEvent("c", t + 2 * step, "reset", reset=True),
        CounterEvent("c", t + 3 * step, "d", delta=2),
        CounterEvent("c", t + 5 * step, "e", delta=3),
    ]
    await store.counter_append(ns_name, events)
    await store.counter_append(ns_name, events[:2])  # a retried append changes nothing
    buckets = await cql(
        store,
        f"SELECT time_bucket FROM {store.config.keyspace}.{counter_table(ns_name, 'cb')}"
        " WHERE name = %s",
        ["c"],
    )
    assert sorted(b for (b,) in buckets) == sorted({log_bucket(e.event_time) for e in events})

    folds = await store.counter_fold(ns_name, {
        "c": (0, 2**63 - 1),
        "none": (0, 2**63 - 1),
    })
    assert folds["c"] == Fold(5, True, t + 5 * step)
    assert folds["none"] == Fold(0, False, None)
    before_reset = await store.counter_fold(ns_name, {"c": (0, t + step)})
    assert before_reset["c"] == Fold(12, False, t + step)
    assert (await store.counter_fold(ns_name, {"c": (t + 3 * step, t + 5 * step)}))["c"] == Fold(
        3, False, t + 5 * step
    )


async def test_concurrent_rollups_converge_on_the_latest_as_of(
    store: CassandraStore, ns_name: str
) -> None:
    await store.counter_put_rollup(ns_name, "c", Rollup(10, 2_000))
    await store.counter_put_rollup(ns_name, "c", Rollup(7, 1_000))  # a slower, older rollup
    assert await store.counter_rollups(ns_name, ["c", "other"]) == {"c": Rollup(10, 2_000)}
    await store.counter_put_rollup(ns_name, "c", Rollup(12, 3_000))
    assert await store.counter_rollups(ns_name, ["c"]) == {"c": Rollup(12, 3_000)}


async def test_best_effort_counters_clear_and_count_again(
    store: CassandraStore, ns_name: str
) -> None:
    assert await store.counter_incr(ns_name, "c", 5) == 5
    assert await store.counter_incr(ns_name, "c", -2) == 3
    await store.counter_zero(ns_name, "c")
    assert await store.counter_values(ns_name, ["c", "other"]) == {"c": 0}
    assert await store.counter_incr(ns_name, "c", 4) == 4
    await store.counter_zero(ns_name, "never-added")
    assert await store.counter_values(ns_name, ["c"]) == {"c": 4}


async def test_namespace_tables_can_be_made_before_any_request(
    store: CassandraStore, ns_name: str
) -> None:
    namespaces = [
        KVNamespace(f"{ns_name}_kv"),
        CounterNamespace(f"{ns_name}_ev", mode="eventual"),
        CounterNamespace(f"{ns_name}_be", mode="best_effort"),
        TimeSeriesNamespace(f"{ns_name}_ts", seconds_per_slice=60, seconds_per_bucket=10),
    ]
    await store.create_namespace_tables(namespaces)
    made = await tables(store, "")
    assert {f"kv_{ns_name}_kv", f"kvc_{ns_name}_kv", f"kvk_{ns_name}_kv"} <= made
    assert {f"cb_{ns_name}_ev", f"cl_{ns_name}_ev", f"cr_{ns_name}_ev", f"ck_{ns_name}_ev"} <= made
    assert f"cf_{ns_name}_ev" not in made and f"cf_{ns_name}_be" in made
    assert len(await store.ts_slices(f"{ns_name}_ts")) >= 2  # now and the next slice


async def test_concurrent_appends_to_a_new_bucket_list_it_once(
    store: CassandraStore, ns_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bucket row is written once per process, and before any event of it is acknowledged;
    when that write fails, the appends waiting on it write the row themselves."""
    written: list[list[tuple[str, str, int]]] = []
    real = store._write_bucket_rows
    fail = [True]

    async def counting(namespace: str, keys: list[tuple[str, str, int]]) -> None:
        written.append(list(keys))
        if fail[0]:
            fail[0] = False
            await asyncio.sleep(0.05)  # the other appends arrive meanwhile, and wait for it
            raise RuntimeError("first bucket write fails")
        await real(namespace, keys)

    t = now_micros()
    await store.counter_append(ns_name, [CounterEvent("other", t, "x", delta=1)])  # tables made
    monkeypatch.setattr(store, "_write_bucket_rows", counting)
    appends = [
        store.counter_append(ns_name, [CounterEvent("once", t + i, f"e{i}", delta=1)])
        for i in range(20)
    ]
    results = await asyncio.gather(*appends, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1  # only the append whose own bucket write failed
    assert all(len(keys) == 1 for keys in written)
    assert len(written) == 20  # the failed write, then each waiter wrote the row itself
    written.clear()
    await asyncio.gather(*(
        store.counter_append(ns_name, [CounterEvent("once", t + 100 + i, f"f{i}", delta=1)])
        for i in range(20)
    ))
    assert written == []  # listed now, and known to be: no more bucket writes
    fold = await store.counter_fold(ns_name, {"once": (t - 1, t + 1000)})
    assert fold["once"].total == 39

    written.clear()
    later = t + LOG_BUCKET_SECONDS * SEC
    await asyncio.gather(*(
        store.counter_append(ns_name, [CounterEvent("once", later + i, f"g{i}", delta=1)])
        for i in range(20)
    ))
    assert len(written) == 1  # twenty concurrent appends to a new bucket: one bucket write


# --- never from a failed or partial read -------------------------------------------------


async def test_a_fold_whose_bucket_read_fails_raises_even_for_a_missing_table(
    store: CassandraStore, ns_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One bucket of the fan-out reads as a missing table (a node that lost its schema): the
    fold raises instead of answering the counter as empty."""
    t = now_micros() - 10 * LOG_BUCKET_SECONDS * SEC
    await store.counter_append(ns_name, [
        CounterEvent("c", t, "a", delta=5),
        CounterEvent("c", t + LOG_BUCKET_SECONDS * SEC, "b", delta=7),
    ])
    rows = store.db.rows
    calls = [0]

    async def one_bucket_missing(statement: object, what: str, limit: int | None = None) -> object:
        if what == "counter_fold":
            calls[0] += 1
            if calls[0] == 2:
                raise MissingTable(f"Cassandra {what}: unconfigured table")
        return await rows(statement, what, limit)  # type: ignore[arg-type]

    monkeypatch.setattr(store.db, "rows", one_bucket_missing)
    with pytest.raises(MissingTable):
        await store.counter_fold(ns_name, {"c": (0, now_micros())})
    monkeypatch.setattr(store.db, "rows", rows)
    assert (await store.counter_fold(ns_name, {"c": (0, now_micros())}))["c"].total == 12


async def test_checkpoints_of_a_log_without_its_checkpoint_table_are_an_error(
    store: CassandraStore, ns_name: str
) -> None:
    assert await store.counter_checkpoints(ns_name, ["c"]) == {}  # no table at all: none
    await store.schema.ensure_counter(ns_name, "cb", "cl")  # a log made before checkpoints
    with pytest.raises(StoreError, match="checkpoint table"):
        await store.counter_checkpoints(ns_name, ["c"])
    await store.counter_append(ns_name, [CounterEvent("c", now_micros(), "a", delta=1)])
    assert await store.counter_checkpoints(ns_name, ["c"]) == {}  # made before the next append


async def test_a_rollup_over_tables_the_schema_lookup_misses_stores_nothing(
    store: CassandraStore, ns_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A coordinator that has not the schema yet says the log's tables do not exist: the fold
    is empty, and a rollup stored from it would skip the events for good."""
    ns = CounterNamespace(ns_name, mode="eventual", accept_window_seconds=0.2)
    gateway = DataGateway(
        store, Namespaces({ns_name: ns}, Settings(max_clock_skew_seconds=0.1), "test")
    )
    await gateway.counters.add(ns_name, "c", 5, IdempotencyToken.new())
    await asyncio.sleep(0.4)
    await gateway.counters.rollup(ns_name)
    before = await store.counter_rollups(ns_name, ["c"])
    await gateway.counters.add(ns_name, "c", 31, IdempotencyToken.new())
    await asyncio.sleep(0.4)
    has = store.schema.has

    async def lagging(name: str) -> bool:
        return False if name.startswith(("cb_", "cl_")) else await has(name)

    monkeypatch.setattr(store.schema, "has", lagging)
    await gateway.counters.rollup(ns_name, ["c"])
    assert await store.counter_rollups(ns_name, ["c"]) == before
    monkeypatch.setattr(store.schema, "has", has)
    await gateway.counters.rollup(ns_name, ["c"])
    assert await gateway.counters.get(ns_name, "c") == 36


async def test_truncation_drops_whole_log_partitions_and_their_bucket_rows(
    store: CassandraStore, ns_name: str
) -> None:
    step = LOG_BUCKET_SECONDS * SEC
    start = (now_micros() - 20 * step) // step * step
    await store.counter_append(ns_name, [
        CounterEvent("c", start + i * step + 1, f"e{i}", delta=1) for i in range(4)
    ])
    await store.counter_truncate(ns_name, {"c": start + 2 * step - 1})  # two whole buckets
    listed = await cql(
        store,
        f"SELECT time_bucket FROM {store.config.keyspace}.{counter_table(ns_name, 'cb')}"
        " WHERE name = %s",
        ["c"],
    )
    assert sorted(b for (b,) in listed) == [log_bucket(start + i * step) for i in (2, 3)]
    left = await cql(
        store,
        f"SELECT event_id FROM {store.config.keyspace}.{counter_table(ns_name, 'cl')}"
        " WHERE name = %s AND time_bucket = %s",
        ["c", log_bucket(start)],
    )
    assert left == []
    assert (await store.counter_fold(ns_name, {"c": (0, 2**63 - 1)}))["c"].total == 2
