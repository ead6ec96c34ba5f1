"""The data gateway: one store, the namespaces, and the three abstractions over them."""

from __future__ import annotations

import os
from pathlib import Path

from backends import open_relational, open_store
from backends.base import CacheEngine, RelationalStore, SearchIndex, Store
from backends.iceberg import IcebergArchive

from .access import Access, Caller, CallerGateway
from .analytics import Analytics
from .cache import KVCache
from .counter import Counters
from .garbage import GarbageCollector
from .kv import KeyValue
from .metrics import CallCounter, EventCounter, StoreCalls
from .namespaces import CounterNamespace, KVNamespace, Namespaces, load_namespaces
from .relational import Relational
from .signing_keys import SigningKeys, with_signing_keys_namespace
from .timeseries import TimeSeries
from .tokens import PageTokens

CATALOG_ENV = "SUBGRAPH_ANALYTICS_CATALOG"
WAREHOUSE_ENV = "SUBGRAPH_ANALYTICS_WAREHOUSE"


def default_archive(store: Store, namespaces: Namespaces) -> IcebergArchive | None:
    """The analytics archive: `$SUBGRAPH_ANALYTICS_CATALOG` (any catalog URI pyiceberg takes)
    with `$SUBGRAPH_ANALYTICS_WAREHOUSE`, else a SQLite catalog and a warehouse in `analytics/`
    beside the SQLite store's file (`data/analytics/` for other stores); None when no namespace
    has analytics."""
    if not any(getattr(ns, "analytics", False) for ns in namespaces.all()):
        return None
    path = getattr(store, "path", None)
    directory = (Path(path).parent if path is not None else Path("data")) / "analytics"
    catalog = os.environ.get(CATALOG_ENV)
    if catalog:
        warehouse = os.environ.get(WAREHOUSE_ENV) or (directory / "warehouse").resolve().as_uri()
        return IcebergArchive(catalog, warehouse)
    return IcebergArchive.in_directory(directory)


class DataGateway:
    """Owns the store's lifecycle and the abstractions' background work (rollups, buffers).

    `kv`, `timeseries` and `counters` serve callers over the public view of the namespaces, so
    they refuse internal ones as unknown; `system_kv` also reaches internal namespaces and is
    for the system's own records only (idempotency attempts, signing keys), never for a name a
    caller gave.

    Page tokens are signed with the keys kept in the store (`signing_keys`, loaded at `start`),
    so every process over the same store accepts every other's, also after a restart; unless
    `page_tokens` was given with a secret, or `$SUBGRAPH_TOKEN_SECRET` is set (then
    `signing_keys` is None).

    The cache tier (abstractions/cache.py): `cache` is the engine KV namespaces with
    `cache_ttl_seconds` read through; when none is given and such a namespace exists, the
    engine `$SUBGRAPH_CACHE` names (memcached), else an in-process LRU.  A given engine is the
    caller's to close.

    What it measures: `calls` (API calls), `events` (background happenings), `store_calls`
    (where an observer times each store call), `access.decisions`, `cache_stats` (hits,
    misses, errors, fall-throughs by namespace), and the gauges `timeseries.buffered()` and
    `counters.rollup_lag()`.
    """

    def __init__(
        self,
        store: Store,
        namespaces: Namespaces,
        *,
        search_index: SearchIndex | None = None,
        page_tokens: PageTokens | None = None,
        cache: CacheEngine | None = None,
        archive: IcebergArchive | None = None,
        relational: RelationalStore | None = None,
    ) -> None:
        self.store = store
        namespaces = with_signing_keys_namespace(namespaces)
        self._owns_cache = cache is None and any(
            isinstance(ns, KVNamespace | CounterNamespace) and ns.cache_ttl_seconds
            for ns in namespaces.all()
        )
        if self._owns_cache:
            from backends.cache import open_cache

            cache = open_cache()
        self.cache = cache
        self.cache_stats = CallCounter()
        kv_cache = KVCache(cache, self.cache_stats) if cache is not None else None
        self.namespaces = namespaces = namespaces.public()
        self.calls = CallCounter()
        self.events = EventCounter()
        self.store_calls = calls = StoreCalls()
        self.page_tokens = tokens = page_tokens or PageTokens()
        # Without a separate index, a store that can search (SQLite) serves search itself.
        self.search_index = search_index if search_index is not store else None
        index = search_index or (store if isinstance(store, SearchIndex) else None)
        self.kv = KeyValue(store, namespaces, tokens, self.calls, calls, kv_cache)
        self.system_kv = KeyValue(store, namespaces.system(), tokens, self.calls, calls, kv_cache)
        self.timeseries = TimeSeries(
            store, namespaces, tokens, self.calls, index, self.events, calls
        )
        self.counters = Counters(
            store, namespaces, self.calls, self.events, calls, cache, self.cache_stats
        )
        self.analytics = Analytics(
            store, namespaces, archive or default_archive(store, namespaces),
            self.calls, self.events, calls,
        )
        # Tables live in PostgreSQL when one is given, else in the store's SQLite file.
        self.relational = Relational(
            relational or default_relational(store), namespaces, tokens, self.calls, calls
        )
        self.signing_keys = SigningKeys(self.system_kv, tokens) if tokens.from_store else None
        self.garbage = GarbageCollector(store, namespaces, self.events, store_calls=calls)
        self.access = Access(namespaces, CallCounter())

    def for_caller(self, caller: Caller) -> CallerGateway:
        """The abstractions as `caller` may use them (one request's view)."""
        return CallerGateway(
            self.kv, self.timeseries, self.counters, self.access, caller,
            analytics=self.analytics, relational=self.relational,
        )

    @classmethod
    def from_url(
        cls, store_url: str, namespaces_path: str | None = None,
        relational_url: str | None = None,
    ) -> DataGateway:
        return cls(open_store(store_url), load_namespaces(namespaces_path),
                   relational=open_relational(relational_url) if relational_url else None)

    async def start(self, *, background: bool = True) -> None:
        """Open the store and load the signing keys, then start rollups, retention, garbage
        collection and key refreshes (unless `background` is False)."""
        await self.store.open()
        # Stores with per-namespace tables (Cassandra) make them now, so no request waits on a
        # schema change (a slow first counter add could otherwise outlast the accept window).
        create = getattr(self.store, "create_namespace_tables", None)
        if create is not None:
            await create(list(self.namespaces.all()))
        if self.search_index is not None:
            await self.search_index.open()
        await self.relational.start()
        if self.signing_keys is not None:
            await self.signing_keys.start(background=background)
        if background:
            await self.counters.start()
            await self.timeseries.start()
            await self.garbage.start()
            await self.analytics.start()
            await self.relational.start_background()

    async def refresh_cache_stats(self) -> None:
        """Ask the cache engine for what only its servers know (memcached's evictions)."""
        refresh = getattr(self.cache, "refresh_stats", None)
        if refresh is not None:
            await refresh()

    async def stop(self) -> None:
        """Flush buffered writes, stop background work, then close the index and the store."""
        await self.analytics.stop()
        await self.timeseries.stop()
        await self.counters.stop()
        await self.garbage.stop()
        if self.signing_keys is not None:
            await self.signing_keys.stop()
        if self.search_index is not None:
            await self.search_index.close()
        await self.relational.stop()
        await self.store.close()
        if self._owns_cache and self.cache is not None:
            await self.cache.close()


def default_relational(store: Store) -> RelationalStore:
    """The relational store beside `store`: its own SQLite file when it is SQLite, else the
    default SQLite file."""
    from backends.sqlite.db import SQLiteDB
    from backends.sqlite.relational import SQLiteRelational

    if isinstance(store, SQLiteDB):
        return SQLiteRelational(store)
    from backends import DEFAULT_STORE_URL

    return SQLiteRelational(SQLiteDB(DEFAULT_STORE_URL[len("sqlite:///"):]), owned=True)
