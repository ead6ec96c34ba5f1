"""The Key-Value contract: every backend, through the abstraction, behaves like this."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from abstractions.errors import (
    ClientError,
    InvalidArgument,
    InvalidIdempotencyToken,
    InvalidPageToken,
    TooLarge,
    Unavailable,
)
from abstractions.gateway import DataGateway
from abstractions.kv import _META, Item, ItemPage
from abstractions.namespaces import Namespaces
from abstractions.tokens import IdempotencyToken, PageTokens, now_micros
from backends.base import CacheEngine, KVQuery, StoredItem
from tests.conftest import BACKENDS, CACHED_BACKENDS, cached_namespaces, make_cache, make_store

from .conftest import Reopen, StoreCalls

SMALL = "kv_small"  # compress over 64 B, chunks over 4 KiB (1 KiB each), page of 10 items
BIG = "profile_settings"  # the shipped settings: chunks over 1 MiB
MiB = 1024 * 1024


# --- every test on every backend, and again through the look-aside cache ------------------


@pytest.fixture(params=BACKENDS + CACHED_BACKENDS)
def backend_and_cache(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    store, _, cache = request.param.partition("+")
    return store, cache or None


@pytest.fixture
def backend(backend_and_cache: tuple[str, str | None]) -> str:
    return backend_and_cache[0]


@pytest.fixture
async def cache(backend_and_cache: tuple[str, str | None]) -> AsyncIterator[CacheEngine | None]:
    """One engine for every gateway of a test (a replica shares the cache, as with memcached)."""
    kind = backend_and_cache[1]
    engine = make_cache(kind) if kind else None
    yield engine
    if engine is not None:
        await engine.close()


@pytest.fixture
def namespaces(namespaces: Namespaces, cache: CacheEngine | None) -> Namespaces:
    return cached_namespaces(namespaces) if cache is not None else namespaces


@pytest.fixture
async def reopen(
    backend: str, tmp_path: Path, namespaces: Namespaces, cache: CacheEngine | None
) -> AsyncIterator[Reopen]:
    async with AsyncExitStack() as stack:

        async def open_again() -> DataGateway:
            gw = DataGateway(make_store(backend, tmp_path), namespaces,
                             page_tokens=PageTokens(b"test"), cache=cache)
            await gw.start(background=False)
            stack.push_async_callback(gw.stop)
            return gw

        yield open_again


def token(at: int | None = None) -> IdempotencyToken:
    """A fresh token, optionally generated at `at` (microseconds)."""
    fresh = IdempotencyToken.new()
    return fresh if at is None else IdempotencyToken(at, fresh.nonce)


def keys_of(page: ItemPage) -> list[bytes]:
    return [item.key for item in page.items]


def values(page: ItemPage) -> dict[bytes, bytes]:
    return {item.key: item.value for item in page.items}


async def put(gw: DataGateway, ns: str, id: str, items: dict[bytes, bytes]) -> None:
    await gw.kv.put_items(ns, id, [Item(k, v) for k, v in items.items()], token())


async def all_pages(gw: DataGateway, ns: str, id: str, **query: object) -> list[ItemPage]:
    """Follow next-page tokens to the end."""
    pages = [await gw.kv.get_items(ns, id, **query)]
    while pages[-1].next_page_token is not None:
        assert len(pages) < 1000, "pagination does not end"
        pages.append(
            await gw.kv.get_items(ns, id, page_token=pages[-1].next_page_token, **query)
        )
    return pages


def ten_items() -> dict[bytes, bytes]:
    return {f"k{i:02d}".encode(): f"v{i}".encode() for i in range(10)}


# --- put and get ---------------------------------------------------------------------------


async def test_put_then_get_all_returns_items_in_key_order(gateway: DataGateway, uid: str) -> None:
    items = {b"b": b"2", b"a": b"1", b"c": b"3"}
    await put(gateway, SMALL, uid, items)
    page = await gateway.kv.get_items(SMALL, uid)
    assert [(i.key, i.value) for i in page.items] == [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]
    assert page.next_page_token is None
    assert all(item.ttl_seconds is None for item in page.items)


async def test_keys_sort_as_unsigned_bytes(gateway: DataGateway, uid: str) -> None:
    keys = [b"\xff", b"a", b"\x00", b"b\xff", b"b", b"\x7f", b"\x80"]
    await put(gateway, SMALL, uid, {k: k for k in keys})
    assert keys_of(await gateway.kv.get_items(SMALL, uid)) == sorted(keys)
    desc = await gateway.kv.get_items(SMALL, uid, descending=True)
    assert keys_of(desc) == sorted(keys, reverse=True)


async def test_put_upserts_and_leaves_other_items(gateway: DataGateway, uid: str) -> None:
    await put(gateway, SMALL, uid, {b"a": b"1", b"b": b"2"})
    await put(gateway, SMALL, uid, {b"b": b"22", b"c": b"3"})
    assert values(await gateway.kv.get_items(SMALL, uid)) == {
        b"a": b"1", b"b": b"22", b"c": b"3"
    }


async def test_flat_map_and_set_shapes_round_trip(gateway: DataGateway, uid: str) -> None:
    await put(gateway, SMALL, f"{uid}-map", {b"": b"the value"})
    await put(gateway, SMALL, f"{uid}-set", {b"x": b"", b"y": b""})
    assert values(await gateway.kv.get_items(SMALL, f"{uid}-map")) == {b"": b"the value"}
    assert values(await gateway.kv.get_items(SMALL, f"{uid}-set")) == {b"x": b"", b"y": b""}


async def test_get_unknown_record_is_an_empty_page(gateway: DataGateway, uid: str) -> None:
    page = await gateway.kv.get_items(SMALL, f"{uid}-nothing")
    assert page == ItemPage([], None)


async def test_get_by_keys_returns_only_existing_keys(gateway: DataGateway, uid: str) -> None:
    await put(gateway, SMALL, uid, ten_items())
    page = await gateway.kv.get_items(SMALL, uid, keys=[b"k07", b"k02", b"zz", b"k02"])
    assert [(i.key, i.value) for i in page.items] == [(b"k02", b"v2"), (b"k07", b"v7")]
    desc = await gateway.kv.get_items(SMALL, uid, keys=[b"k07", b"k02"], descending=True)
    assert keys_of(desc) == [b"k07", b"k02"]


async def test_get_by_range_includes_start_and_excludes_end(
    gateway: DataGateway, uid: str
) -> None:
    await put(gateway, SMALL, uid, ten_items())
    page = await gateway.kv.get_items(SMALL, uid, start=b"k03", end=b"k06")
    assert keys_of(page) == [b"k03", b"k04", b"k05"]
    desc = await gateway.kv.get_items(SMALL, uid, start=b"k03", end=b"k06", descending=True)
    assert keys_of(desc) == [b"k05", b"k04", b"k03"]
    assert keys_of(await gateway.kv.get_items(SMALL, uid, start=b"k08")) == [b"k08", b"k09"]
    assert keys_of(await gateway.kv.get_items(SMALL, uid, end=b"k02")) == [b"k00", b"k01"]
    between = await gateway.kv.get_items(SMALL, uid, start=b"k031", end=b"k04")
    assert keys_of(between) == []


# --- pagination ----------------------------------------------------------------------------


@pytest.mark.parametrize("descending", [False, True])
async def test_pages_by_item_count_cover_every_item_once(
    gateway: DataGateway, uid: str, descending: bool
) -> None:
    items = {f"k{i:02d}".encode(): bytes([i]) * 3 for i in range(23)}
    await put(gateway, SMALL, uid, items)
    pages = await all_pages(gateway, SMALL, uid, limit=5, descending=descending)
    assert [len(p.items) for p in pages] == [5, 5, 5, 5, 3]
    got = [key for page in pages for key in keys_of(page)]
    assert got == sorted(items, reverse=descending)
    assert {i.key: i.value for p in pages for i in p.items} == items


async def test_pages_by_item_count_within_a_range(gateway: DataGateway, uid: str) -> None:
    await put(gateway, SMALL, uid, ten_items())
    pages = await all_pages(gateway, SMALL, uid, start=b"k02", end=b"k07", limit=2)
    assert [keys_of(p) for p in pages] == [[b"k02", b"k03"], [b"k04", b"k05"], [b"k06"]]


async def test_default_page_size_is_the_namespace_page_items(
    gateway: DataGateway, uid: str
) -> None:
    items = {f"k{i:02d}".encode(): b"v" for i in range(12)}
    await put(gateway, SMALL, uid, items)
    first = await gateway.kv.get_items(SMALL, uid)
    assert len(first.items) == 10
    assert first.next_page_token is not None


async def test_exact_page_leaves_no_token(gateway: DataGateway, uid: str) -> None:
    await put(gateway, SMALL, uid, {b"a": b"1", b"b": b"2"})
    page = await gateway.kv.get_items(SMALL, uid, limit=2)
    assert keys_of(page) == [b"a", b"b"]
    assert page.next_page_token is None


@pytest.mark.parametrize("descending", [False, True])
async def test_pages_by_bytes_cover_every_item_once(
    gateway: DataGateway, uid: str, descending: bool
) -> None:
    # Each item weighs its key (3 bytes) plus its value (60 bytes): 63; a page of 200 holds 3.
    items = {f"k{i:02d}".encode(): random.randbytes(60) for i in range(11)}
    await put(gateway, SMALL, uid, items)
    pages = await all_pages(gateway, SMALL, uid, page_bytes=200, descending=descending)
    assert [len(p.items) for p in pages] == [3, 3, 3, 2]
    assert [k for p in pages for k in keys_of(p)] == sorted(items, reverse=descending)
    assert {i.key: i.value for p in pages for i in p.items} == items


async def test_pages_by_bytes_count_the_uncompressed_size(
    gateway: DataGateway, uid: str
) -> None:
    # 500-byte values compress to a few bytes, but a page is sized by what the client receives.
    items = {f"k{i}".encode(): bytes([65 + i]) * 500 for i in range(5)}
    await put(gateway, SMALL, uid, items)
    pages = await all_pages(gateway, SMALL, uid, page_bytes=1100)
    assert [len(p.items) for p in pages] == [2, 2, 1]
    assert {i.key: i.value for p in pages for i in p.items} == items


async def test_page_smaller_than_one_item_still_returns_one_item(
    gateway: DataGateway, uid: str
) -> None:
    items = {b"a": random.randbytes(300), b"b": random.randbytes(300)}
    await put(gateway, SMALL, uid, items)
    pages = await all_pages(gateway, SMALL, uid, page_bytes=10)
    assert [keys_of(p) for p in pages] == [[b"a"], [b"b"]]
    assert {i.key: i.value for p in pages for i in p.items} == items


async def test_pages_by_both_limits_stop_at_the_first_reached(
    gateway: DataGateway, uid: str
) -> None:
    items = {f"k{i}".encode(): b"x" * 98 for i in range(6)}  # 100 bytes each
    await put(gateway, SMALL, uid, items)
    by_count = await gateway.kv.get_items(SMALL, uid, limit=2, page_bytes=1000)
    by_bytes = await gateway.kv.get_items(SMALL, uid, limit=5, page_bytes=350)
    assert keys_of(by_count) == [b"k0", b"k1"]
    assert keys_of(by_bytes) == [b"k0", b"k1", b"k2"]


async def test_items_written_between_pages_after_the_cursor_appear(
    gateway: DataGateway, uid: str
) -> None:
    await put(gateway, SMALL, uid, {b"a": b"1", b"c": b"3", b"e": b"5"})
    first = await gateway.kv.get_items(SMALL, uid, limit=2)
    assert keys_of(first) == [b"a", b"c"]
    await put(gateway, SMALL, uid, {b"b": b"2", b"d": b"4"})
    rest = await gateway.kv.get_items(SMALL, uid, limit=2, page_token=first.next_page_token)
    assert keys_of(rest) == [b"d", b"e"]


async def test_modified_page_token_is_invalid(gateway: DataGateway, uid: str) -> None:
    await put(gateway, SMALL, uid, ten_items())
    page = await gateway.kv.get_items(SMALL, uid, limit=3)
    tok = page.next_page_token
    assert tok is not None
    for position in (0, len(tok) // 2, len(tok) - 2):
        swapped = "A" if tok[position] != "A" else "B"
        modified = tok[:position] + swapped + tok[position + 1:]
        with pytest.raises(InvalidPageToken):
            await gateway.kv.get_items(SMALL, uid, limit=3, page_token=modified)
    for garbage in ("", "x", "not a token!", tok[:-6], tok + "AAAA", "é"):
        with pytest.raises(InvalidPageToken) as caught:
            await gateway.kv.get_items(SMALL, uid, limit=3, page_token=garbage)
        assert isinstance(caught.value, ClientError)
        assert caught.value.code == "BAD_USER_INPUT"


async def test_page_token_of_another_query_is_rejected(gateway: DataGateway, uid: str) -> None:
    await put(gateway, SMALL, uid, ten_items())
    await put(gateway, SMALL, f"{uid}-other", ten_items())
    tok = (await gateway.kv.get_items(SMALL, uid, limit=3)).next_page_token
    assert tok is not None
    others: list[dict[str, object]] = [
        {"id": f"{uid}-other"},
        {"id": uid, "descending": True},
        {"id": uid, "start": b"k01"},
        {"id": uid, "keys": [b"k01", b"k05"]},
    ]
    for query in others:
        id = query.pop("id")
        with pytest.raises(InvalidPageToken):
            await gateway.kv.get_items(SMALL, id, limit=3, page_token=tok, **query)  # type: ignore[arg-type]
    with pytest.raises(InvalidPageToken):
        await gateway.kv.scan_ids(SMALL, page_token=tok)
    with pytest.raises(InvalidPageToken):
        await gateway.kv.get_items(BIG, uid, limit=3, page_token=tok)


# --- deletes -------------------------------------------------------------------------------


async def test_delete_keys_removes_only_those_keys(gateway: DataGateway, uid: str) -> None:
    await put(gateway, SMALL, uid, ten_items())
    await gateway.kv.delete_items(SMALL, uid, token(), keys=[b"k01", b"k05", b"absent"])
    page = await gateway.kv.get_items(SMALL, uid, limit=100)
    assert keys_of(page) == [k for k in ten_items() if k not in (b"k01", b"k05")]


async def test_delete_range_removes_start_inclusive_end_exclusive(
    gateway: DataGateway, uid: str
) -> None:
    await put(gateway, SMALL, uid, ten_items())
    await gateway.kv.delete_items(SMALL, uid, token(), start=b"k03", end=b"k07")
    page = await gateway.kv.get_items(SMALL, uid)
    assert keys_of(page) == [b"k00", b"k01", b"k02", b"k07", b"k08", b"k09"]


async def test_delete_open_ranges(gateway: DataGateway, uid: str) -> None:
    await put(gateway, SMALL, uid, ten_items())
    await gateway.kv.delete_items(SMALL, uid, token(), start=b"k08")
    await gateway.kv.delete_items(SMALL, uid, token(), end=b"k02")
    assert keys_of(await gateway.kv.get_items(SMALL, uid)) == [
        f"k{i:02d}".encode() for i in range(2, 8)
    ]


async def test_delete_record_removes_every_item_and_the_id(
    gateway: DataGateway, uid: str
) -> None:
    await put(gateway, SMALL, uid, ten_items())
    await put(gateway, SMALL, f"{uid}-keep", {b"a": b"1"})
    await gateway.kv.delete_items(SMALL, uid, token())
    assert (await gateway.kv.get_items(SMALL, uid)).items == []
    assert keys_of(await gateway.kv.get_items(SMALL, f"{uid}-keep")) == [b"a"]
    ids = await scan_all(gateway, SMALL)
    assert uid not in ids
    assert f"{uid}-keep" in ids


async def test_put_after_a_delete_with_a_newer_token_is_visible(
    gateway: DataGateway, uid: str
) -> None:
    await put(gateway, SMALL, uid, {b"a": b"1", b"b": b"2"})
    await gateway.kv.delete_items(SMALL, uid, token())
    await gateway.kv.delete_items(SMALL, uid, token(), keys=[b"a"])
    await put(gateway, SMALL, uid, {b"a": b"new", b"b": b"new"})
    assert values(await gateway.kv.get_items(SMALL, uid)) == {b"a": b"new", b"b": b"new"}


# --- scan ids and batch get ----------------------------------------------------------------


async def scan_all(gw: DataGateway, ns: str, limit: int = 100) -> list[str]:
    ids: list[str] = []
    page = await gw.kv.scan_ids(ns, limit=limit)
    ids += page.ids
    while page.next_page_token is not None:
        page = await gw.kv.scan_ids(ns, limit=limit, page_token=page.next_page_token)
        assert page.ids, "a page token led to an empty page"
        ids += page.ids
    return ids


async def test_scan_ids_pages_list_every_live_record_once(
    gateway: DataGateway, uid: str
) -> None:
    mine = [f"{uid}-{i:02d}" for i in range(13)]
    for id in mine:
        await put(gateway, SMALL, id, {b"k": id.encode()})
    await put(gateway, SMALL, f"{uid}-gone", {b"k": b"v"})
    await gateway.kv.delete_items(SMALL, f"{uid}-gone", token(), keys=[b"k"])
    ids = await scan_all(gateway, SMALL, limit=4)
    assert len(ids) == len(set(ids)), "an id was listed twice"
    assert sorted(i for i in ids if i.startswith(uid)) == mine
    assert f"{uid}-gone" not in ids
    small_pages = await gateway.kv.scan_ids(SMALL, limit=4)
    assert len(small_pages.ids) == 4
    assert small_pages.next_page_token is not None


async def test_scan_ids_token_tampering_is_rejected(gateway: DataGateway, uid: str) -> None:
    for i in range(3):
        await put(gateway, SMALL, f"{uid}-{i}", {b"k": b"v"})
    tok = (await gateway.kv.scan_ids(SMALL, limit=1)).next_page_token
    assert tok is not None
    with pytest.raises(InvalidPageToken):
        await gateway.kv.scan_ids(SMALL, limit=1, page_token=tok[:-3] + "AAA")
    with pytest.raises(InvalidPageToken):
        await gateway.kv.scan_ids(BIG, limit=1, page_token=tok)
    with pytest.raises(InvalidPageToken):
        await gateway.kv.get_items(SMALL, f"{uid}-0", page_token=tok)


async def test_get_items_many_reads_many_records_in_one_backend_call(
    gateway: DataGateway, uid: str, store_calls: Callable[..., StoreCalls]
) -> None:
    ids = [f"{uid}-{i:02d}" for i in range(30)]
    for n, id in enumerate(ids):
        items = {f"k{j}".encode(): f"{id}:{j}".encode() for j in range(n % 4 + 1)}
        await put(gateway, SMALL, id, items)
    calls = store_calls("kv_get_many")
    before = gateway.calls.snapshot()
    pages = await gateway.kv.get_items_many(SMALL, [*ids, f"{uid}-missing", ids[0]], limit=2)
    assert calls.counts == {"kv_get_many": 1}
    after = gateway.calls.snapshot()
    assert after.get(("kv", "get_items_many"), 0) - before.get(("kv", "get_items_many"), 0) == 1
    assert after.get(("kv", "get_items"), 0) == before.get(("kv", "get_items"), 0)
    assert list(pages) == [*ids, f"{uid}-missing"]
    assert pages[f"{uid}-missing"] == ItemPage([], None)
    for n, id in enumerate(ids):
        count = n % 4 + 1
        want = {f"k{j}".encode(): f"{id}:{j}".encode() for j in range(min(count, 2))}
        assert values(pages[id]) == want
        assert (pages[id].next_page_token is not None) == (count > 2)


async def test_get_items_many_tokens_continue_with_get_items(
    gateway: DataGateway, uid: str
) -> None:
    await put(gateway, SMALL, uid, ten_items())
    first = (await gateway.kv.get_items_many(SMALL, [uid], start=b"k02", limit=3))[uid]
    assert keys_of(first) == [b"k02", b"k03", b"k04"]
    rest = await gateway.kv.get_items(
        SMALL, uid, start=b"k02", limit=10, page_token=first.next_page_token
    )
    assert keys_of(rest) == [f"k{i:02d}".encode() for i in range(5, 10)]


async def test_get_items_many_reads_compressed_and_chunked_values(
    gateway: DataGateway, uid: str
) -> None:
    plain, packed, chunked = b"tiny", b"z" * 3000, random.randbytes(9000)
    await put(gateway, SMALL, f"{uid}-a", {b"k": plain})
    await put(gateway, SMALL, f"{uid}-b", {b"k": packed})
    await put(gateway, SMALL, f"{uid}-c", {b"k": chunked})
    pages = await gateway.kv.get_items_many(SMALL, [f"{uid}-a", f"{uid}-b", f"{uid}-c"])
    assert [values(p) for p in pages.values()] == [{b"k": plain}, {b"k": packed}, {b"k": chunked}]


# --- TTL -----------------------------------------------------------------------------------


async def test_item_with_ttl_expires_and_others_stay(gateway: DataGateway, uid: str) -> None:
    await gateway.kv.put_items(
        SMALL,
        uid,
        [Item(b"short", b"1", ttl_seconds=3), Item(b"long", b"2", ttl_seconds=600),
         Item(b"forever", b"3")],
        token(),
    )
    await put(gateway, SMALL, f"{uid}-all-short", {b"k": b"v"})  # replaced below with a TTL
    await gateway.kv.put_items(SMALL, f"{uid}-all-short", [Item(b"k", b"v", 3)], token())
    page = await gateway.kv.get_items(SMALL, uid)
    ttl = {i.key: i.ttl_seconds for i in page.items}
    assert ttl[b"forever"] is None
    assert ttl[b"short"] is not None and 0 < ttl[b"short"] <= 3
    assert ttl[b"long"] is not None and 590 <= ttl[b"long"] <= 600
    await asyncio.sleep(3.2)
    assert values(await gateway.kv.get_items(SMALL, uid)) == {b"long": b"2", b"forever": b"3"}
    assert (await gateway.kv.get_items(SMALL, f"{uid}-all-short")).items == []
    assert f"{uid}-all-short" not in await scan_all(gateway, SMALL)


# --- last write wins -----------------------------------------------------------------------


async def test_older_write_arriving_late_does_not_overwrite(
    gateway: DataGateway, uid: str
) -> None:
    now = now_micros()
    older, newer = token(now - 2_000_000), token(now - 1_000_000)
    await gateway.kv.put_items(SMALL, uid, [Item(b"k", b"new")], newer)
    await gateway.kv.put_items(SMALL, uid, [Item(b"k", b"old"), Item(b"other", b"o")], older)
    assert values(await gateway.kv.get_items(SMALL, uid)) == {b"k": b"new", b"other": b"o"}


async def test_retried_write_with_the_same_token_is_a_no_op(
    gateway: DataGateway, uid: str
) -> None:
    first = token()
    await gateway.kv.put_items(SMALL, uid, [Item(b"k", b"v1")], first)
    await gateway.kv.put_items(SMALL, uid, [Item(b"k", b"v1")], first)
    assert values(await gateway.kv.get_items(SMALL, uid)) == {b"k": b"v1"}
    await gateway.kv.put_items(SMALL, uid, [Item(b"k", b"v2")], token())
    await gateway.kv.put_items(SMALL, uid, [Item(b"k", b"v1")], first)  # a late retry
    assert values(await gateway.kv.get_items(SMALL, uid)) == {b"k": b"v2"}
    retried_delete = token()
    await gateway.kv.delete_items(SMALL, uid, retried_delete, keys=[b"k"])
    await gateway.kv.put_items(SMALL, uid, [Item(b"k", b"v3")], token())
    await gateway.kv.delete_items(SMALL, uid, retried_delete, keys=[b"k"])
    assert values(await gateway.kv.get_items(SMALL, uid)) == {b"k": b"v3"}


@pytest.mark.parametrize("how", ["keys", "range", "record"])
async def test_delete_with_an_older_token_keeps_a_newer_item(
    gateway: DataGateway, uid: str, how: str
) -> None:
    now = now_micros()
    await gateway.kv.put_items(SMALL, uid, [Item(b"k1", b"old")], token(now - 3_000_000))
    await gateway.kv.put_items(SMALL, uid, [Item(b"k2", b"new")], token(now - 1_000_000))
    where = {"keys": {"keys": [b"k1", b"k2"]}, "range": {"start": b"k", "end": b"l"},
             "record": {}}[how]
    await gateway.kv.delete_items(SMALL, uid, token(now - 2_000_000), **where)  # type: ignore[arg-type]
    assert values(await gateway.kv.get_items(SMALL, uid)) == {b"k2": b"new"}


@pytest.mark.parametrize("how", ["keys", "range", "record"])
async def test_put_older_than_a_delete_stays_deleted(
    gateway: DataGateway, uid: str, how: str
) -> None:
    now = now_micros()
    await gateway.kv.put_items(SMALL, uid, [Item(b"k1", b"a"), Item(b"z", b"z")],
                               token(now - 4_000_000))
    where = {"keys": {"keys": [b"k1", b"k2"]}, "range": {"start": b"k", "end": b"l"},
             "record": {}}[how]
    await gateway.kv.delete_items(SMALL, uid, token(now - 2_000_000), **where)  # type: ignore[arg-type]
    late = [Item(b"k1", b"late"), Item(b"k2", b"late")]
    await gateway.kv.put_items(SMALL, uid, late, token(now - 3_000_000))
    survivors = {} if how == "record" else {b"z": b"z"}
    assert values(await gateway.kv.get_items(SMALL, uid)) == survivors
    await gateway.kv.put_items(SMALL, uid, [Item(b"k2", b"newer")], token(now - 1_000_000))
    assert values(await gateway.kv.get_items(SMALL, uid)) == {**{b"k2": b"newer"}, **survivors}


async def test_out_of_order_writes_converge_to_the_newest(
    gateway: DataGateway, uid: str
) -> None:
    now = now_micros()
    writes = [(token(now - 1_000_000 - i * 1000), f"v{i}".encode()) for i in range(20)]
    shuffled = writes[:]
    random.Random(7).shuffle(shuffled)
    await asyncio.gather(
        *(gateway.kv.put_items(SMALL, uid, [Item(b"k", v)], t) for t, v in shuffled)
    )
    assert values(await gateway.kv.get_items(SMALL, uid)) == {b"k": b"v0"}


async def test_token_too_far_in_the_future_is_rejected(gateway: DataGateway, uid: str) -> None:
    future = token(now_micros() + 5_000_000)
    with pytest.raises(InvalidIdempotencyToken):
        await gateway.kv.put_items(SMALL, uid, [Item(b"k", b"v")], future)
    with pytest.raises(InvalidIdempotencyToken):
        await gateway.kv.delete_items(SMALL, uid, future)
    for bad in (IdempotencyToken(now_micros(), ""), IdempotencyToken(0, "n"),
                IdempotencyToken(now_micros(), "n" * 129)):
        with pytest.raises(InvalidIdempotencyToken):
            await gateway.kv.put_items(SMALL, uid, [Item(b"k", b"v")], bad)
    assert (await gateway.kv.get_items(SMALL, uid)).items == []
    slightly_ahead = token(now_micros() + 300_000)  # within the 1 s allowed clock skew
    await gateway.kv.put_items(SMALL, uid, [Item(b"k", b"v")], slightly_ahead)
    assert values(await gateway.kv.get_items(SMALL, uid)) == {b"k": b"v"}


# --- put if absent (claims) ----------------------------------------------------------------


async def test_put_if_absent_stores_the_first_item_and_returns_it_to_later_ones(
    gateway: DataGateway, uid: str
) -> None:
    assert await gateway.kv.put_if_absent(SMALL, uid, Item(b"k", b"first", 600), token()) is None
    found = await gateway.kv.put_if_absent(SMALL, uid, Item(b"k", b"second"), token())
    assert found is not None and (found.key, found.value) == (b"k", b"first")
    page = await gateway.kv.get_items(SMALL, uid)
    assert values(page) == {b"k": b"first"}
    assert page.items[0].ttl_seconds is not None and 590 <= page.items[0].ttl_seconds <= 600
    # Another key of the same record is absent: claimed on its own.
    assert await gateway.kv.put_if_absent(SMALL, uid, Item(b"j", b"x"), token()) is None


async def test_put_if_absent_finds_an_item_written_by_a_plain_put(
    gateway: DataGateway, uid: str
) -> None:
    await put(gateway, SMALL, uid, {b"k": b"put"})
    found = await gateway.kv.put_if_absent(SMALL, uid, Item(b"k", b"claim"), token())
    assert found is not None and found.value == b"put"


async def test_put_if_absent_takes_a_deleted_key(gateway: DataGateway, uid: str) -> None:
    await put(gateway, SMALL, uid, {b"k": b"old"})
    await gateway.kv.delete_items(SMALL, uid, token(), keys=[b"k"])
    assert await gateway.kv.put_if_absent(SMALL, uid, Item(b"k", b"new"), token()) is None
    assert values(await gateway.kv.get_items(SMALL, uid)) == {b"k": b"new"}


async def test_put_if_absent_round_trips_a_compressed_value_and_refuses_a_chunked_one(
    gateway: DataGateway, uid: str
) -> None:
    large = os.urandom(32) * 64  # 2 KiB, over SMALL's 64 B compression threshold
    assert await gateway.kv.put_if_absent(SMALL, uid, Item(b"k", large), token()) is None
    found = await gateway.kv.put_if_absent(SMALL, uid, Item(b"k", b"other"), token())
    assert found is not None and found.value == large
    with pytest.raises(TooLarge):
        await gateway.kv.put_if_absent(SMALL, uid, Item(b"big", os.urandom(8192)), token())
    assert keys_of(await gateway.kv.get_items(SMALL, uid)) == [b"k"]


async def test_concurrent_put_if_absent_from_two_gateways_stores_exactly_one(
    gateway: DataGateway, uid: str, reopen: Reopen
) -> None:
    replica = await reopen()  # another process on the same store
    claims = [
        (gateway if n % 2 else replica).kv.put_if_absent(
            SMALL, uid, Item(b"claim", f"v{n}".encode()), token()
        )
        for n in range(16)
    ]
    found = await asyncio.gather(*claims)
    winners = [n for n, item in enumerate(found) if item is None]
    assert len(winners) == 1, found
    value = f"v{winners[0]}".encode()
    assert all(item.value == value for item in found if item is not None)
    assert values(await replica.kv.get_items(SMALL, uid)) == {b"claim": value}


# --- compression and chunking --------------------------------------------------------------


async def test_value_over_the_compression_threshold_round_trips_compressed(
    gateway: DataGateway, uid: str
) -> None:
    text = b"the same words again and again " * 40  # 1240 bytes, well over 64
    noise = random.randbytes(1000)  # does not compress: stored as it is
    await put(gateway, SMALL, uid, {b"text": text, b"noise": noise, b"tiny": b"x" * 64})
    assert values(await gateway.kv.get_items(SMALL, uid)) == {
        b"text": text, b"noise": noise, b"tiny": b"x" * 64
    }
    stored = await gateway.store.kv_get(SMALL, uid, KVQuery(limit=10))
    size = {s.key: len(s.value) for s in stored}
    assert size[b"text"] < len(text) // 4
    assert size[b"noise"] == len(noise)
    assert size[b"tiny"] == 64


async def test_five_mib_value_round_trips_chunked(gateway: DataGateway, uid: str) -> None:
    big = os.urandom(5 * MiB)
    await put(gateway, BIG, uid, {b"blob": big, b"small": b"s"})
    pages = await all_pages(gateway, BIG, uid)
    # The 5 MiB item alone fills the 2 MiB page: a page holds at least one item, then stops.
    assert [keys_of(p) for p in pages] == [[b"blob"], [b"small"]]
    assert pages[0].items[0].value == big
    stored = await gateway.store.kv_get(BIG, uid, KVQuery(keys=(b"blob",), limit=1))
    assert len(stored[0].value) < MiB, "a large value must live in chunks, not in its row"
    one = await gateway.kv.get_items(BIG, uid, keys=[b"blob"])
    assert one.items[0].value == big


async def test_chunked_value_replaced_by_small_then_deleted(
    gateway: DataGateway, uid: str
) -> None:
    big, bigger = random.randbytes(10_000), random.randbytes(30_000)
    await put(gateway, SMALL, uid, {b"k": big})
    assert values(await gateway.kv.get_items(SMALL, uid)) == {b"k": big}
    await put(gateway, SMALL, uid, {b"k": bigger})
    assert values(await gateway.kv.get_items(SMALL, uid)) == {b"k": bigger}
    await put(gateway, SMALL, uid, {b"k": b"small now"})
    assert values(await gateway.kv.get_items(SMALL, uid)) == {b"k": b"small now"}
    await put(gateway, SMALL, uid, {b"k": big})
    await gateway.kv.delete_items(SMALL, uid, token(), keys=[b"k"])
    assert (await gateway.kv.get_items(SMALL, uid)).items == []


async def test_older_chunked_write_arriving_late_does_not_overwrite(
    gateway: DataGateway, uid: str
) -> None:
    now = now_micros()
    new, old = random.randbytes(9000), random.randbytes(12_000)
    await gateway.kv.put_items(SMALL, uid, [Item(b"k", new)], token(now - 1_000_000))
    await gateway.kv.put_items(SMALL, uid, [Item(b"k", old)], token(now - 2_000_000))
    assert values(await gateway.kv.get_items(SMALL, uid)) == {b"k": new}


async def test_reader_racing_chunked_overwrites_never_sees_a_mix(
    gateway: DataGateway, uid: str
) -> None:
    # Random fills do not compress, so each 20000-byte value is stored as 20 chunks.
    fills = [random.Random(seed).randbytes(20_000) for seed in range(4)]
    await put(gateway, SMALL, uid, {b"k": fills[0]})
    done = asyncio.Event()
    seen: list[int] = []

    def origin(value: bytes) -> str:
        """Which fill each 1 KiB chunk of a value came from (for the failure message)."""
        parts = [value[i:i + 1024] for i in range(0, len(value), 1024)]
        return " ".join(
            str(next((f for f, fill in enumerate(fills) if fill[i * 1024:][:1024] == part), "?"))
            for i, part in enumerate(parts)
        )

    async def writer(n: int) -> None:
        for round_ in range(12):
            await put(gateway, SMALL, uid, {b"k": fills[(n + round_) % len(fills)]})

    async def reader() -> None:
        while not done.is_set() or len(seen) < 20:
            try:
                page = await gateway.kv.get_items(SMALL, uid)
            except Unavailable:
                continue  # "changed while it was read; retry" is allowed, a mix is not
            assert len(page.items) == 1
            value = page.items[0].value
            assert value in fills, f"a read mixed writes: {len(value)} bytes from {origin(value)}"
            seen.append(fills.index(value))

    readers = [asyncio.create_task(reader()) for _ in range(4)]
    await asyncio.gather(*(writer(n) for n in range(3)))
    done.set()
    await asyncio.gather(*readers)
    assert len(set(seen)) >= 2, "the readers never saw an overwrite"
    final = await gateway.kv.get_items(SMALL, uid)
    assert final.items[0].value in fills


# --- limits and bad input ------------------------------------------------------------------


async def test_value_over_max_value_bytes_is_too_large(gateway: DataGateway, uid: str) -> None:
    await put(gateway, SMALL, uid, {b"edge": random.randbytes(65536)})
    with pytest.raises(TooLarge):
        await put(gateway, SMALL, uid, {b"k": random.randbytes(65537)})
    assert keys_of(await gateway.kv.get_items(SMALL, uid)) == [b"edge"]


async def test_request_over_max_request_bytes_is_too_large(
    gateway: DataGateway, uid: str
) -> None:
    items = {b"a": b"x" * 65536, b"b": b"y" * 65536}  # each value fits, the request does not
    with pytest.raises(TooLarge):
        await put(gateway, SMALL, uid, items)
    assert (await gateway.kv.get_items(SMALL, uid)).items == []


async def test_too_many_items_or_keys_is_too_large(gateway: DataGateway, uid: str) -> None:
    await put(gateway, SMALL, uid, {f"k{i}".encode(): b"v" for i in range(50)})
    with pytest.raises(TooLarge):
        await put(gateway, SMALL, uid, {f"k{i}".encode(): b"v" for i in range(51)})
    with pytest.raises(TooLarge):
        await gateway.kv.get_items(SMALL, uid, keys=[f"k{i}".encode() for i in range(51)])
    with pytest.raises(TooLarge):
        await gateway.kv.delete_items(
            SMALL, uid, token(), keys=[f"k{i}".encode() for i in range(51)]
        )
    with pytest.raises(TooLarge):
        await gateway.kv.get_items_many(SMALL, [f"{uid}-{i}" for i in range(51)])
    with pytest.raises(TooLarge):
        await put(gateway, SMALL, uid, {b"k" * 1025: b"v"})
    assert len((await gateway.kv.get_items(SMALL, uid, limit=100)).items) == 50


async def test_bad_requests_are_invalid_arguments(gateway: DataGateway, uid: str) -> None:
    bad_calls: list[Callable[[], Awaitable[object]]] = [
        lambda: gateway.kv.put_items(SMALL, uid, [], token()),
        lambda: gateway.kv.put_items(SMALL, uid, [Item(b"k", b"1"), Item(b"k", b"2")], token()),
        lambda: gateway.kv.put_items(SMALL, "", [Item(b"k", b"v")], token()),
        lambda: gateway.kv.put_items(SMALL, "x" * 513, [Item(b"k", b"v")], token()),
        lambda: gateway.kv.put_items(SMALL, uid, [Item("k", b"v")], token()),  # type: ignore[arg-type]
        lambda: gateway.kv.put_items(SMALL, uid, [Item(b"k", b"v", ttl_seconds=0)], token()),
        lambda: gateway.kv.put_items(SMALL, uid, [Item(b"k", b"v", 1.5)], token()),  # type: ignore[arg-type]
        lambda: gateway.kv.put_items(SMALL, uid, [Item(b"k", "text")], token()),  # type: ignore[arg-type]
        lambda: gateway.kv.put_items(SMALL, uid, [Item(b"k", None)], token()),  # type: ignore[arg-type]
        lambda: gateway.kv.get_items(SMALL, uid, start="a"),  # type: ignore[arg-type]
        lambda: gateway.kv.get_items(SMALL, uid, end="z"),  # type: ignore[arg-type]
        lambda: gateway.kv.delete_items(SMALL, uid, token(), start="a"),  # type: ignore[arg-type]
        lambda: gateway.kv.get_items(SMALL, ""),
        lambda: gateway.kv.get_items(SMALL, uid, start=b"b", end=b"a"),
        lambda: gateway.kv.get_items(SMALL, uid, start=b"a", end=b"a"),
        lambda: gateway.kv.get_items(SMALL, uid, keys=[b"a"], start=b"a"),
        lambda: gateway.kv.get_items(SMALL, uid, limit=0),
        lambda: gateway.kv.get_items(SMALL, uid, limit=101),
        lambda: gateway.kv.get_items(SMALL, uid, page_bytes=0),
        lambda: gateway.kv.get_items_many(SMALL, [uid, ""]),
        lambda: gateway.kv.delete_items(SMALL, uid, token(), keys=[]),
        lambda: gateway.kv.delete_items(SMALL, uid, token(), keys=[b"a"], start=b"a"),
        lambda: gateway.kv.delete_items(SMALL, uid, token(), start=b"b", end=b"a"),
        lambda: gateway.kv.delete_items(SMALL, "", token()),
        lambda: gateway.kv.scan_ids(SMALL, limit=0),
    ]
    for call in bad_calls:
        with pytest.raises(InvalidArgument) as caught:
            await call()
        assert caught.value.code == "BAD_USER_INPUT"
    assert (await gateway.kv.get_items(SMALL, uid)).items == []


async def test_items_stored_as_they_are_carry_no_metadata_and_older_rows_still_read(
    gateway: DataGateway, uid: str
) -> None:
    """Plain items are stored with empty metadata (a read recognises a page of them at once);
    rows written with the full "stored as it is" metadata, as before, read the same."""
    await put(gateway, SMALL, uid, {b"a": b"1", b"c": b"3"})
    stored = await gateway.store.kv_get(SMALL, uid, KVQuery(limit=10))
    assert [(s.key, s.metadata) for s in stored] == [(b"a", b""), (b"c", b"")]
    older = _META.pack(1, 0, 1, 0, 0)  # format 1, no flags, 1 byte
    await gateway.store.kv_put(
        SMALL, uid, [StoredItem(b"b", b"2", older)], token().stamp()
    )
    page = await gateway.kv.get_items(SMALL, uid)
    assert page.items == [Item(b"a", b"1"), Item(b"b", b"2"), Item(b"c", b"3")]
    assert [i.key for i in (await gateway.kv.get_items(SMALL, uid, limit=2)).items] == [
        b"a", b"b"
    ]
