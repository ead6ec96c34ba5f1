"""The look-aside cache policy of Key-Value reads: versions, TTL, fall-through.

What is cached: the rows of a first page (no page token) of `get_items` / `get_items_many`,
per record and query shape, as the store returned them (compressed values stay compressed;
the abstraction cuts and signs the page from them as from a store read).  Not cached: a page
holding an item with a TTL (its expiry and remaining TTL would go stale), a chunked value, or
rows over the namespace's `cache_max_value_bytes`.

Never stale after a write (the protocol).  Each record has a generation key in the cache, a
random 16-byte value.  A write, after its store write returned (or failed: it may have been
applied) and before it returns, sets the generation to a new random value.  A read fetches the
generation and the page together; it serves the page only when the page is tagged with the
current generation.  On a miss it notes the generation (creating one with `add` when there is
none, and caching nothing when that `add` loses a race) *before* reading the store, then
stores the rows tagged with it.  So a page tagged `g` was read from the store after `g` became
current; a write that returned before a read began had replaced the generation before that
read looked, so the read either sees a newer generation (and a page read after the write) or
misses.  A racing reader that stores an older page tags it with a generation that is already
gone: it is never served.  Last-write-wins order is the store's; the cache only ever serves
what the store answered after the newest acknowledged write.

A write whose generation update failed (the cache node is down or slow): the engine marks the
node down in this process and flushes it before this process uses it again
(`CacheEngine`), so this process never reads what it failed to invalidate.  Another process
that still reaches the node could, until this one's probe flushes it (`retry_seconds`, 1 s) or
the entry's TTL passes: that is the window when one process is cut off from a node the others
reach; the cache's loss (a killed node) leaves no window, since it comes back empty.

The cache being slow or down never fails a read: every cache call is bounded by the engine's
timeout, and a read whose cache call failed reads the store (counted: `errors`,
`fall_throughs`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
import struct
from collections.abc import Awaitable, Callable, Sequence

from backends.base import CacheEngine, CacheError, CacheKey, KVQuery, StoredItem, StoredItems

from .metrics import CallCounter
from .namespaces import KVNamespace

GEN_BYTES = 16
_COUNT = struct.Struct(">I")
_FLAG_CHUNKED = 2  # abstractions.kv's flag: a row that points to chunks

Rows = Sequence[StoredItem]
Fetch = Callable[[list[str]], Awaitable[dict[str, Rows]]]

# What `stats` counts, per namespace: (namespace, what)
HIT, MISS, ERROR, FALL_THROUGH, SKIPPED = "hit", "miss", "error", "fall_through", "not_cached"


def _digest(id: str) -> str:
    return hashlib.blake2b(id.encode(), digest_size=16, person=b"kv-record").hexdigest()


def record_keys(namespace: str, id: str, shape: str) -> tuple[CacheKey, CacheKey]:
    """The generation key of a record and the key of one page shape of it (one route)."""
    route = f"{namespace}/{id}"
    digest = _digest(id)
    return CacheKey(route, f"kvg:{namespace}:{digest}"), CacheKey(
        route, f"kvp:{namespace}:{digest}:{shape}"
    )


@functools.lru_cache(maxsize=4096)
def shape_of(query: KVQuery) -> str:
    """A short digest of a first-page query (selection and limit)."""
    return hashlib.blake2b(repr(query).encode(), digest_size=8).hexdigest()


def encode_rows(rows: Rows) -> bytes:
    """Row count, then every key, value and metadata length, then the bytes themselves: a
    read takes the lengths apart in one `struct` call and slices (see `decode_rows`)."""
    lengths: list[int] = []
    for row in rows:
        lengths += (len(row.key), len(row.value), len(row.metadata))
    body = b"".join(part for row in rows for part in (row.key, row.value, row.metadata))
    return _COUNT.pack(len(rows)) + struct.pack(f">{len(lengths)}I", *lengths) + body


def decode_rows(raw: bytes) -> StoredItems:
    """The rows `encode_rows` made, as the columns a store read gives (`StoredItems`)."""
    (count,) = _COUNT.unpack_from(raw)
    lengths = struct.unpack_from(f">{3 * count}I", raw, _COUNT.size)
    at = _COUNT.size + 4 * len(lengths)
    columns: tuple[list[bytes], list[bytes], list[bytes]] = ([], [], [])
    for i, length in enumerate(lengths):
        columns[i % 3].append(raw[at:at + length])
        at += length
    if at != len(raw):
        raise ValueError("cached rows do not add up")
    return StoredItems(*columns, [None] * count)


def cacheable(ns: KVNamespace, rows: Rows) -> bytes | None:
    """The cached form of `rows`, or None when they must not be cached."""
    for row in rows:
        if row.ttl_seconds is not None:
            return None
        meta = row.metadata
        if meta and meta[1] & _FLAG_CHUNKED:
            return None
    encoded = encode_rows(rows)
    return encoded if len(encoded) <= ns.cache_max_value_bytes else None


class KVCache:
    """Look-aside reads and write invalidation for KV namespaces with `cache_ttl_seconds`."""

    def __init__(self, engine: CacheEngine, stats: CallCounter | None = None) -> None:
        self.engine = engine
        self.stats = stats or CallCounter()

    async def read(self, ns: KVNamespace, ids: Sequence[str], query: KVQuery,
                   fetch: Fetch) -> dict[str, Rows]:
        """The rows of `query` for each id: from the cache when current, else from `fetch`
        (the store: its errors are raised, never hidden), then cached."""
        shape = shape_of(query)
        keys = {id: record_keys(ns.name, id, shape) for id in ids}
        try:
            found, failed = await self.engine.get_many([k for pair in keys.values() for k in pair])
        except CacheError:
            found, failed = {}, {gen.route for gen, _ in keys.values()}
        result: dict[str, Rows] = {}
        noted: dict[str, bytes | None] = {}  # the generation each miss read under
        absent: list[str] = []
        for id, (gen_key, page_key) in keys.items():
            if gen_key.route in failed:
                self._count(ns, ERROR)
                self._count(ns, FALL_THROUGH)
                noted[id] = None
                continue
            gen, page = found.get(gen_key), found.get(page_key)
            if gen is not None and page is not None and page[:GEN_BYTES] == gen:
                try:
                    result[id] = decode_rows(page[GEN_BYTES:])
                except (ValueError, struct.error):
                    pass  # not ours or damaged: read the store
                else:
                    self._count(ns, HIT)
                    continue
            self._count(ns, MISS)
            noted[id] = gen
            if gen is None:
                absent.append(id)
        if not noted:
            return result
        if absent:
            await asyncio.gather(*(self._new_generation(ns, keys[id][0], id, noted)
                                   for id in absent))
        rows = await fetch(list(noted))
        result.update(rows)
        fills = [(keys[id][1], gen, rows.get(id, ())) for id, gen in noted.items()
                 if gen is not None]
        if fills:
            await asyncio.gather(*(self._fill(ns, key, gen, page) for key, gen, page in fills))
        return result

    async def invalidate(self, ns: KVNamespace, id: str) -> None:
        """Replace the record's generation: pages cached before are never served again."""
        gen_key, _ = record_keys(ns.name, id, "")
        try:
            await self.engine.set(gen_key, secrets.token_bytes(GEN_BYTES), ns.cache_ttl_seconds)
        except CacheError:
            self._count(ns, ERROR)  # the engine marked the node down: see the module docstring

    async def _new_generation(
        self, ns: KVNamespace, gen_key: CacheKey, id: str, noted: dict[str, bytes | None]
    ) -> None:
        fresh = secrets.token_bytes(GEN_BYTES)
        try:
            if await self.engine.add(gen_key, fresh, ns.cache_ttl_seconds):
                noted[id] = fresh
        except CacheError:
            self._count(ns, ERROR)

    async def _fill(self, ns: KVNamespace, key: CacheKey, gen: bytes, rows: Rows) -> None:
        encoded = cacheable(ns, rows)
        if encoded is None:
            self._count(ns, SKIPPED)
            return
        try:
            await self.engine.set(key, gen + encoded, ns.cache_ttl_seconds)
        except CacheError:
            self._count(ns, ERROR)

    def _count(self, ns: KVNamespace, what: str) -> None:
        self.stats.record(ns.name, what)
