"""SQLite's KV tombstones and expired items are collected once no accepted write can need them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from abstractions.errors import InvalidIdempotencyToken
from abstractions.garbage import GarbageCollector
from abstractions.gateway import DataGateway
from abstractions.kv import Item
from abstractions.metrics import EventCounter
from abstractions.namespaces import KVNamespace, load_namespaces
from abstractions.tokens import IdempotencyToken, PageTokens, now_micros
from backends.clock import advance_clock, reset_clock
from backends.sqlite import SQLiteStore
from tests.conftest import TEST_NAMESPACES

SMALL = "kv_small"  # chunks values over 4 KiB
GRACE = KVNamespace(name="x").tombstone_gc_seconds
SKEW = 1.0  # tests/namespaces.toml


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[DataGateway]:
    gw = DataGateway(SQLiteStore(tmp_path / "gateway.db"), load_namespaces(TEST_NAMESPACES),
                     page_tokens=PageTokens(b"test"))
    await gw.start(background=False)
    try:
        yield gw
    finally:
        await gw.stop()
        reset_clock()


def count(gw: DataGateway, sql: str) -> int:
    assert isinstance(gw.store, SQLiteStore)
    with contextlib.closing(sqlite3.connect(gw.store.path)) as conn:
        return conn.execute(sql).fetchone()[0]


def tombstones(gw: DataGateway) -> tuple[int, int]:
    """(item tombstones, range and record tombstones) of the namespace."""
    return (count(gw, f"SELECT count(*) FROM kv_items WHERE ns = '{SMALL}' AND deleted = 1"),
            count(gw, f"SELECT count(*) FROM kv_tombstones WHERE ns = '{SMALL}'"))


async def put(gw: DataGateway, id: str, *items: Item) -> None:
    await gw.kv.put_items(SMALL, id, list(items), IdempotencyToken.new())


async def test_tombstones_and_expired_items_go_after_the_grace_period_and_live_items_stay(
    gateway: DataGateway,
) -> None:
    kv = gateway.kv
    await put(gateway, "r1", *(Item(f"k{i}".encode(), b"v") for i in range(1, 7)))
    await put(gateway, "r2", Item(b"short", b"v", 1))
    await put(gateway, "r3", Item(b"big", os.urandom(10_000), 1))  # chunked, expiring
    await put(gateway, "r4", Item(b"k", b"v"))
    await kv.delete_items(SMALL, "r1", IdempotencyToken.new(), keys=[b"k1"])
    await kv.delete_items(SMALL, "r1", IdempotencyToken.new(), start=b"k2", end=b"k4")
    await kv.delete_items(SMALL, "r4", IdempotencyToken.new())
    assert tombstones(gateway) == (1, 2)

    chunks = count(gateway, "SELECT count(*) FROM kv_chunks")
    assert chunks > 1

    advance_clock(2)  # r2 and r3 expired; every write is still younger than the grace
    assert await gateway.garbage.collect() == {SMALL: chunks}  # expired chunks go at once
    assert count(gateway, "SELECT count(*) FROM kv_chunks") == 0
    assert tombstones(gateway) == (1, 2)
    assert count(gateway, f"SELECT count(*) FROM kv_items WHERE ns = '{SMALL}'") == 6

    advance_clock(GRACE + SKEW)
    collected = await gateway.garbage.collect()
    assert collected == {SMALL: 5}  # k1's tombstone, 2 range and record tombstones, r2, r3
    assert gateway.events.get(f"kv_garbage_collected:{SMALL}") >= 5
    assert tombstones(gateway) == (0, 0)
    assert count(gateway, f"SELECT count(*) FROM kv_items WHERE ns = '{SMALL}'") == 3
    page = await kv.get_items(SMALL, "r1")
    assert [item.key for item in page.items] == [b"k4", b"k5", b"k6"]  # old, live: kept
    assert await gateway.garbage.collect() == {}


async def test_a_write_older_than_the_grace_period_is_refused_so_none_outlives_a_tombstone(
    gateway: DataGateway,
) -> None:
    written = now_micros()
    late = IdempotencyToken(written, "late")  # made now, arrives after the grace period
    await gateway.kv.delete_items(SMALL, "r", IdempotencyToken(written + 1, "d"), keys=[b"k"])
    advance_clock(GRACE + SKEW + 1)
    await gateway.garbage.collect()
    assert tombstones(gateway) == (0, 0)
    with pytest.raises(InvalidIdempotencyToken, match="tombstone_gc_seconds"):
        await gateway.kv.put_items(SMALL, "r", [Item(b"k", b"zombie")], late)
    with pytest.raises(InvalidIdempotencyToken):
        await gateway.kv.delete_items(SMALL, "r", late, keys=[b"k"])
    assert (await gateway.kv.get_items(SMALL, "r")).items == []
    await put(gateway, "r", Item(b"k", b"new"))  # a write of now is fine
    assert [i.value for i in (await gateway.kv.get_items(SMALL, "r")).items] == [b"new"]


async def test_collection_goes_in_bounded_batches(gateway: DataGateway) -> None:
    for i in range(10):
        await gateway.kv.delete_items(SMALL, "r", IdempotencyToken.new(), keys=[b"k%d" % i])
        await gateway.kv.delete_items(SMALL, f"r{i}", IdempotencyToken.new())
    store = gateway.store
    assert isinstance(store, SQLiteStore)
    batches: list[int] = []
    collect = store.kv_collect_garbage

    async def counted(namespace: str, before: int, limit: int) -> int:
        gone = await collect(namespace, before, limit)
        batches.append(gone)
        return gone

    store.kv_collect_garbage = counted  # type: ignore[method-assign]
    collector = GarbageCollector(store, load_namespaces(TEST_NAMESPACES), EventCounter(), batch=3)
    advance_clock(GRACE + SKEW + 1)
    assert (await collector.collect())[SMALL] == 20
    assert max(batches) <= 3 * 2  # at most `batch` of each kind per write
    assert tombstones(gateway) == (0, 0)


async def test_the_background_pass_collects_without_being_asked(gateway: DataGateway) -> None:
    await gateway.kv.delete_items(SMALL, "r", IdempotencyToken.new(), keys=[b"k"])
    advance_clock(GRACE + SKEW + 1)
    collector = GarbageCollector(gateway.store, load_namespaces(TEST_NAMESPACES), gateway.events,
                                 interval=0.01)
    await collector.start()
    try:
        for _ in range(200):
            if tombstones(gateway) == (0, 0):
                break
            await asyncio.sleep(0.01)
        assert tombstones(gateway) == (0, 0)
    finally:
        await collector.stop()


async def test_a_store_that_collects_its_own_tombstones_is_left_alone() -> None:
    collector = GarbageCollector(object(), load_namespaces(TEST_NAMESPACES), EventCounter())
    assert await collector.collect() == {}
    await collector.start()
    await collector.stop()
