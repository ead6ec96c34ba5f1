"""The KV look-aside cache: hits, invalidation, never stale under races, fall-through.

Runs on SQLite with the in-process LRU, and with memcached too when `make test` started it
(SUBGRAPH_TEST_MEMCACHED).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from abstractions.cache import record_keys
from abstractions.gateway import DataGateway
from abstractions.kv import Item
from abstractions.namespaces import Namespaces
from abstractions.tokens import IdempotencyToken, PageTokens
from backends.base import CacheEngine, CacheError, CacheKey
from backends.cache import LRUCache
from tests.conftest import MEMCACHED, cached_namespaces, make_cache, make_store

NS = "kv_small"
CACHES = ["lru"] + (["memcached"] if MEMCACHED else [])


@pytest.fixture(params=CACHES)
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[CacheEngine]:
    engine = make_cache(request.param)
    yield engine
    await engine.close()


@pytest.fixture
async def gw(
    tmp_path: Path, namespaces: Namespaces, cache: CacheEngine
) -> AsyncIterator[DataGateway]:
    gateway = DataGateway(make_store("sqlite", tmp_path), cached_namespaces(namespaces),
                          page_tokens=PageTokens(b"test"), cache=cache)
    await gateway.start(background=False)
    yield gateway
    await gateway.stop()


def counts(gw: DataGateway) -> dict[str, int]:
    return {labels[1]: n for labels, n in gw.cache_stats.snapshot().items() if labels[0] == NS}


async def put(gw: DataGateway, id: str, value: bytes, token: IdempotencyToken | None = None,
              ttl: int | None = None) -> None:
    await gw.kv.put_items(NS, id, [Item(b"k", value, ttl)], token or IdempotencyToken.new())


async def value(gw: DataGateway, id: str) -> bytes | None:
    page = await gw.kv.get_items(NS, id)
    return page.items[0].value if page.items else None


class CountingStore:
    """Counts `kv_get` / `kv_get_many` calls of a store (and can hold them at a gate)."""

    def __init__(self, gw: DataGateway, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gets = 0
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        store = gw.store
        for name in ("kv_get", "kv_get_many"):
            monkeypatch.setattr(store, name, self._wrap(getattr(store, name)))

    def _wrap(self, method):  # type: ignore[no-untyped-def]
        async def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.gets += 1
            result = await method(*args, **kwargs)
            if self.gate is not None:
                self.entered.set()
                await self.gate.wait()
            return result

        return counted


async def test_second_read_of_a_record_is_a_hit(
    gw: DataGateway, uid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await put(gw, uid, b"one")
    store = CountingStore(gw, monkeypatch)
    assert await value(gw, uid) == b"one"
    assert await value(gw, uid) == b"one"
    assert store.gets == 1
    assert counts(gw)["hit"] == 1 and counts(gw)["miss"] == 1


async def test_a_write_is_seen_by_the_next_read(gw: DataGateway, uid: str) -> None:
    await put(gw, uid, b"one")
    assert await value(gw, uid) == b"one"
    await put(gw, uid, b"two")
    assert await value(gw, uid) == b"two"
    await gw.kv.delete_items(NS, uid, IdempotencyToken.new())
    assert await value(gw, uid) is None


async def test_get_items_many_serves_hits_and_reads_only_misses(
    gw: DataGateway, uid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [f"{uid}-{i}" for i in range(5)]
    for i, id in enumerate(ids):
        await put(gw, id, f"v{i}".encode())
    await gw.kv.get_items_many(NS, ids[:3])
    store = CountingStore(gw, monkeypatch)
    pages = await gw.kv.get_items_many(NS, ids)
    assert [p.items[0].value for p in pages.values()] == [f"v{i}".encode() for i in range(5)]
    assert store.gets == 1  # the two misses, in one store call
    await put(gw, ids[0], b"new")
    pages = await gw.kv.get_items_many(NS, ids)
    assert pages[ids[0]].items[0].value == b"new"


async def test_a_read_that_missed_and_raced_a_write_never_serves_the_older_page(
    gw: DataGateway, uid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader reads the store before the write, fills the cache after it returned."""
    await put(gw, uid, b"old")
    store = CountingStore(gw, monkeypatch)
    store.gate = asyncio.Event()
    reader = asyncio.create_task(value(gw, uid))
    await store.entered.wait()  # the reader has the old rows, not yet cached
    await put(gw, uid, b"new")  # acknowledged
    store.gate.set()
    assert await reader == b"old"  # it began before the write returned: old is allowed
    store.gate = None
    assert await value(gw, uid) == b"new"
    assert await value(gw, uid) == b"new"


async def test_pages_with_a_ttl_item_chunks_or_too_many_bytes_are_not_cached(
    gw: DataGateway, uid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await put(gw, f"{uid}-ttl", b"x", ttl=60)
    await put(gw, f"{uid}-big", random.randbytes(8000))  # chunked in kv_small (over 4 KiB)
    store = CountingStore(gw, monkeypatch)
    for id in (f"{uid}-ttl", f"{uid}-big"):
        await gw.kv.get_items(NS, id)
        await gw.kv.get_items(NS, id)
    assert store.gets >= 4
    assert counts(gw)["not_cached"] == 4


async def test_concurrent_readers_and_writers_never_read_older_than_an_acknowledged_write(
    gw: DataGateway, uid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For a few seconds, writers put increasing stamps and readers check each read against
    the newest stamp acknowledged before the read began (store reads jittered, so misses race
    writes)."""
    original = gw.store.kv_get

    async def jittered(*args, **kwargs):  # type: ignore[no-untyped-def]
        await asyncio.sleep(random.random() * 0.003)
        rows = await original(*args, **kwargs)
        await asyncio.sleep(random.random() * 0.003)
        return rows

    monkeypatch.setattr(gw.store, "kv_get", jittered)
    acked = 0
    reads = stale = 0
    deadline = time.monotonic() + 3.0

    async def writer() -> None:
        nonlocal acked
        while time.monotonic() < deadline:
            token = IdempotencyToken.new()
            await put(gw, uid, str(token.generation_time).encode(), token)
            acked = max(acked, token.generation_time)
            await asyncio.sleep(random.random() * 0.004)

    async def reader() -> None:
        nonlocal reads, stale
        while time.monotonic() < deadline:
            floor = acked
            got = await value(gw, uid)
            reads += 1
            if floor and (got is None or int(got) < floor):
                stale += 1

    await asyncio.gather(*(writer() for _ in range(2)), *(reader() for _ in range(6)))
    assert reads > 100
    assert stale == 0
    assert counts(gw).get("hit", 0) > 0  # the cache was in play


class FailingCache(LRUCache):
    """An engine that fails every call while `down` (as memcached would once marked down)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def get_many(self, keys: Sequence[CacheKey]) -> tuple[dict[CacheKey, bytes], set[str]]:
        if self.down:
            return {}, {k.route for k in keys}
        return await super().get_many(keys)

    async def set(self, key: CacheKey, value: bytes, ttl: int) -> None:
        if self.down:
            raise CacheError("down")
        await super().set(key, value, ttl)

    async def add(self, key: CacheKey, value: bytes, ttl: int) -> bool:
        if self.down:
            raise CacheError("down")
        return await super().add(key, value, ttl)


async def test_a_cache_that_fails_never_fails_a_read_and_is_counted(
    tmp_path: Path, namespaces: Namespaces, uid: str
) -> None:
    engine = FailingCache()
    gw = DataGateway(make_store("sqlite", tmp_path), cached_namespaces(namespaces),
                     page_tokens=PageTokens(b"test"), cache=engine)
    await gw.start(background=False)
    try:
        await put(gw, uid, b"one")
        assert await value(gw, uid) == b"one"
        engine.down = True
        await put(gw, uid, b"two")  # its invalidation fails: counted, the write stands
        assert await value(gw, uid) == b"two"
        pages = await gw.kv.get_items_many(NS, [uid, f"{uid}-none"])
        assert pages[uid].items[0].value == b"two" and not pages[f"{uid}-none"].items
        assert counts(gw)["fall_through"] == 3 and counts(gw)["error"] >= 4
    finally:
        await gw.stop()


async def test_the_cache_keys_of_a_record_share_one_route() -> None:
    gen, page = record_keys(NS, "some id with spaces", "shape")
    assert gen.route == page.route
    assert " " not in gen.name + page.name and len(page.name) <= 250


async def test_lru_is_bounded_in_bytes_and_counts_evictions_by_namespace() -> None:
    lru = LRUCache(10_000)
    for i in range(100):
        await lru.set(CacheKey("r", f"kvp:ns_a:{i}"), b"x" * 500, 60)
    assert lru.size_bytes <= 10_000
    assert lru.evictions()["ns_a"] > 80
    found, failed = await lru.get_many([CacheKey("r", "kvp:ns_a:99")])
    assert found and not failed


async def test_lru_entries_expire_after_their_ttl() -> None:
    now = [0.0]
    lru = LRUCache(10_000, clock=lambda: now[0])
    key = CacheKey("r", "g")
    await lru.set(key, b"v", 5)
    assert not await lru.add(key, b"w", 5)
    now[0] = 5.0
    assert (await lru.get_many([key]))[0] == {}
    assert await lru.add(key, b"w", 5)


def test_cached_rows_round_trip_and_damaged_ones_are_refused() -> None:
    from abstractions.cache import decode_rows, encode_rows
    from backends.base import StoredItem

    rows = [StoredItem(b"a", b"1", b""), StoredItem(b"\x00b", b"", b"\x01\x01meta"),
            StoredItem(b"c" * 300, b"v" * 5000, b"")]
    assert list(decode_rows(encode_rows(rows))) == rows
    assert list(decode_rows(encode_rows([]))) == []
    with pytest.raises(ValueError):
        decode_rows(encode_rows(rows) + b"x")


async def test_a_write_cancelled_while_it_invalidates_still_invalidates(
    gw: DataGateway, uid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request deadline that fires while the write replaces the record's generation (its
    store write applied): the replacement finishes anyway, and the cached page goes."""
    await put(gw, uid, b"old")
    assert await value(gw, uid) == b"old"  # cached
    engine = gw.cache
    assert engine is not None
    original = engine.set
    invalidating = asyncio.Event()

    async def slow_set(key: CacheKey, data: bytes, ttl: int) -> None:
        if key.name.startswith("kvg:"):
            invalidating.set()
            await asyncio.sleep(0.05)
        await original(key, data, ttl)

    monkeypatch.setattr(engine, "set", slow_set)
    writer = asyncio.create_task(put(gw, uid, b"new"))
    await invalidating.wait()
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer
    await asyncio.sleep(0.1)  # the shielded invalidation finishes
    assert await value(gw, uid) == b"new"
