"""Cache engines behind `backends.base.CacheEngine`: memcached, or the in-process LRU."""

from __future__ import annotations

import os

from backends.base import CacheEngine

from .lru import LRUCache

ENV_URL = "SUBGRAPH_CACHE"
ENV_LRU_BYTES = "SUBGRAPH_CACHE_LRU_BYTES"
ENV_TIMEOUT_MS = "SUBGRAPH_CACHE_TIMEOUT_MS"
DEFAULT_LRU_BYTES = 64 * 1024 * 1024


def open_cache(url: str | None = None) -> CacheEngine:
    """The engine for `url` (else `$SUBGRAPH_CACHE`): `memcached://h1:11211,h2:11211`, or
    `lru` / nothing for the in-process LRU of `$SUBGRAPH_CACHE_LRU_BYTES` (64 MiB)."""
    url = url if url is not None else os.environ.get(ENV_URL, "")
    if url.startswith("memcached://"):
        from .memcached import MemcachedCache

        timeout = float(os.environ.get(ENV_TIMEOUT_MS, "100")) / 1000
        return MemcachedCache.from_url(url, timeout=timeout)
    if url in ("", "lru"):
        return LRUCache(int(os.environ.get(ENV_LRU_BYTES, DEFAULT_LRU_BYTES)))
    raise ValueError("SUBGRAPH_CACHE must be memcached://host:port[,host:port...] or lru")


__all__ = ["LRUCache", "open_cache"]
