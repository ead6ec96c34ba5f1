"""Key-Value on Cassandra: last write wins by write timestamp, chunks, paging over driver pages."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Awaitable, Callable

import pytest

from abstractions.gateway import DataGateway
from abstractions.kv import Item, ItemPage
from abstractions.tokens import IdempotencyToken, now_micros
from backends.base import KVQuery, StoredItem, WriteStamp
from backends.cassandra import CassandraStore
from backends.cassandra.schema import kv_table

from .conftest import needs_cassandra
from .helpers import SEC, cql, tables

pytestmark = [pytest.mark.cassandra, needs_cassandra]

SMALL = "kv_small"  # chunks over 4 KiB, 1 KiB each; compression over 64 B


@pytest.fixture
async def gateway(
    small_pages_gateway: Callable[[int], Awaitable[DataGateway]],
) -> DataGateway:
    return await small_pages_gateway(4)


def cassandra(gw: DataGateway) -> CassandraStore:
    assert isinstance(gw.store, CassandraStore)
    return gw.store


def at(micros: int) -> IdempotencyToken:
    return IdempotencyToken(micros, f"n{micros}")


async def value_of(gw: DataGateway, id: str, key: bytes) -> bytes | None:
    page = await gw.kv.get_items(SMALL, id, keys=[key])
    return page.items[0].value if page.items else None


async def test_last_write_wins_by_token_time_whatever_the_arrival_order(
    gateway: DataGateway, uid: str
) -> None:
    t = now_micros() - 60 * SEC
    kv = gateway.kv
    await kv.put_items(SMALL, uid, [Item(b"a", b"newer")], at(t + 2000))
    await kv.put_items(SMALL, uid, [Item(b"a", b"older")], at(t + 1000))  # arrives late
    assert await value_of(gateway, uid, b"a") == b"newer"
    store = cassandra(gateway)
    rows = await cql(
        store,
        f"SELECT WRITETIME(item) FROM {store.config.keyspace}.{kv_table(SMALL)}"
        " WHERE id = %s AND key = %s",
        [uid, b"a"],
    )
    assert rows == [(t + 2000,)]

    await kv.delete_items(SMALL, uid, at(t + 1500), keys=[b"a"])  # an older delete
    assert await value_of(gateway, uid, b"a") == b"newer"
    await kv.delete_items(SMALL, uid, at(t + 3000), keys=[b"a"])  # row tombstone
    await kv.put_items(SMALL, uid, [Item(b"a", b"late")], at(t + 2500))
    assert await value_of(gateway, uid, b"a") is None
    await kv.put_items(SMALL, uid, [Item(b"a", b"again")], at(t + 4000))
    assert await value_of(gateway, uid, b"a") == b"again"


async def test_record_and_range_tombstones_shadow_older_late_writes(
    gateway: DataGateway, uid: str
) -> None:
    t = now_micros() - 60 * SEC
    kv = gateway.kv
    await kv.put_items(SMALL, uid, [Item(b"a", b"1"), Item(b"b", b"2")], at(t + 1000))
    await kv.delete_items(SMALL, uid, at(t + 5000))  # partition tombstone
    await kv.put_items(SMALL, uid, [Item(b"b", b"late")], at(t + 4500))
    assert (await kv.get_items(SMALL, uid)).items == []
    await kv.put_items(SMALL, uid, [Item(b"c", b"3"), Item(b"x", b"4")], at(t + 6000))
    await kv.delete_items(SMALL, uid, at(t + 7000), start=b"c", end=b"d")  # range tombstone
    await kv.put_items(SMALL, uid, [Item(b"c", b"late"), Item(b"y", b"5")], at(t + 6500))
    page = await kv.get_items(SMALL, uid)
    assert {i.key: i.value for i in page.items} == {b"x": b"4", b"y": b"5"}


async def test_chunks_of_older_versions_are_removed_by_the_winning_write(
    gateway: DataGateway, uid: str
) -> None:
    t = now_micros() - 60 * SEC
    kv = gateway.kv
    store = cassandra(gateway)
    ks = store.config.keyspace
    newer, older = os.urandom(10_000), os.urandom(9_000)  # incompressible: 10 and 9 chunks
    await kv.put_items(SMALL, uid, [Item(b"big", newer)], at(t + 2000))
    await kv.put_items(SMALL, uid, [Item(b"big", older)], at(t + 1000))
    assert await value_of(gateway, uid, b"big") == newer

    def versions(rows: list[tuple]) -> set[int]:
        return {int(v.split(":")[0]) for (v,) in rows}

    chunk_versions = f"SELECT version FROM {ks}.{kv_table(SMALL, 'kvc')} WHERE id = %s AND key = %s"
    assert versions(await cql(store, chunk_versions, [uid, b"big"])) == {t + 2000}

    await kv.put_items(SMALL, uid, [Item(b"big", b"small now")], at(t + 3000))
    assert await value_of(gateway, uid, b"big") == b"small now"
    assert await cql(store, chunk_versions, [uid, b"big"]) == []
    markers = f"SELECT key FROM {ks}.{kv_table(SMALL, 'kvk')} WHERE id = %s"
    assert await cql(store, markers, [uid]) == []

    await kv.put_items(SMALL, uid, [Item(b"big", newer)], at(t + 4000))
    await kv.delete_items(SMALL, uid, at(t + 5000))
    assert await cql(store, chunk_versions, [uid, b"big"]) == []


async def test_page_tokens_across_driver_pages(gateway: DataGateway, uid: str) -> None:
    """Driver pages of 4 rows under pages of 10 items: every item once, in order."""
    items = [Item(f"k{i:03d}".encode(), f"v{i}".encode()) for i in range(37)]
    await gateway.kv.put_items(SMALL, uid, items, IdempotencyToken.new())
    for descending in (False, True):
        pages: list[ItemPage] = [
            await gateway.kv.get_items(SMALL, uid, limit=10, descending=descending)
        ]
        while pages[-1].next_page_token is not None:
            pages.append(await gateway.kv.get_items(
                SMALL, uid, limit=10, descending=descending,
                page_token=pages[-1].next_page_token,
            ))
        assert [len(p.items) for p in pages] == [10, 10, 10, 7]
        got = [i.key for p in pages for i in p.items]
        assert got == sorted((i.key for i in items), reverse=descending)
    ranged = await gateway.kv.get_items(SMALL, uid, start=b"k005", end=b"k030", limit=100)
    assert [i.key for i in ranged.items] == [f"k{i:03d}".encode() for i in range(5, 30)]
    many = await gateway.kv.get_items_many(SMALL, [uid, f"{uid}-none"], limit=12)
    assert [i.key for i in many[uid].items] == [f"k{i:03d}".encode() for i in range(12)]
    assert many[f"{uid}-none"].items == []


async def test_scan_ids_resumes_by_token_and_skips_deleted_records(
    store: CassandraStore, ns_name: str
) -> None:
    stamp = WriteStamp(now_micros(), "n")
    ids = [f"id{i:02d}" for i in range(13)]
    for id in ids:
        await store.kv_put(ns_name, id, [StoredItem(b"k", b"v")], stamp)
    await store.kv_delete(ns_name, "id03", WriteStamp(stamp.micros + 1, "d"))
    await store.kv_delete(ns_name, "id04", WriteStamp(stamp.micros + 1, "d"), keys=[b"k"])
    seen: list[str] = []
    after: str | None = None
    while page := await store.kv_scan_ids(ns_name, after, 4):
        seen += page
        after = page[-1]
    assert sorted(seen) == [i for i in ids if i not in ("id03", "id04")]
    assert len(seen) == len(set(seen))


async def test_ttl_is_cassandra_ttl(store: CassandraStore, ns_name: str) -> None:
    stamp = WriteStamp(now_micros(), "n")
    await store.kv_put(ns_name, "r", [StoredItem(b"a", b"1", ttl_seconds=1000),
                                      StoredItem(b"b", b"2")], stamp)
    found = await store.kv_get(ns_name, "r", KVQuery())
    assert [(i.key, i.ttl_seconds is not None) for i in found] == [(b"a", True), (b"b", False)]
    assert 990 <= (found[0].ttl_seconds or 0) <= 1000


async def test_reads_of_a_namespace_never_written_are_empty_and_change_no_schema(
    store: CassandraStore, ns_name: str
) -> None:
    assert await store.kv_get(ns_name, "r", KVQuery()) == []
    assert await store.kv_get_many(ns_name, ["r", "s"], KVQuery()) == {"r": [], "s": []}
    assert await store.kv_scan_ids(ns_name, None, 10) == []
    assert await store.kv_get_chunks(ns_name, "r", b"k", WriteStamp(1, "n"), 2) is None
    assert await store.counter_values(ns_name, ["c"]) == {}
    assert await store.counter_rollups(ns_name, ["c"]) == {}
    await store.counter_zero(ns_name, "c")
    assert await tables(store, "") & {
        kv_table(ns_name, kind) for kind in ("kv", "kvc", "kvk")
    } == set()
    await store.kv_put(ns_name, "r", [StoredItem(b"k", b"v")], WriteStamp(now_micros(), "n"))
    assert await tables(store, "") & {
        kv_table(ns_name, kind) for kind in ("kv", "kvc", "kvk")
    } == {kv_table(ns_name)}  # a plain put needs no chunk tables


async def test_equal_timestamps_resolve_whole_items_by_nonce(
    gateway: DataGateway, uid: str
) -> None:
    """Same microsecond, two writers: the larger nonce wins, value and metadata together."""
    t = now_micros() - 60 * SEC
    compressed = b"a" * 500  # compressed by the abstraction (metadata says so)
    raw = os.urandom(100)  # stored as it is
    for n, order in enumerate(((b"x", b"y"), (b"y", b"x"))):
        id = f"{uid}-{n}"
        for nonce in order:
            value = compressed if nonce == b"y" else raw
            await gateway.kv.put_items(
                SMALL, id, [Item(b"k", value)], IdempotencyToken(t, nonce.decode())
            )
        assert await value_of(gateway, id, b"k") == compressed


async def test_many_large_values_at_once_wait_out_driver_back_pressure(
    gateway: DataGateway, uid: str
) -> None:
    """Megabytes of chunks in flight fill the driver's write buffer (ConnectionBusy): the
    writes are resent after a pause, not failed as an outage."""
    values = [os.urandom(5 * 1024 * 1024) for _ in range(6)]
    await asyncio.gather(*(
        gateway.kv.put_items(
            "profile_settings", f"{uid}-{i}", [Item(b"v", v)], IdempotencyToken.new()
        )
        for i, v in enumerate(values)
    ))
    pages = await asyncio.gather(
        *(gateway.kv.get_items("profile_settings", f"{uid}-{i}") for i in range(len(values)))
    )
    assert [p.items[0].value for p in pages] == values


async def test_finished_requests_leave_no_garbage_for_the_collector(
    store: CassandraStore, ns_name: str
) -> None:
    """The driver's request keeps a cancelled timer that points back at it; the store drops it,
    so a read's rows go when it returns instead of waiting for a collection (see `_release`)."""
    from cassandra.cluster import ResponseFuture

    def ours(found: object) -> bool:
        statement = getattr(found, "query", None)
        prepared = getattr(statement, "prepared_statement", None)
        return ns_name in str(getattr(prepared, "query_string", ""))

    stamp = WriteStamp(now_micros(), "n")
    await store.kv_put(ns_name, "r", [StoredItem(b"a", b"1"), StoredItem(b"b", b"2")], stamp)
    await store.kv_get(ns_name, "r", KVQuery())
    gc.collect()
    gc.disable()
    try:
        for i in range(20):
            await store.kv_put(ns_name, f"w{i}", [StoredItem(b"k", b"v")], stamp)
            assert len(await store.kv_get(ns_name, "r", KVQuery())) == 2
        gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds unreachable stays to be seen
        gc.collect()
        cycles = [o for o in gc.garbage if isinstance(o, ResponseFuture) and ours(o)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert cycles == []


async def test_a_range_read_finds_its_statement_by_key_until_the_table_is_forgotten(
    store: CassandraStore, ns_name: str
) -> None:
    stamp = WriteStamp(now_micros(), "n")
    await store.kv_put(ns_name, "r", [StoredItem(b"a", b"1")], stamp)
    assert [i.key for i in await store.kv_get(ns_name, "r", KVQuery())] == [b"a"]
    shape = ("kv_get", ns_name, "", "ASC")
    found = store.db.statement(shape)
    assert found is not None and kv_table(ns_name) in found.query_string
    store.db.forget(kv_table(ns_name))
    assert store.db.statement(shape) is None
    assert [i.key for i in await store.kv_get(ns_name, "r", KVQuery())] == [b"a"]
    assert store.db.statement(shape) is not None
