"""The Apache Cassandra store: KV, TimeSeries and Counter over one keyspace (cassandra-driver).

Modules: `config` (the store URL), `session` (the driver bridged to asyncio, deadlines, bounded
concurrency), `errors` (driver errors -> `StoreError`s), `schema` (keyspace and per-namespace
tables), `store` (lifecycle), and one module per abstraction.  Search is not served here: a
Cassandra deployment pairs the store with a separate `SearchIndex` (OpenSearch or Elasticsearch).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .config import CassandraConfig, parse_url
from .counter import CassandraCounter
from .kv import CassandraKV
from .timeseries import CassandraTimeSeries


class CassandraStore(CassandraKV, CassandraTimeSeries, CassandraCounter):
    """KV, TimeSeries and Counter storage in one Cassandra keyspace."""

    backend = "cassandra"  # the `backend` label of store-call metrics and spans

    async def create_namespace_tables(self, namespaces: Iterable[Any]) -> None:
        """Create the tables of these namespaces now, so that no request waits on a schema change.

        Optional (every table is also made before the first write that needs it): a caller that
        knows its namespaces at start-up calls this after `open`.  Takes the namespace objects
        of `abstractions.namespaces` by their attributes (`name`, `abstraction`, `mode`,
        `layout`), so the backend does not import the layer above it.
        """
        for ns in namespaces:
            kind = getattr(ns, "abstraction", None)
            if kind == "kv":
                await self.schema.ensure_kv(ns.name, "kv", "kvc", "kvk")
            elif kind == "counter":
                fast = getattr(ns, "mode", "") == "best_effort"
                kinds = ("cf",) if fast else ("ck", "cb", "cl", "cr")
                await self.schema.ensure_counter(ns.name, *kinds)
            elif kind == "timeseries":
                self.make_slices_ahead(ns.name, ns.layout)
        await self.wait_background()


__all__ = ["CassandraConfig", "CassandraStore", "parse_url"]
