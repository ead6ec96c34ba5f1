"""The Key-Value abstraction: `id -> sorted map(key -> value)` per namespace.

Here live the parts every backend shares: validation and limits, idempotency-token checks,
compression, chunking of large values, byte- and count-limited pages with signed tokens, and call
metrics.  The backend only stores and fetches `StoredItem`s.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from operator import itemgetter
from typing import NamedTuple

from backends.base import KVQuery, KVStore, StoredItem, StoredItems, WriteStamp

from .cache import KVCache
from .cursors import Cursors
from .errors import InvalidArgument, TooLarge, Unavailable
from .metrics import CallCounter, StoreCalls
from .namespaces import KVNamespace, Namespaces
from .tokens import IdempotencyToken, PageTokens, decode_bytes, encode_bytes

MAX_ID_LENGTH = 512
CHUNK_READ_ATTEMPTS = 5
_FLAG_COMPRESSED = 1
_FLAG_CHUNKED = 2
_META = struct.Struct(">BBQIQ")  # format version, flags, value size, chunk count, chunk stamp


class Item(NamedTuple):
    """One item of a record; `ttl_seconds` (when set) makes it expire.

    A named tuple (a page of a read makes one per row: see `_page`).
    """

    key: bytes
    value: bytes
    ttl_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class ItemPage:
    """A page of items and, when more match, the token that fetches the next page.

    `cursors[i]` resumes right after `items[i]` (Relay edge cursors).
    """

    items: list[Item]
    next_page_token: str | None = None
    cursors: Sequence[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class IdPage:
    """A page of record ids."""

    ids: list[str]
    next_page_token: str | None = None


@dataclass(frozen=True, slots=True)
class _Meta:
    """How an item is stored.  A value stored as it is has no metadata at all (b""): that is
    most items, and a read knows a page of them by `any(metadata)` alone (`KeyValue._page`)."""

    flags: int
    size: int
    chunks: int = 0
    stamp: WriteStamp | None = None

    def encode(self) -> bytes:
        if not self.flags:
            return b""
        stamp = self.stamp or WriteStamp(0, "")
        head = _META.pack(1, self.flags, self.size, self.chunks, stamp.micros)
        return head + stamp.nonce.encode()

    @classmethod
    def decode(cls, raw: bytes, stored_len: int) -> _Meta:
        if not raw:
            return cls(0, stored_len)
        _, flags, size, chunks, micros = _META.unpack_from(raw)
        nonce = raw[_META.size:].decode()
        return cls(flags, size, chunks, WriteStamp(micros, nonce) if chunks else None)


@dataclass(frozen=True, slots=True)
class _Selection:
    """What a get selects; its digest scopes page tokens to the query they came from."""

    keys: tuple[bytes, ...] | None
    start: bytes | None
    end: bytes | None
    descending: bool

    def scope(self, namespace: str, id: str) -> str:
        h = hashlib.sha256(repr((namespace, id, self)).encode()).hexdigest()[:24]
        return f"kv:{h}"


class KeyValue:
    """Key-Value operations over any `KVStore`."""

    def __init__(
        self,
        store: KVStore,
        namespaces: Namespaces,
        page_tokens: PageTokens,
        calls: CallCounter | None = None,
        store_calls: StoreCalls | None = None,
        cache: KVCache | None = None,
    ) -> None:
        self._store = store
        self._cache = cache
        self._namespaces = namespaces
        self._tokens = page_tokens
        self._calls = calls or CallCounter()
        self._call = (store_calls or StoreCalls()).bind("kv", store)

    # --- writes ---------------------------------------------------------------------------

    async def put_items(
        self, namespace: str, id: str, items: Sequence[Item], token: IdempotencyToken
    ) -> None:
        """Upsert items; a write older (by token) than what is stored changes nothing."""
        self._calls.record("kv", "put_items")
        ns = self._namespace(namespace)
        _check_id(id)
        token.check(self._namespaces.settings.max_future_micros, max_age_micros=_max_age(ns))
        self._check_items(ns, items)
        stamp = token.stamp()
        stored: list[StoredItem] = []
        try:
            with self._call("put_items"):
                for item in items:
                    plain = _plain(ns, item)
                    stored.append(plain or await self._encode(ns, id, item, stamp))
                await self._store.kv_put(ns.name, id, stored, stamp)
        finally:  # also after a failure: the write may have been applied
            await self._invalidate(ns, id)

    async def put_if_absent(
        self, namespace: str, id: str, item: Item, token: IdempotencyToken
    ) -> Item | None:
        """Store `item` unless its key holds a live item; returns that item (its TTL not
        reported), or None when `item` was stored.

        Atomic in the store across processes: of concurrent calls for one key, exactly one
        stores (a claim: the first attempt of something, a lease).  A value too large to store
        without chunks is refused (`TooLarge`): a claim is one row.
        """
        self._calls.record("kv", "put_if_absent")
        ns = self._namespace(namespace)
        _check_id(id)
        token.check(self._namespaces.settings.max_future_micros)
        self._check_items(ns, [item])
        stamp = token.stamp()
        try:
            with self._call("put_if_absent"):
                stored = (_plain(ns, item)
                          or await self._encode(ns, id, item, stamp, allow_chunks=False))
                found = await self._store.kv_put_if_absent(ns.name, id, stored, stamp)
                return None if found is None else await self._decode(ns, id, found)
        finally:  # a claim that stored (or may have); one that found an item changed nothing
            await self._invalidate(ns, id)

    async def delete_items(
        self,
        namespace: str,
        id: str,
        token: IdempotencyToken,
        *,
        keys: Sequence[bytes] | None = None,
        start: bytes | None = None,
        end: bytes | None = None,
    ) -> None:
        """Delete some keys, a key range `[start, end)`, or (neither given) the whole record."""
        self._calls.record("kv", "delete_items")
        ns = self._namespace(namespace)
        _check_id(id)
        token.check(self._namespaces.settings.max_future_micros, max_age_micros=_max_age(ns))
        _check_delete(ns, keys, start, end)
        try:
            with self._call("delete_items"):
                await self._store.kv_delete(
                    ns.name, id, token.stamp(),
                    keys=list(dict.fromkeys(keys)) if keys is not None else None,
                    start=start, end=end,
                )
        finally:
            await self._invalidate(ns, id)

    def check_put(self, namespace: str, id: str, items: Sequence[Item]) -> None:
        """Refuse what `put_items` would refuse of this input, writing nothing: a caller with
        several writes checks every one before the first (the token is checked at the write)."""
        ns = self._namespace(namespace)
        _check_id(id)
        self._check_items(ns, items)

    def check_delete(
        self,
        namespace: str,
        id: str,
        *,
        keys: Sequence[bytes] | None = None,
        start: bytes | None = None,
        end: bytes | None = None,
    ) -> None:
        """Refuse what `delete_items` would refuse of this input, deleting nothing."""
        ns = self._namespace(namespace)
        _check_id(id)
        _check_delete(ns, keys, start, end)

    # --- reads ----------------------------------------------------------------------------

    def check_read(self, namespace: str, id: str) -> None:
        """Refuse what `get_items` would refuse of this record whatever it asks, reading
        nothing: a field resolving to the record fails as its items would."""
        self._namespace(namespace)
        _check_id(id)

    async def get_items(
        self,
        namespace: str,
        id: str,
        *,
        keys: Sequence[bytes] | None = None,
        start: bytes | None = None,
        end: bytes | None = None,
        descending: bool = False,
        limit: int | None = None,
        page_bytes: int | None = None,
        page_token: str | None = None,
    ) -> ItemPage:
        """Items of one record in key order: all, by keys, or by range `[start, end)`."""
        self._calls.record("kv", "get_items")
        ns = self._namespace(namespace)
        _check_id(id)
        selection = self._selection(ns, keys, start, end, descending)
        count, size = self._page_limits(ns, limit, page_bytes)
        scope = partial(selection.scope, ns.name, id)  # made only when a token is signed or read
        after = await self._resume(scope(), page_token) if page_token is not None else None
        query = _query(selection, after, count + 1)
        with self._call("get_items"):
            if after is None and self._cache is not None and ns.cache_ttl_seconds:
                fetch = partial(self._fetch, ns, query)
                rows = (await self._cache.read(ns, [id], query, fetch))[id]
            else:
                rows = await self._store.kv_get(ns.name, id, query)
            return await self._page(ns, id, scope, rows, count, size)

    async def get_items_many(
        self,
        namespace: str,
        ids: Sequence[str],
        *,
        keys: Sequence[bytes] | None = None,
        start: bytes | None = None,
        end: bytes | None = None,
        descending: bool = False,
        limit: int | None = None,
        page_bytes: int | None = None,
    ) -> dict[str, ItemPage]:
        """The first page of many records, in one backend call (what dataloaders batch into)."""
        self._calls.record("kv", "get_items_many")
        ns = self._namespace(namespace)
        unique = list(dict.fromkeys(ids))
        for id in unique:
            _check_id(id)
        if len(unique) > ns.max_items_per_request:
            raise TooLarge(f"at most {ns.max_items_per_request} ids per request")
        selection = self._selection(ns, keys, start, end, descending)
        count, size = self._page_limits(ns, limit, page_bytes)
        query = _query(selection, None, count + 1)
        with self._call("get_items_many"):
            if self._cache is not None and ns.cache_ttl_seconds:
                found = await self._cache.read(ns, unique, query, partial(self._fetch, ns, query))
            else:
                found = await self._store.kv_get_many(ns.name, unique, query)
            pages = await asyncio.gather(
                *(
                    self._page(ns, id, partial(selection.scope, ns.name, id), found.get(id, []),
                               count, size)
                    for id in unique
                )
            )
        return dict(zip(unique, pages, strict=True))

    async def scan_ids(
        self, namespace: str, *, limit: int | None = None, page_token: str | None = None
    ) -> IdPage:
        """Ids of records that hold live items, in id order, a page at a time."""
        self._calls.record("kv", "scan_ids")
        ns = self._namespace(namespace)
        count, _ = self._page_limits(ns, limit, None)
        scope = f"kv-scan:{ns.name}"
        after = (await self._tokens.verify(scope, page_token)).get("a") if page_token else None
        if after is not None and not isinstance(after, str):
            raise InvalidArgument("page token is not valid")
        with self._call("scan_ids"):
            ids = await self._store.kv_scan_ids(ns.name, after, count + 1)
        more = len(ids) > count
        ids = ids[:count]
        token = self._tokens.encode(scope, {"a": ids[-1]}) if more and ids else None
        return IdPage(ids, token)

    # --- helpers --------------------------------------------------------------------------

    async def _fetch(
        self, ns: KVNamespace, query: KVQuery, ids: list[str]
    ) -> dict[str, Sequence[StoredItem]]:
        """What the cache missed, from the store (one call, whatever the number of ids)."""
        if len(ids) == 1:
            return {ids[0]: await self._store.kv_get(ns.name, ids[0], query)}
        return await self._store.kv_get_many(ns.name, ids, query)

    async def _invalidate(self, ns: KVNamespace, id: str) -> None:
        """Shielded: a request cancelled (its deadline) after its store write still replaces
        the generation (bounded by the cache's own timeout), or a cached page would outlive
        a write that was applied."""
        if self._cache is not None and ns.cache_ttl_seconds:
            await asyncio.shield(self._cache.invalidate(ns, id))

    def _namespace(self, name: str) -> KVNamespace:
        return self._namespaces.get(name, KVNamespace)

    @staticmethod
    def _check_items(ns: KVNamespace, items: Sequence[Item]) -> None:
        if not items:
            raise InvalidArgument("items must not be empty")
        if len(items) > ns.max_items_per_request:
            raise TooLarge(
                f"{len(items)} items in one request; namespace {ns.name!r} allows "
                f"{ns.max_items_per_request}"
            )
        seen: set[bytes] = set()
        total = 0
        max_key, max_value = ns.max_key_bytes, ns.max_value_bytes
        for item in items:
            key, value, ttl = item.key, item.value, item.ttl_seconds
            if type(key) is not bytes or len(key) > max_key:  # the common case, checked fast
                _check_key(ns, key)
            if key in seen:
                raise InvalidArgument(f"key {key!r} appears twice in one request")
            seen.add(key)
            if not isinstance(value, bytes):
                raise InvalidArgument(f"value of key {key!r} must be bytes")
            if len(value) > max_value:
                raise TooLarge(
                    f"value of key {key!r} is {len(value)} bytes; namespace "
                    f"{ns.name!r} allows {max_value}"
                )
            if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0):
                raise InvalidArgument("ttl_seconds must be an integer greater than 0")
            total += len(key) + len(value)
        if total > ns.max_request_bytes:
            raise TooLarge(
                f"request carries {total} bytes; namespace {ns.name!r} allows "
                f"{ns.max_request_bytes}"
            )

    async def _encode(
        self, ns: KVNamespace, id: str, item: Item, stamp: WriteStamp, *, allow_chunks: bool = True
    ) -> StoredItem:
        """Compress; when still large, store chunks first and let the item point to them
        (or, without `allow_chunks`, refuse it)."""
        ttl = item.ttl_seconds or ns.default_ttl_seconds or None
        value, flags = item.value, 0
        if ns.compress_over_bytes and len(value) > ns.compress_over_bytes:
            packed = zlib.compress(value, 6)
            if len(packed) < len(value):
                value, flags = packed, _FLAG_COMPRESSED
        if len(value) <= ns.chunk_threshold_bytes:
            return StoredItem(item.key, value, _Meta(flags, len(item.value)).encode(), ttl)
        if not allow_chunks:
            raise TooLarge(
                f"value of key {item.key!r} is {len(value)} bytes stored; a claim holds at most "
                f"{ns.chunk_threshold_bytes} (the chunk threshold of {ns.name!r})"
            )
        step = ns.chunk_size_bytes
        chunks = [value[i:i + step] for i in range(0, len(value), step)]
        await self._store.kv_put_chunks(ns.name, id, item.key, stamp, chunks, ttl)
        meta = _Meta(flags | _FLAG_CHUNKED, len(item.value), len(chunks), stamp)
        return StoredItem(item.key, b"", meta.encode(), ttl)

    async def _decode(self, ns: KVNamespace, id: str, row: StoredItem) -> Item:
        meta = _Meta.decode(row.metadata, len(row.value))
        value = row.value
        if meta.flags & _FLAG_CHUNKED:
            value = await self._chunks(ns, id, row, meta)
        if meta.flags & _FLAG_COMPRESSED:
            value = zlib.decompress(value)
        return Item(row.key, value, row.ttl_seconds)

    async def _chunks(self, ns: KVNamespace, id: str, row: StoredItem, meta: _Meta) -> bytes:
        """The chunks a row points to; if a newer write replaced them meanwhile, read it instead."""
        for _ in range(CHUNK_READ_ATTEMPTS):
            assert meta.stamp is not None
            chunks = await self._store.kv_get_chunks(ns.name, id, row.key, meta.stamp, meta.chunks)
            if chunks is not None:
                return b"".join(chunks)
            fresh = await self._store.kv_get(ns.name, id, KVQuery(keys=(row.key,), limit=1))
            if not fresh:
                raise Unavailable(f"item {row.key!r} was deleted while it was read; retry")
            meta = _Meta.decode(fresh[0].metadata, len(fresh[0].value))
            if not meta.flags & _FLAG_CHUNKED:
                return fresh[0].value
            row = fresh[0]
        raise Unavailable(f"item {row.key!r} kept changing while it was read; retry")

    def _selection(
        self,
        ns: KVNamespace,
        keys: Sequence[bytes] | None,
        start: bytes | None,
        end: bytes | None,
        descending: bool,
    ) -> _Selection:
        if keys is None and start is None and end is None:
            return _WHOLE_RECORD[bool(descending)]
        if keys is not None:
            if start is not None or end is not None:
                raise InvalidArgument("select either keys or a key range, not both")
            if len(keys) > ns.max_items_per_request:
                raise TooLarge(f"at most {ns.max_items_per_request} keys per request")
            for key in keys:
                _check_key(ns, key)
            keys = tuple(sorted(set(keys)))
        _check_range(start, end)
        return _Selection(keys, start, end, descending)

    def _page_limits(
        self, ns: KVNamespace, limit: int | None, page_bytes: int | None
    ) -> tuple[int, int]:
        count = ns.page_items if limit is None else limit
        if not 1 <= count <= ns.max_page_items:
            raise InvalidArgument(f"limit must be between 1 and {ns.max_page_items}")
        size = ns.page_bytes if page_bytes is None else page_bytes
        if size < 1:
            raise InvalidArgument("page_bytes must be greater than 0")
        return count, size

    async def _resume(self, scope: str, page_token: str) -> bytes:
        return decode_bytes((await self._tokens.verify(scope, page_token)).get("a"))

    async def _page(
        self,
        ns: KVNamespace,
        id: str,
        scope: Callable[[], str],
        rows: Sequence[StoredItem],
        count: int,
        size: int,
    ) -> ItemPage:
        """Cut rows to the count and byte limits (at least one item), and sign the resume point.

        Edge cursors are signed when read (`Cursors`); only the next-page token is signed here.
        """
        shown = rows if len(rows) <= count else rows[:count]
        keys, values, metadata, ttls = _columns(shown)
        if not any(metadata) and sum(map(len, keys)) + sum(map(len, values)) <= size:
            # The common case: every item stored as it is (no metadata: see `_Meta`) and the
            # page within its bytes; its items are made in C, with no Python per item.
            items = list(map(_make_item, zip(keys, values, ttls, strict=True)))
            return self._finish(scope, items, keys, len(rows))
        taken: list[bytes] = []
        items = []
        used = 0
        for row in shown:
            meta = row.metadata
            flags = meta[1] if meta else 0  # `_Meta` as encoded: format version, flags, ...
            weight = len(row.key) + (_META.unpack_from(meta)[2] if flags else len(row.value))
            if taken and used + weight > size:
                break
            taken.append(row.key)
            used += weight
            if flags:  # compressed or chunked
                items.append(await self._decode(ns, id, row))
            else:
                items.append(_make_item((row.key, row.value, row.ttl_seconds)))
        return self._finish(scope, items, taken, len(rows))

    def _finish(
        self, scope: Callable[[], str], items: list[Item], keys: list[bytes], read: int
    ) -> ItemPage:
        """The page of `items` (of `keys`), with a next-page token when `read` was more."""
        cursors = Cursors(self._tokens, scope, keys, _resume_state)
        token = cursors[-1] if len(keys) < read and keys else None
        return ItemPage(items, token, cursors)


def _columns(
    rows: Sequence[StoredItem],
) -> tuple[list[bytes], list[bytes], list[bytes], list[int | None]]:
    """Keys, values, metadata and TTLs of `rows`: the store's own columns when it gave some."""
    if isinstance(rows, StoredItems):
        return rows.keys, rows.values, rows.metadata, rows.ttls
    return (list(map(_key_of, rows)), list(map(_value_of, rows)),
            list(map(_metadata_of, rows)), list(map(_ttl_of, rows)))


_WHOLE_RECORD = {d: _Selection(None, None, None, d) for d in (False, True)}
_FIRST_PAGES: dict[tuple[bool, int], KVQuery] = {}  # bounded: 2 x the namespaces' page limits


def _resume_state(key: bytes) -> dict[str, str]:
    return {"a": encode_bytes(key)}


# `tuple.__new__(Item, (key, value, ttl))` is `Item(key, value, ttl)` without the generated
# `__new__`; the getters take the fields of `StoredItem`s apart in C.
_make_item = partial(tuple.__new__, Item)
_key_of, _value_of, _metadata_of, _ttl_of = (itemgetter(i) for i in range(4))
assert StoredItem._fields == ("key", "value", "metadata", "ttl_seconds")


def _plain(ns: KVNamespace, item: Item) -> StoredItem | None:
    """The stored form of an item kept as it is (too small to compress or chunk), else None.

    The same as `_encode` makes of it, without a coroutine per item.
    """
    size = len(item.value)
    if (ns.compress_over_bytes and size > ns.compress_over_bytes) or (
        size > ns.chunk_threshold_bytes
    ):
        return None
    ttl = item.ttl_seconds or ns.default_ttl_seconds or None
    return StoredItem(item.key, item.value, b"", ttl)  # b"": _Meta(0, size).encode()


def _query(selection: _Selection, after: bytes | None, limit: int) -> KVQuery:
    if after is None and selection is _WHOLE_RECORD[bool(selection.descending)]:
        # a first page of a whole record: one query per direction and limit, made once
        found = _FIRST_PAGES.get((selection.descending, limit))
        if found is None:
            found = _FIRST_PAGES[selection.descending, limit] = KVQuery(
                descending=selection.descending, limit=limit
            )
        return found
    return KVQuery(
        keys=selection.keys,
        start=selection.start,
        end=selection.end,
        after=after,
        descending=selection.descending,
        limit=limit,
    )


def _max_age(ns: KVNamespace) -> int:
    """How old a write's token may be: tombstones are collected after this (garbage.py)."""
    return ns.tombstone_gc_seconds * 1_000_000


def _check_id(id: str) -> None:
    if not isinstance(id, str) or not id or len(id) > MAX_ID_LENGTH:
        raise InvalidArgument(f"id must be 1 to {MAX_ID_LENGTH} characters")


def _check_key(ns: KVNamespace, key: bytes) -> None:
    if not isinstance(key, bytes):
        raise InvalidArgument("item keys must be bytes")
    if len(key) > ns.max_key_bytes:
        raise TooLarge(f"item key is {len(key)} bytes; at most {ns.max_key_bytes} allowed")


def _check_delete(
    ns: KVNamespace, keys: Sequence[bytes] | None, start: bytes | None, end: bytes | None
) -> None:
    if keys is not None and (start is not None or end is not None):
        raise InvalidArgument("delete either keys or a key range, not both")
    if keys is not None:
        if not keys:
            raise InvalidArgument("keys must not be empty")
        if len(keys) > ns.max_items_per_request:
            raise TooLarge(f"at most {ns.max_items_per_request} keys per request")
        for key in keys:
            _check_key(ns, key)
    _check_range(start, end)


def _check_range(start: bytes | None, end: bytes | None) -> None:
    if (start is not None and not isinstance(start, bytes)) or (
        end is not None and not isinstance(end, bytes)
    ):
        raise InvalidArgument("key range bounds must be bytes")
    if start is not None and end is not None and start >= end:
        raise InvalidArgument("key range is empty: start must be less than end")
