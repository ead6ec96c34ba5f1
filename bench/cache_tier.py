"""The cache tier: a hot KV record and best-effort counter adds, with and without memcached.

- `kv_hot_read`: one record of 10 small items read again and again, 8 readers at once, through
  the abstraction on Cassandra: a namespace without the cache against the same namespace with
  the look-aside cache on memcached (`cache_ttl_seconds`).  Per read latency p50 / p99 and
  reads per second; rounds alternate between the two (which goes first alternates too), and
  the ratio is of the p50s over every round.  Target: p50 at least 3x lower with the cache.
- `counter_add`: best-effort adds of +1, 8 writers at once: Cassandra's counter columns
  (`best_effort` without cache) against memcached `incr` (`best_effort` with
  `cache_ttl_seconds`).

Runs on uvloop when it is installed, as `serve` does: the standard loop's round trip to a
local memcached costs several times more on this machine (0.44 ms against 0.05 ms measured).

Needs both servers: SUBGRAPH_BENCH_CASSANDRA=host[:port] and SUBGRAPH_BENCH_MEMCACHED=
host:port[,host:port] (`scripts/services start cassandra` / `... start memcached` print them);
without either it is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from abstractions.gateway import DataGateway
from abstractions.kv import Item
from abstractions.namespaces import CounterNamespace, KVNamespace, load_namespaces
from abstractions.tokens import IdempotencyToken, PageTokens

from . import Options, as_served
from .report import Table, Target, fmt, skipped
from .timing import percentile, ratio

NAME = "cache-tier"
ENV_CASSANDRA = "SUBGRAPH_BENCH_CASSANDRA"
ENV_MEMCACHED = "SUBGRAPH_BENCH_MEMCACHED"
KEYSPACE = "bench_cache"
CONCURRENCY = 8
TARGET_RATIO = 3.0


def run(options: Options) -> dict[str, Any]:
    cassandra, memcached = os.environ.get(ENV_CASSANDRA), os.environ.get(ENV_MEMCACHED)
    if not cassandra or not memcached:
        return {"skipped": f"{ENV_CASSANDRA} and {ENV_MEMCACHED} must both be set"}
    # The loop `serve` runs on (--loop auto): memcached's round trips are the loop's.
    figures, loop = as_served.run(lambda: _run(options, cassandra, memcached))
    return {**figures, "loop": loop}


async def _run(options: Options, cassandra: str, memcached: str) -> dict[str, Any]:
    from backends.cache.memcached import MemcachedCache
    from backends.cassandra import CassandraStore

    shipped = load_namespaces()
    kv = shipped.get("profile_settings", KVNamespace)
    counter = shipped.get("page_views", CounterNamespace)
    namespaces = shipped.with_overrides(
        dataclasses.replace(kv, name="bench_kv"),
        dataclasses.replace(kv, name="bench_kv_cached", cache_ttl_seconds=300),
        dataclasses.replace(counter, name="bench_count"),
        dataclasses.replace(counter, name="bench_count_cached", cache_ttl_seconds=300),
    )
    engine = MemcachedCache.from_url(f"memcached://{memcached}", timeout=0.5)
    gw = DataGateway(CassandraStore.from_url(f"cassandra://{cassandra}/{KEYSPACE}"), namespaces,
                     page_tokens=PageTokens(b"bench"), cache=engine)
    await gw.start(background=False)
    try:
        items = [Item(f"key{i:02d}".encode(), b"v" * 100) for i in range(10)]
        for ns in ("bench_kv", "bench_kv_cached"):
            await gw.kv.put_items(ns, "hot", items, IdempotencyToken.new())
        rounds, seconds = options.pick(6, 2), options.seconds(2.0, 1.0)

        def read(ns: str) -> Callable[[], Awaitable[object]]:
            return lambda: gw.kv.get_items(ns, "hot")

        def add(ns: str) -> Callable[[], Awaitable[object]]:
            return lambda: gw.counters.add(ns, "hot", 1)

        kv = await _compare(read("bench_kv"), read("bench_kv_cached"), rounds, seconds)
        counts = await _compare(add("bench_count"), add("bench_count_cached"), rounds, seconds)
        stats = {k[1]: n for k, n in gw.cache_stats.snapshot().items() if k[0] == "bench_kv_cached"}
    finally:
        await gw.stop()
        await engine.close()
    return {"cassandra": cassandra, "memcached": memcached, "concurrency": CONCURRENCY,
            "kv_hot_read": kv, "counter_add": counts, "kv_cache_events": stats}


async def _compare(
    plain: Callable[[], Awaitable[object]], cached: Callable[[], Awaitable[object]],
    rounds: int, seconds: float,
) -> dict[str, Any]:
    samples: dict[str, list[float]] = {"store": [], "cache": []}
    done = {"store": 0, "cache": 0}
    spent = {"store": 0.0, "cache": 0.0}
    await _load(plain, 0.3)  # warm-up of both
    await _load(cached, 0.3)
    for i in range(rounds):
        order = [("store", plain), ("cache", cached)]
        for side, op in order if i % 2 == 0 else reversed(order):
            began = time.perf_counter()
            latencies = await _load(op, seconds)
            spent[side] += time.perf_counter() - began
            samples[side] += latencies
            done[side] += len(latencies)
    figures: dict[str, Any] = {}
    for side, values in samples.items():
        figures[side] = {
            "p50_ms": round(percentile(values, 50), 3), "p99_ms": round(percentile(values, 99), 3),
            "per_second": round(done[side] / spent[side]), "operations": done[side],
        }
    figures["p50_ratio"] = ratio(figures["store"]["p50_ms"], figures["cache"]["p50_ms"])
    figures["throughput_ratio"] = ratio(figures["cache"]["per_second"],
                                        figures["store"]["per_second"])
    return figures


async def _load(op: Callable[[], Awaitable[object]], seconds: float) -> list[float]:
    """`CONCURRENCY` loops calling `op` for `seconds`; every call's milliseconds."""
    stop = time.perf_counter() + seconds
    latencies: list[float] = []

    async def worker() -> None:
        while time.perf_counter() < stop:
            began = time.perf_counter_ns()
            await op()
            latencies.append((time.perf_counter_ns() - began) / 1e6)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return latencies


def tables(figures: dict[str, Any]) -> list[Table]:
    if "skipped" in figures:
        return [skipped("Cache tier: Cassandra alone vs memcached in front", figures["skipped"])]
    table = Table(
        f"Cache tier: Cassandra alone vs memcached in front, {figures['concurrency']} at once"
        f" ({figures.get('loop', 'asyncio')})",
        ["operation", "side", "p50 ms", "p99 ms", "per second"],
        left=frozenset({0, 1}),
    )
    for what, label, sides in (("kv_hot_read", "hot KV record read", ("Cassandra", "cached")),
                               ("counter_add", "best-effort counter +1",
                                ("Cassandra counter", "memcached incr"))):
        f = figures[what]
        for side, name in zip(("store", "cache"), sides, strict=True):
            s = f[side]
            table.rows.append([label, name, fmt(s["p50_ms"], 3), fmt(s["p99_ms"], 3),
                               f"{s['per_second']:,}"])
        table.rows.append([label, "ratio (store / cache p50)", fmt(f["p50_ratio"]), "",
                           fmt(f["throughput_ratio"], 2, "x")])
    table.notes.append(f"KV cache events in the cached namespace: {figures['kv_cache_events']}")
    return [table]


def targets(figures: dict[str, Any]) -> list[Target]:
    what = "hot KV read p50, Cassandra / with the cache"
    if "skipped" in figures:
        return [Target(what, f">= {TARGET_RATIO:g}x", None, None, figures["skipped"])]
    measured = figures["kv_hot_read"]["p50_ratio"]
    return [Target(what, f">= {TARGET_RATIO:g}x",
                   f"{fmt(measured)}x", measured is not None and measured >= TARGET_RATIO)]
