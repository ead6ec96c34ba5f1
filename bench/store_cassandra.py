"""4. Abstraction overhead on Cassandra: each operation through the abstraction and as raw CQL.

The abstraction side is `bench.storeops` over `backends.cassandra.CassandraStore`.  The raw side
issues the statements that operation comes down to with cassandra-driver alone: prepared
statements, `execute_async` bridged to asyncio, at most `concurrency` (the store's setting, 64)
requests in flight, the same consistency levels, on the same tables, whose names and partition
keys come from the backend's own layout functions (`kv_table`, `slice_table`, `counter_table`,
`time_bucket`, `event_bucket`, `log_bucket`).  Per operation:

- `kv_get_100`: the SELECT of one record's cells, `ORDER BY key LIMIT 101` (the columns are read
  from the table's schema, so the backend's cell format is followed);
- `kv_put_100`: one unlogged batch of the 100 INSERTs `USING TIMESTAMP ... AND TTL`, carrying the
  bytes the abstraction stored for the same items, and beside it the SELECT of the record's
  chunk markers (`kvk_`) over the keys' range, as the backend does;
- `ts_write_1000`: the rows (one per item) grouped by partition, an unlogged batch per partition,
  all partitions at once;
- `ts_read_day`: the slice list (`ts_slices`), then every (slice, time bucket, event bucket)
  partition of the day read at once, then merged newest first (the backend reads the same
  statements, in bucket groups newest first: a first group of one bucket, then as many as the
  page still needs);
- `counter_add_1000`: 1,000 INSERTs into the counter's event log, all at once (the abstraction
  also lists the log bucket, once per process, counter and bucket: not in the timed runs).

Each run starts from a freshly dropped keyspace (`bench_gateway`).  Runs alternate between the
two sides (which goes first alternates too), after a warm-up of each, and the ratio is of the
medians.  Cheap or erratic operations get more runs (`RUNS_SCALE`: KV x8, the day's read x6,
the counter adds x4, the sync write x3).
The raw client copies the store's transport settings (socket options, compression, protocol
version) from its `Cluster`, so only the code above the driver differs.

Needs a node: set SUBGRAPH_BENCH_CASSANDRA=host[:port] (a secured one: SUBGRAPH_CASSANDRA_* too)
(`scripts/services start cassandra` prints it); without it, or without the backend, it is
skipped with the reason.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
from collections import defaultdict
from collections.abc import Sequence
from itertools import chain
from typing import Any

from abstractions.namespaces import TimeSeriesNamespace
from abstractions.timeseries import Event
from abstractions.tokens import IdempotencyToken, now_micros

from . import Options
from .report import Table, Target, fmt, skipped
from .storeops import (
    COUNTER_ADDS,
    COUNTER_NS,
    DAY_EVENTS,
    DESCRIPTIONS,
    KV_ITEMS,
    KV_NS,
    TS_NS,
    AbstractionOps,
    Fixture,
    bench_namespaces,
    write_batch,
)
from .timing import median, ratio, summary

NAME = "cassandra"
ENV = "SUBGRAPH_BENCH_CASSANDRA"
KEYSPACE = "bench_gateway"
TARGET_RATIO = 1.25
RAW_FETCH_SIZE = 5000
# Runs per operation, as a multiple of 15 (5 with --quick): one stall of this shared machine moves
# a median of 15 runs of a few milliseconds, and the node's own work (a memtable flush, a JVM
# collection) lands in one side's run or the other: the day's read and the concurrent counter
# adds range from 1x to 3x their fastest run on either side, the sync writes less.  Medians of
# such spreads need more runs than 15 to settle within a few percent.
RUNS_SCALE = {
    "kv_get_100": 8, "kv_put_100": 8, "ts_write_1000": 3, "ts_read_day": 6, "counter_add_1000": 4
}


def node_contact() -> tuple[str, None] | tuple[None, str]:
    """`(host[:port], None)` of the node the Cassandra benchmarks use, or `(None, why they are
    skipped)`: SUBGRAPH_BENCH_CASSANDRA unset, or the backend not importable."""
    contact = os.environ.get(ENV)
    if not contact:
        return None, (f"{ENV} is not set (host[:port] of a running node, e.g. the output of "
                      "scripts/services start cassandra)")
    try:
        import backends.cassandra  # noqa: F401
    except ImportError as exc:
        return None, f"backends.cassandra cannot be imported: {exc}"
    return contact, None


def run(options: Options) -> dict[str, Any]:
    contact, skip = node_contact()
    if contact is None:
        return {"skipped": skip}
    return asyncio.run(_run(options, f"cassandra://{contact}/{KEYSPACE}"))


async def _run(options: Options, url: str) -> dict[str, Any]:
    from backends.cassandra import CassandraStore

    fixture = Fixture.new()
    store = CassandraStore.from_url(url)
    await _drop_keyspace(store.config)
    ours = await AbstractionOps.open(store, fixture)
    raw = RawCQL(store.config, fixture)
    # Without TCP_NODELAY the driver leaves Nagle's algorithm on, and a request of a few
    # kilobytes can wait ~40 ms for a delayed ACK: a third side shows what that costs.
    nodelay = None if _nodelay(store.db.cluster.sockopts) else RawCQL(store.config, fixture)
    sides = [s for s in (raw, nodelay) if s is not None]
    try:
        await raw.connect(like=store.db.cluster)
        if nodelay is not None:
            await nodelay.connect(like=store.db.cluster, nodelay=True)
        for side in sides:
            await side.setup()
        warmup, runs = options.pick(3, 1), options.pick(15, 5)
        results = {}
        for name, op in ours.operations().items():
            named = {"abstraction": op, "raw": raw.operations()[name]}
            if nodelay is not None:
                named["raw_tcp_nodelay"] = nodelay.operations()[name]
            scale = RUNS_SCALE.get(name, 1)
            results[name] = await _compare(named, warmup * scale, runs * scale)
        cluster = await raw.describe()
    finally:
        for side in sides:
            await side.close()
        await ours.close()
    met = all(r["ratio"] is not None and r["ratio"] <= TARGET_RATIO for r in results.values())
    return {
        "store": url,
        "cassandra": cluster,
        "consistency": {"read": store.config.read_consistency,
                        "write": store.config.write_consistency},
        "concurrency": store.config.concurrency,
        "operations": results,
        "target_ratio": TARGET_RATIO,
        "target_met": met,
    }


async def _compare(sides: dict[str, Any], warmup: int, runs: int) -> dict[str, Any]:
    """Each side's runs, interleaved: side order rotates from one run to the next.

    The collector stays on while timing, but each run starts with the young generations
    collected (outside the timing): otherwise garbage one side left (the driver's requests are
    reference cycles, each holding its rows) is swept, at the collector's whim, in a run of the
    other side.  This way each side pays only for collections its own run sets off.
    """
    for i in range(warmup):
        for op in sides.values():
            await op(-1 - i)
    times: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides.items())
    loop = asyncio.get_running_loop()
    for i in range(runs):
        for name, op in order[i % len(order):] + order[:i % len(order)]:
            gc.collect(1)
            start = loop.time()
            await op(i)
            times[name].append((loop.time() - start) * 1000)
    out: dict[str, Any] = {name: summary(t) for name, t in times.items()}
    out["ratio"] = ratio(median(times["abstraction"]), median(times["raw"]))
    out["ratio_of_minimums"] = ratio(min(times["abstraction"]), min(times["raw"]))
    if "raw_tcp_nodelay" in times:
        out["ratio_vs_raw_tcp_nodelay"] = ratio(
            median(times["abstraction"]), median(times["raw_tcp_nodelay"])
        )
    return out


def _nodelay(sockopts: Any) -> bool:
    return any(
        tuple(opt[:2]) == (socket.IPPROTO_TCP, socket.TCP_NODELAY) and opt[2]
        for opt in sockopts or ()
    )


def _secured(config: Any) -> dict[str, Any]:
    """The store's login and TLS as `Cluster` arguments (a secured cluster needs both)."""
    from cassandra.auth import PlainTextAuthProvider

    auth = None
    if config.username is not None:
        auth = PlainTextAuthProvider(config.username, config.password or "")
    return {"auth_provider": auth, "ssl_context": config.ssl_context()}


async def _drop_keyspace(config: Any) -> None:
    """A clean keyspace each run: no data of earlier runs, and tables of the backend's layout."""
    from cassandra.cluster import Cluster

    cluster = Cluster(contact_points=config.contact_points, port=config.port, **_secured(config))
    try:
        session = await asyncio.to_thread(cluster.connect)
        drop = f"DROP KEYSPACE IF EXISTS {config.keyspace}"
        await asyncio.to_thread(session.execute, drop, timeout=config.ddl_timeout)
    finally:
        await asyncio.to_thread(cluster.shutdown)


class RawDriver:
    """cassandra-driver alone, connected as the store is, bridged to asyncio: at most the
    store's `concurrency` requests in flight, each read whole in one page."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.ks = config.keyspace
        self._cluster: Any = None
        self._session: Any = None
        self._slots = asyncio.Semaphore(config.concurrency)
        self._prepared: dict[str, Any] = {}

    async def connect(self, like: Any = None, *, nodelay: bool = False) -> None:
        """Connect with the settings of the store's own `Cluster` (`like`): same transport.

        `nodelay` adds TCP_NODELAY to those socket options.
        """
        from cassandra import ConsistencyLevel
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
        from cassandra.query import tuple_factory

        cfg = self.config
        self._read_cl = ConsistencyLevel.name_to_value[cfg.read_consistency]
        self._write_cl = ConsistencyLevel.name_to_value[cfg.write_consistency]
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(cfg.local_dc or "")),
            consistency_level=self._write_cl,
            request_timeout=cfg.timeout,
            row_factory=tuple_factory,
        )
        same: dict[str, Any] = {}
        if like is not None:
            same = {"sockopts": like.sockopts, "compression": like.compression,
                    "protocol_version": like.protocol_version}
        if nodelay:
            same["sockopts"] = [
                *(same.get("sockopts") or ()), (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            ]
        self._cluster = Cluster(
            contact_points=cfg.contact_points, port=cfg.port,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile}, **same, **_secured(cfg),
        )
        self._session = await asyncio.to_thread(self._cluster.connect)
        self._session.default_fetch_size = RAW_FETCH_SIZE

    async def close(self) -> None:
        if self._cluster is not None:
            await asyncio.to_thread(self._cluster.shutdown)

    async def describe(self) -> dict[str, Any]:
        """The cluster as this run saw it: version, nodes, the keyspace's replication."""
        rows = await self.execute(await self.prepare(
            "SELECT release_version FROM system.local", write=False), [])
        metadata = self._cluster.metadata
        keyspace = metadata.keyspaces.get(self.ks)
        return {
            "release": str(rows[0][0]),
            "nodes": len(metadata.all_hosts()),
            "replication": keyspace.replication_strategy.export_for_schema() if keyspace else None,
            "tcp_nodelay": _nodelay(self._cluster.sockopts),
        }

    # --- the driver, bridged ------------------------------------------------------------------

    async def prepare(self, cql: str, *, write: bool) -> Any:
        found = self._prepared.get(cql)
        if found is None:
            found = await asyncio.to_thread(self._session.prepare, cql)
            found.consistency_level = self._write_cl if write else self._read_cl
            self._prepared[cql] = found
        return found

    async def execute(self, prepared: Any, values: Sequence[Any] | None = None) -> list[Any]:
        return await self.run(prepared.bind(values) if values is not None else prepared)

    async def run(self, statement: Any) -> list[Any]:
        loop = asyncio.get_running_loop()
        async with self._slots:
            done: asyncio.Future[Any] = loop.create_future()

            def settle(rows: Any, exc: BaseException | None) -> None:
                if done.done():
                    return
                if exc is not None:
                    done.set_exception(exc)
                else:
                    done.set_result(rows)

            future = self._session.execute_async(statement)
            future.add_callbacks(
                lambda rows: loop.call_soon_threadsafe(settle, rows, None),
                lambda exc: loop.call_soon_threadsafe(settle, None, exc),
            )
            rows = await done
        if future.has_more_pages:
            raise RuntimeError("a raw read needs more than one page: raise RAW_FETCH_SIZE")
        return list(rows or ())

    def batch(self, prepared: Any, rows: Sequence[Sequence[Any]]) -> Any:
        from cassandra.query import BatchStatement, BatchType

        if len(rows) == 1:
            return prepared.bind(rows[0])
        statement = BatchStatement(batch_type=BatchType.UNLOGGED,
                                   consistency_level=self._write_cl)
        for row in rows:
            statement.add(prepared, row)
        return statement



class RawCQL(RawDriver):
    """The same operations with cassandra-driver alone, on the backend's tables."""

    def __init__(self, config: Any, fixture: Fixture) -> None:
        super().__init__(config)
        self.fx = fixture
        self.layout = bench_namespaces().get(TS_NS, TimeSeriesNamespace).layout
        # The backend's own layout: table names and partition keys.
        from backends.cassandra.counter import log_bucket
        from backends.cassandra.schema import counter_table, kv_table, slice_table
        from backends.cassandra.timeseries import event_bucket, time_bucket

        self.kv_table, self.slice_table, self.counter_table = kv_table, slice_table, counter_table
        self.time_bucket, self.event_bucket, self.log_bucket = time_bucket, event_bucket, log_bucket

    # --- the operations -----------------------------------------------------------------------

    def operations(self) -> dict[str, Any]:
        return {
            "kv_get_100": self.kv_get_100,
            "kv_put_100": self.kv_put_100,
            "ts_write_1000": self.ts_write_1000,
            "ts_read_day": self.ts_read_day,
            "counter_add_1000": self.counter_add_1000,
        }

    async def setup(self) -> None:
        """Learn the KV table's columns from the schema, and the cells the abstraction stored.

        The KV row format is the backend's business (its cells pack value and metadata as it
        sees fit); the raw side reads and writes the same columns, with the very bytes the
        abstraction wrote for the setup record, so both sides move the same payload.
        """
        table = self._cluster.metadata.keyspaces[self.ks].tables[self.kv_table(KV_NS)]
        self.kv_id, self.kv_key = table.partition_key[0].name, table.clustering_key[0].name
        keys = {c.name for c in (*table.partition_key, *table.clustering_key)}
        self.kv_cells = [name for name in table.columns if name not in keys]
        cells = ", ".join(self.kv_cells)
        select = await self.prepare(
            f"SELECT {self.kv_key}, {cells} FROM {self.ks}.{table.name}"
            f" WHERE {self.kv_id} = ?", write=False,
        )
        self.kv_payload = [tuple(row) for row in await self.execute(select, [self.fx.kv_record])]
        assert len(self.kv_payload) == KV_ITEMS

    async def kv_get_100(self, i: int) -> None:
        cells = ", ".join(self.kv_cells)
        select = await self.prepare(
            f"SELECT {self.kv_key}, {cells}, TTL({self.kv_cells[0]})"
            f" FROM {self.ks}.{self.kv_table(KV_NS)}"
            f" WHERE {self.kv_id} = ? ORDER BY {self.kv_key} ASC LIMIT ?", write=False,
        )
        rows = await self.execute(select, [self.fx.kv_record, KV_ITEMS + 1])
        assert len(rows) == KV_ITEMS

    async def kv_put_100(self, i: int) -> None:
        columns = ", ".join([self.kv_id, self.kv_key, *self.kv_cells])
        marks = ", ".join("?" * (len(self.kv_cells) + 2))
        insert = await self.prepare(
            f"INSERT INTO {self.ks}.{self.kv_table(KV_NS)} ({columns})"
            f" VALUES ({marks}) USING TIMESTAMP ? AND TTL ?", write=True,
        )
        # The backend reads which of the keys have chunks (to drop them) alongside the write.
        chunked = await self.prepare(
            f"SELECT key FROM {self.ks}.{self.kv_table(KV_NS, 'kvk')}"
            " WHERE id = ? AND key >= ? AND key <= ?", write=False,
        )
        record, stamp = f"{self.fx.run}-put-r{i}", now_micros()
        rows = [(record, *cells, stamp, 0) for cells in self.kv_payload]
        keys = [row[1] for row in rows]
        await asyncio.gather(
            self.run(self.batch(insert, rows)),
            self.execute(chunked, [record, min(keys), max(keys)]),
        )

    async def ts_write_1000(self, i: int) -> None:
        layout = self.layout
        partitions: dict[tuple[int, str, int, int], list[tuple[Any, ...]]] = defaultdict(list)
        for e in write_batch(f"{self.fx.run}r", i, now_micros()):
            tb, eb = self.time_bucket(layout, e.event_time), self.event_bucket(layout, e.event_id)
            partitions[(layout.slice_of(e.event_time), e.series_id, tb, eb)].extend(
                (e.series_id, tb, eb, e.event_time, e.event_id, k, v) for k, v in e.items.items()
            )
        inserts = {
            s: await self.prepare(
                f"INSERT INTO {self.ks}.{self.slice_table(TS_NS, s)} (time_series_id, time_bucket,"
                " event_bucket, event_time, event_id, item_key, value)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", write=True,
            )
            for s in {key[0] for key in partitions}
        }
        await asyncio.gather(*(
            self.run(self.batch(inserts[key[0]], rows)) for key, rows in partitions.items()
        ))

    async def ts_read_day(self, i: int) -> None:
        layout, fx = self.layout, self.fx
        low, high = fx.day_start, fx.day_end - 1
        # The slices that exist, as the backend learns them: from the ts_slices table.
        listed = await self.prepare(
            f"SELECT slice, table_name FROM {self.ks}.ts_slices WHERE namespace = ?", write=False
        )
        slices = sorted(int(s) for s, _ in await self.execute(listed, [TS_NS]))
        step = layout.seconds_per_bucket
        reads = []
        for slice_start in slices:
            if not layout.slice_of(low) <= slice_start <= layout.slice_of(high):
                continue
            table = self.slice_table(TS_NS, slice_start)
            select = await self.prepare(
                f"SELECT event_time, event_id, item_key, value FROM {self.ks}.{table}"
                " WHERE time_series_id = ? AND time_bucket = ? AND event_bucket = ?"
                " AND event_time >= ? AND event_time <= ?", write=False,
            )
            first = max(slice_start, low // 1_000_000)
            last = min(slice_start + layout.seconds_per_slice - 1, high // 1_000_000)
            for tb in range(first - first % step, last + 1, step):
                reads += [
                    self.execute(select, [fx.day_series, tb, eb, low, high])
                    for eb in range(layout.event_buckets)
                ]
        events: dict[tuple[int, str], dict[str, bytes]] = defaultdict(dict)
        for event_time, event_id, key, value in chain.from_iterable(await asyncio.gather(*reads)):
            events[(event_time, event_id)][key] = value or b""
        newest = sorted(events.items(), reverse=True)[:DAY_EVENTS]
        found = [Event(fx.day_series, t, e, items) for (t, e), items in newest]
        assert len(found) == DAY_EVENTS

    async def counter_add_1000(self, i: int) -> None:
        insert = await self.prepare(
            f"INSERT INTO {self.ks}.{self.counter_table(COUNTER_NS, 'cl')}"
            " (name, time_bucket, event_time, event_id, delta, reset) VALUES (?, ?, ?, ?, ?, ?)",
            write=True,
        )
        name = f"{self.fx.counter}-raw"
        tokens = [IdempotencyToken.new() for _ in range(COUNTER_ADDS)]
        await asyncio.gather(*(
            self.execute(insert, [name, self.log_bucket(t.generation_time), t.generation_time,
                                  t.nonce, 1, False])
            for t in tokens
        ))


def targets(figures: dict[str, Any]) -> list[Target]:
    what = "Cassandra: abstraction / raw cassandra-driver, each of five operations (medians)"
    if "skipped" in figures:
        return [Target(what, f"<= {TARGET_RATIO}x", None, None, figures["skipped"])]
    ratios = {name: r["ratio"] for name, r in figures["operations"].items()}
    worst = max(ratios, key=lambda n: ratios[n] or float("inf"))
    return [Target(what, f"<= {TARGET_RATIO}x", f"worst {fmt(ratios[worst], 2, 'x')} ({worst})",
                   figures["target_met"])]


def tables(figures: dict[str, Any]) -> list[Table]:
    title = "4. Abstraction overhead on Cassandra: abstraction vs raw cassandra-driver"
    if "skipped" in figures:
        return [skipped(title, figures["skipped"])]
    c = figures["cassandra"]
    nodelay = any("raw_tcp_nodelay" in r for r in figures["operations"].values())
    table = Table(
        f"{title} (Cassandra {c['release']}, {c['nodes']} node(s), "
        f"{figures['consistency']['write']})",
        ["operation", "abstraction ms", "raw ms", "abstraction / raw", "of fastest runs",
         *(["raw+NODELAY ms"] if nodelay else [])],
    )
    for name, r in figures["operations"].items():
        table.rows.append([
            DESCRIPTIONS[name], fmt(r["abstraction"]["median_ms"], 2),
            fmt(r["raw"]["median_ms"], 2), fmt(r["ratio"], 2, "x"),
            fmt(r["ratio_of_minimums"], 2, "x"),
            *([fmt(r["raw_tcp_nodelay"]["median_ms"], 2) if "raw_tcp_nodelay" in r else ""]
              if nodelay else []),
        ])
    table.notes.append(
        f"target <= {TARGET_RATIO}x for every operation (medians): "
        + ("met" if figures["target_met"] else "not met")
        + f"; replication {c['replication']}"
    )
    if not c["tcp_nodelay"]:
        table.notes.append(
            "the store's driver connection leaves TCP_NODELAY off (Nagle on); raw+NODELAY is the "
            "raw side with it on, for comparison"
        )
    return [table]
