"""Fixtures for the Cassandra-only integration tests: a store on the node `make test` started.

Every test here is marked `cassandra` and skipped, saying why, when SUBGRAPH_TEST_CASSANDRA is
not set.  Namespaces made up by a test start with `it_` and a unique suffix, so their tables
never collide with another test's (the keyspace is shared by the whole session).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from abstractions.gateway import DataGateway
from abstractions.namespaces import Namespaces
from abstractions.tokens import PageTokens
from backends.cassandra import CassandraStore
from tests.conftest import CASSANDRA, CASSANDRA_KEYSPACE

needs_cassandra = pytest.mark.skipif(
    not CASSANDRA,
    reason="needs a Cassandra node: set SUBGRAPH_TEST_CASSANDRA=host:port (make test does)",
)

OpenStore = Callable[..., Awaitable[CassandraStore]]


def store_url(**options: object) -> str:
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"cassandra://{CASSANDRA}/{CASSANDRA_KEYSPACE}" + (f"?{query}" if query else "")


@pytest.fixture
def ns_name() -> str:
    """A fresh namespace name (so a test gets its own tables)."""
    return f"it_{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def open_store() -> AsyncIterator[OpenStore]:
    """Opens Cassandra stores with URL options; closes them after the test."""
    opened: list[CassandraStore] = []

    async def open_(**options: object) -> CassandraStore:
        store = CassandraStore.from_url(store_url(**options))
        await store.open()
        opened.append(store)
        return store

    yield open_
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> CassandraStore:
    return await open_store()


@pytest.fixture
def small_pages_gateway(
    open_store: OpenStore, namespaces: Namespaces
) -> Callable[[int], Awaitable[DataGateway]]:
    """A gateway over a store whose driver pages hold `fetch_size` rows."""

    async def make(fetch_size: int) -> DataGateway:
        store = await open_store(fetch_size=fetch_size)
        gateway = DataGateway(store, namespaces, page_tokens=PageTokens(b"test"))
        await gateway.start(background=False)
        return gateway

    return make
