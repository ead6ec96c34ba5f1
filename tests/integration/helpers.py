"""Small helpers shared by the Cassandra integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from backends.cassandra import CassandraStore

SEC = 1_000_000


async def cql(store: CassandraStore, query: str, params: Sequence[Any] = ()) -> list[tuple]:
    """Run raw CQL on the store's session (in a thread: the driver call blocks)."""
    result = await asyncio.to_thread(store.db.session.execute, query, list(params))
    return list(result)


async def tables(store: CassandraStore, prefix: str) -> set[str]:
    """Tables of the store's keyspace whose name starts with `prefix`, as the server has them."""
    rows = await cql(
        store,
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s",
        [store.config.keyspace],
    )
    return {name for (name,) in rows if name.startswith(prefix)}
