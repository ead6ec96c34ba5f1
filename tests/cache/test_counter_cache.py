"""best_effort counters kept in the cache engine (memcached incr/decr, or the LRU)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from abstractions.errors import Unavailable
from abstractions.gateway import DataGateway
from abstractions.namespaces import CounterNamespace, NamespaceConfigError, Namespaces
from abstractions.tokens import IdempotencyToken, PageTokens
from backends.base import Rollup
from backends.cache.memcached import MemcachedCache
from tests.conftest import MEMCACHED, make_cache, make_store

NS = "page_views"
CACHES = ["lru"] + (["memcached"] if MEMCACHED else [])


def cached_counters(namespaces: Namespaces) -> Namespaces:
    ns = namespaces.get(NS, CounterNamespace)
    return namespaces.with_overrides(dataclasses.replace(ns, cache_ttl_seconds=60))


@pytest.fixture(params=CACHES)
async def gw(
    request: pytest.FixtureRequest, tmp_path: Path, namespaces: Namespaces,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[DataGateway]:
    engine = make_cache(request.param)
    gateway = DataGateway(make_store("sqlite", tmp_path), cached_counters(namespaces),
                          page_tokens=PageTokens(b"test"), cache=engine)
    await gateway.start(background=False)

    async def no_store(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached best_effort counter reached the store")

    for name in ("counter_incr", "counter_values", "counter_zero"):
        monkeypatch.setattr(gateway.store, name, no_store)
    yield gateway
    await gateway.stop()
    await engine.close()


async def test_adds_and_reads_go_to_the_cache_with_signed_deltas(
    gw: DataGateway, uid: str
) -> None:
    assert await gw.counters.get(NS, uid) == 0
    await gw.counters.add(NS, uid, 5)
    assert await gw.counters.add_and_get(NS, uid, -8) == -3
    assert await gw.counters.get(NS, uid) == -3
    counts = await gw.counters.get_many(NS, [uid, f"{uid}-other"])
    assert counts == {uid: -3, f"{uid}-other": 0}
    await gw.counters.clear(NS, uid)
    assert await gw.counters.get(NS, uid) == 0
    assert await gw.counters.add_and_get(NS, uid, 2) == 2


async def test_a_counter_on_an_unreachable_cache_is_unavailable_not_zero(
    tmp_path: Path, namespaces: Namespaces, uid: str
) -> None:
    engine = MemcachedCache([("127.0.0.1", 1)], timeout=0.2)
    gw = DataGateway(make_store("sqlite", tmp_path), cached_counters(namespaces),
                     page_tokens=PageTokens(b"test"), cache=engine)
    await gw.start(background=False)
    try:
        with pytest.raises(Unavailable):
            await gw.counters.add(NS, uid, 1)
        with pytest.raises(Unavailable):
            await gw.counters.get(NS, uid)
    finally:
        await gw.stop()
        await engine.close()


def test_cache_ttl_is_refused_on_an_accurate_counter() -> None:
    from abstractions.namespaces import parse_namespaces

    with pytest.raises(NamespaceConfigError, match="cache_ttl_seconds"):
        parse_namespaces({"namespaces": {"c": {"abstraction": "counter", "mode": "accurate",
                                               "cache_ttl_seconds": 5}}}, "test")


EVENTUAL = "counter_eventual_fast"  # accept window 0.2 s


@pytest.fixture(params=CACHES)
async def eventual(
    request: pytest.FixtureRequest, tmp_path: Path, namespaces: Namespaces
) -> AsyncIterator[DataGateway]:
    engine = make_cache(request.param)
    ns = namespaces.get(EVENTUAL, CounterNamespace)
    gateway = DataGateway(
        make_store("sqlite", tmp_path),
        namespaces.with_overrides(dataclasses.replace(ns, cache_ttl_seconds=60)),
        page_tokens=PageTokens(b"test"), cache=engine,
    )
    await gateway.start(background=False)
    yield gateway
    await gateway.stop()
    await engine.close()


async def test_eventual_counts_are_served_from_the_cache_and_refreshed_by_rollups(
    eventual: DataGateway, uid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = eventual
    reads = 0
    original = gw.store.counter_rollups

    async def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal reads
        reads += 1
        return await original(*args, **kwargs)

    monkeypatch.setattr(gw.store, "counter_rollups", counted)
    await gw.counters.add(EVENTUAL, uid, 3, IdempotencyToken.new())
    await asyncio.sleep(1.3)  # past the accept window and the clock skew
    await gw.counters.rollup(EVENTUAL, [uid])
    before = reads
    assert await gw.counters.get(EVENTUAL, uid) == 3  # the rollup put it in the cache
    assert await gw.counters.get(EVENTUAL, uid) == 3
    await gw.counters.add(EVENTUAL, uid, 4, IdempotencyToken.new())
    await asyncio.sleep(1.3)  # past the accept window and the clock skew
    await gw.counters.rollup(EVENTUAL, [uid])
    reads_by_rollup = reads - before
    assert await gw.counters.get(EVENTUAL, uid) == 7
    assert reads - before == reads_by_rollup  # no get read the store
    stats = {labels[1]: n for labels, n in gw.cache_stats.snapshot().items()
             if labels[0] == EVENTUAL}
    assert stats["hit"] == 3


async def test_an_older_rollup_never_replaces_a_newer_one_in_the_cache(
    eventual: DataGateway, uid: str
) -> None:
    gw = eventual
    ns = gw.namespaces.get(EVENTUAL, CounterNamespace)
    counters = gw.counters
    await counters._cache_rollup(ns, uid, Rollup(10, 2_000))
    await counters._cache_rollup(ns, uid, Rollup(5, 1_000))  # a slow rollup arriving late
    assert await gw.counters.get(EVENTUAL, uid) == 10
    await counters._cache_rollup(ns, uid, Rollup(12, 3_000))
    assert await gw.counters.get(EVENTUAL, uid) == 12
