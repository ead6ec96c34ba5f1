"""The data gateway: one store, the namespaces, and the three abstractions over them."""

from __future__ import annotations

from backends import open_store
from backends.base import SearchIndex, Store

from .counter import Counters
from .kv import KeyValue
from .metrics import CallCounter, EventCounter
from .namespaces import Namespaces, load_namespaces
from .timeseries import TimeSeries
from .tokens import PageTokens


class DataGateway:
    """Owns the store's lifecycle and the abstractions' background work (rollups, buffers).

    `kv`, `timeseries` and `counters` serve callers over the public view of the namespaces, so
    they refuse internal ones as unknown; `system_kv` also reaches internal namespaces and is
    for the system's own records only (idempotency attempts), never for a name a caller gave.
    """

    def __init__(
        self,
        store: Store,
        namespaces: Namespaces,
        *,
        search_index: SearchIndex | None = None,
        page_tokens: PageTokens | None = None,
    ) -> None:
        self.store = store
        self.namespaces = namespaces = namespaces.public()
        self.calls = CallCounter()
        self.events = EventCounter()
        tokens = page_tokens or PageTokens()
        # Without a separate index, a store that can search (SQLite) serves search itself.
        self.search_index = search_index if search_index is not store else None
        index = search_index or (store if isinstance(store, SearchIndex) else None)
        self.kv = KeyValue(store, namespaces, tokens, self.calls)
        self.system_kv = KeyValue(store, namespaces.system(), tokens, self.calls)
        self.timeseries = TimeSeries(store, namespaces, tokens, self.calls, index, self.events)
        self.counters = Counters(store, namespaces, self.calls, self.events)

    @classmethod
    def from_url(cls, store_url: str, namespaces_path: str | None = None) -> DataGateway:
        return cls(open_store(store_url), load_namespaces(namespaces_path))

    async def start(self, *, background: bool = True) -> None:
        """Open the store, then start rollups and retention (unless `background` is False)."""
        await self.store.open()
        # Stores with per-namespace tables (Cassandra) make them now, so no request waits on a
        # schema change (a slow first counter add could otherwise outlast the accept window).
        create = getattr(self.store, "create_namespace_tables", None)
        if create is not None:
            await create(list(self.namespaces.all()))
        if self.search_index is not None:
            await self.search_index.open()
        if background:
            await self.counters.start()
            await self.timeseries.start()

    async def stop(self) -> None:
        """Flush buffered writes, stop background work, then close the index and the store."""
        await self.timeseries.stop()
        await self.counters.stop()
        if self.search_index is not None:
            await self.search_index.close()
        await self.store.close()
