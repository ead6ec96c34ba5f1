"""Collecting what KV deletes and expiries leave behind, once no accepted write can need it.

A delete leaves a tombstone so that a write with an older token, arriving late, stays deleted
(last write wins); an expired item stays for the same reason (it is newer than such a write).
Both go once their write is a namespace's `tombstone_gc_seconds` old, plus the allowed clock
skew: `KeyValue` refuses writes older than that, so no write that a tombstone shadowed can be
accepted after the tombstone is gone.  That is Cassandra's `gc_grace_seconds`, with the
refusal added: Cassandra itself would let such a write come back.

Stores that collect their own tombstones (Cassandra, in compaction) are left alone; the others
(`KVGarbage`: SQLite) are swept every `interval` seconds, in batches of bounded writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from backends.base import KVGarbage

from .metrics import EventCounter, StoreCalls
from .namespaces import KVNamespace, Namespaces
from .tokens import now_micros

GC_INTERVAL_SECONDS = 600.0
GC_BATCH = 1000

log = logging.getLogger(__name__)


class GarbageCollector:
    """Sweeps the KV namespaces (internal ones too) of a store that needs it."""

    def __init__(
        self,
        store: object,
        namespaces: Namespaces,
        events: EventCounter,
        *,
        interval: float = GC_INTERVAL_SECONDS,
        batch: int = GC_BATCH,
        store_calls: StoreCalls | None = None,
    ) -> None:
        self._store = store if isinstance(store, KVGarbage) else None
        self._call = (store_calls or StoreCalls()).bind("kv", store)
        self._namespaces = namespaces
        self._events = events
        self._interval = interval
        self._batch = batch
        self._task: asyncio.Task[None] | None = None

    async def collect(self) -> dict[str, int]:
        """One pass over every KV namespace; how many rows each lost (when any)."""
        if self._store is None:
            return {}
        skew = self._namespaces.settings.max_future_micros
        collected: dict[str, int] = {}
        for ns in self._namespaces.all():
            if not isinstance(ns, KVNamespace):
                continue
            before = now_micros() - ns.tombstone_gc_seconds * 1_000_000 - skew
            total = 0
            while True:
                with self._call("collect_garbage"):
                    gone = await self._store.kv_collect_garbage(ns.name, before, self._batch)
                total += gone
                if not gone:
                    break
            if total:
                collected[ns.name] = total
                self._events.add(f"kv_garbage_collected:{ns.name}", total)
        return collected

    async def start(self) -> None:
        if self._store is not None and self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.collect()
            except Exception:
                log.exception("KV garbage collection failed; will retry")
            await asyncio.sleep(self._interval)
