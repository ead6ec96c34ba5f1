"""Shared fixtures: one `gateway` fixture parametrised over every storage backend.

A backend joins the contract suite by adding itself to `BACKENDS`; one that needs a server is
listed only when `make test` (scripts/run-tests) has started it and exported its address.  Tests
use fresh ids (see `uid`) because a server-backed store is shared by the whole session.

`make test` starts the Cassandra node with `--secure` and gives pytest the node's client
settings as the subgraph's own variables (SUBGRAPH_CASSANDRA_USER, _PASSWORD, _TLS, _TLS_CA):
a `cassandra://host/keyspace` URL built here takes them from the environment, so every store of
the suite logs in over TLS without saying so (tests/integration/test_cassandra_security.py
checks that it does).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from abstractions.gateway import DataGateway
from abstractions.namespaces import Namespaces, load_namespaces
from abstractions.tokens import PageTokens
from backends.base import CacheEngine, RelationalStore, Store

TEST_NAMESPACES = Path(__file__).with_name("namespaces.toml")
CASSANDRA = os.environ.get("SUBGRAPH_TEST_CASSANDRA")  # e.g. "127.0.0.1:9042"
CASSANDRA_KEYSPACE = os.environ.get("SUBGRAPH_TEST_KEYSPACE", "gateway_test")

MEMCACHED = os.environ.get("SUBGRAPH_TEST_MEMCACHED")  # e.g. "127.0.0.1:11211"

BACKENDS = ["sqlite"] + (["cassandra"] if CASSANDRA else [])
# The KV contract runs again through the look-aside cache: SQLite with the in-process LRU, and
# Cassandra with memcached when `make test` started it (tests/contract/test_kv_contract.py).
CACHED_BACKENDS = ["sqlite+lru"] + (["cassandra+memcached"] if CASSANDRA and MEMCACHED else [])


def environ_without_settings() -> dict[str, str]:
    """This environment without SUBGRAPH_* settings (a child process's are the test's to give),
    but for the Cassandra login (user, password, TLS: `make test` runs the node secured)."""
    return {
        k: v for k, v in os.environ.items()
        if not k.startswith("SUBGRAPH_") or k.startswith("SUBGRAPH_CASSANDRA_")
    }


def cached_namespaces(namespaces: Namespaces, ttl: int = 60) -> Namespaces:
    """`namespaces` with the cache on in every KV namespace."""
    import dataclasses

    from abstractions.namespaces import KVNamespace

    return namespaces.system().with_overrides(*(
        dataclasses.replace(ns, cache_ttl_seconds=ttl)
        for ns in namespaces.all() if isinstance(ns, KVNamespace)
    )).public()


def make_cache(kind: str) -> CacheEngine:
    """A cache engine: `lru` (in-process) or `memcached` (the test server)."""
    if kind == "lru":
        from backends.cache import LRUCache

        return LRUCache(8 * 1024 * 1024)
    if kind == "memcached":
        from backends.cache.memcached import MemcachedCache

        return MemcachedCache.from_url(f"memcached://{MEMCACHED}", timeout=1.0)
    raise ValueError(kind)


# The relational store's URL, postgresql://user:pass@host:port/db (make test starts one).
POSTGRES = os.environ.get("SUBGRAPH_TEST_POSTGRES")
RELATIONAL_BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.skipif(
        not POSTGRES, reason="needs PostgreSQL: set SUBGRAPH_TEST_POSTGRES to its URL "
        "(make test does)")]),
]


def make_store(kind: str, tmp_path: Path) -> Store:
    """A fresh, unopened store of `kind` for one test."""
    if kind == "sqlite":
        from backends.sqlite import SQLiteStore

        return SQLiteStore(tmp_path / "gateway.db")
    if kind == "cassandra":
        from backends.cassandra import CassandraStore

        return CassandraStore.from_url(f"cassandra://{CASSANDRA}/{CASSANDRA_KEYSPACE}")
    raise ValueError(kind)


@pytest.fixture
def namespaces() -> Namespaces:
    return load_namespaces(TEST_NAMESPACES)


@pytest.fixture
def uid() -> str:
    """A prefix unique to this test, for record ids, series ids and counter names."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def make_relational(kind: str, store: Store) -> RelationalStore | None:
    """The relational store of `kind` beside `store` (None: the store's own SQLite file)."""
    if kind == "postgres":
        from backends.postgres import PostgresRelational

        return PostgresRelational(POSTGRES or "")
    return None


@pytest.fixture(params=RELATIONAL_BACKENDS)
def relational_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def rel_gateway(
    relational_backend: str, tmp_path: Path, namespaces: Namespaces
) -> AsyncIterator[DataGateway]:
    """A started gateway (SQLite store) whose relational namespaces live on
    `relational_backend`; PostgreSQL's tables are shared by the session (use `uid` keys)."""
    store = make_store("sqlite", tmp_path)
    gw = DataGateway(store, namespaces, page_tokens=PageTokens(b"test"),
                     relational=make_relational(relational_backend, store))
    await gw.start(background=False)
    try:
        yield gw
    finally:
        await gw.stop()


@pytest.fixture
def cache() -> CacheEngine | None:
    """No look-aside cache; a test module that runs through one overrides this."""
    return None


@pytest.fixture
async def gateway(
    backend: str, tmp_path: Path, namespaces: Namespaces, cache: CacheEngine | None
) -> AsyncIterator[DataGateway]:
    """A started gateway over `backend` (and `cache`) with background work off (tests drive
    rollups)."""
    gw = DataGateway(make_store(backend, tmp_path), namespaces, page_tokens=PageTokens(b"test"),
                     cache=cache)
    await gw.start(background=False)
    try:
        yield gw
    finally:
        await gw.stop()
