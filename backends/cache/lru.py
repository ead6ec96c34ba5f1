"""The embedded cache engine: an in-process LRU bounded in bytes, with memcached's semantics.

Coherent only for writes made through this process: a second process over the same store
(another `serve`, `serve --workers N`, a CLI) has its own LRU that this one's writes do not
invalidate.  Use memcached (`SUBGRAPH_CACHE=memcached://...`) when several processes serve.
It never fails, so it never marks itself down.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence

from backends.base import CacheKey

ENTRY_OVERHEAD = 64  # bytes a key costs beyond its name and value (dict slot, tuple)
U64 = 1 << 64


class LRUCache:
    """Values by key name, least recently used pushed out first when over `max_bytes`."""

    backend = "lru"

    def __init__(
        self, max_bytes: int = 64 * 1024 * 1024, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be greater than 0")
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[bytes, float, int]] = OrderedDict()
        self._writes = 0  # the CAS token of the newest write
        self._bytes = 0
        self._evictions: Counter[str] = Counter()

    @property
    def size_bytes(self) -> int:
        return self._bytes

    async def get_many(self, keys: Sequence[CacheKey]) -> tuple[dict[CacheKey, bytes], set[str]]:
        found: dict[CacheKey, bytes] = {}
        for key in keys:
            value = self._get(key.name)
            if value is not None:
                found[key] = value
        return found, set()

    async def set(self, key: CacheKey, value: bytes, ttl: int) -> None:
        self._put(key.name, value, ttl)

    async def add(self, key: CacheKey, value: bytes, ttl: int) -> bool:
        if self._get(key.name) is not None:
            return False
        self._put(key.name, value, ttl)
        return True

    async def incr(self, key: CacheKey, delta: int, initial: int, ttl: int) -> int:
        entry = self._entries.get(key.name)
        current = self._get(key.name)
        if current is None:
            value = (initial + delta) % U64
            self._put(key.name, str(value).encode(), ttl)
            return value
        assert entry is not None
        value = (int(current) + delta) % U64
        self._replace(key.name, str(value).encode(), entry[1])  # an add keeps the expiry
        return value

    async def get_counter(self, key: CacheKey) -> int | None:
        value = self._get(key.name)
        return None if value is None else int(value)

    async def gets(self, key: CacheKey) -> tuple[bytes, int] | None:
        value = self._get(key.name)
        return None if value is None else (value, self._entries[key.name][2])

    async def cas(self, key: CacheKey, value: bytes, token: int, ttl: int) -> bool:
        if self._get(key.name) is None or self._entries[key.name][2] != token:
            return False
        self._put(key.name, value, ttl)
        return True

    async def delete(self, key: CacheKey) -> None:
        entry = self._entries.pop(key.name, None)
        if entry is not None:
            self._bytes -= _weight(key.name, entry[0])

    def evictions(self) -> dict[str, int]:
        return dict(self._evictions)

    async def flush(self) -> None:
        self._entries.clear()
        self._bytes = 0

    async def close(self) -> None:
        await self.flush()

    # --- helpers ------------------------------------------------------------------------

    def _get(self, name: str) -> bytes | None:
        entry = self._entries.get(name)
        if entry is None:
            return None
        value, expires, _ = entry
        if expires <= self._clock():
            del self._entries[name]
            self._bytes -= _weight(name, value)
            return None
        self._entries.move_to_end(name)
        return value

    def _put(self, name: str, value: bytes, ttl: int) -> None:
        self._replace(name, value, self._clock() + ttl)

    def _replace(self, name: str, value: bytes, expires: float) -> None:
        weight = _weight(name, value)
        old = self._entries.pop(name, None)
        if old is not None:
            self._bytes -= _weight(name, old[0])
        if weight > self.max_bytes:
            return  # larger than the whole cache: not kept (as memcached refuses it)
        self._writes += 1
        self._entries[name] = (value, expires, self._writes)
        self._bytes += weight
        while self._bytes > self.max_bytes:
            victim, (dropped, _, _) = self._entries.popitem(last=False)
            self._bytes -= _weight(victim, dropped)
            self._evictions[_namespace_of(victim)] += 1


def _weight(name: str, value: bytes) -> int:
    return len(name) + len(value) + ENTRY_OVERHEAD


def _namespace_of(name: str) -> str:
    """Key names are `kind:namespace:...` (abstractions/cache.py)."""
    parts = name.split(":", 2)
    return parts[1] if len(parts) == 3 else ""
