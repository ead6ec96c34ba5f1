"""The Query root: generic fields for exploration and for other teams."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from subgraph.resolvers import counters, namespaces, timeseries

from .counter import Counter
from .kv import KVRecord
from .namespaces import Namespace
from .timeseries import DistinctValue, ItemFilter, SearchQuery, TimeSeriesEventConnection

NS = strawberry.argument(description="The namespace.")


@strawberry.type(description="Reads.")
class Query:
    @strawberry.field(description="A KV record; its items are paged on the record.")
    def kv_record(
        self, namespace: Annotated[str, NS], id: Annotated[strawberry.ID, strawberry.argument(
            description="The record id.")]
    ) -> KVRecord:
        return KVRecord(namespace=namespace, id=id)

    @strawberry.field(description="Events of one time series, newest first.")
    async def time_series(
        self,
        info: strawberry.Info,
        namespace: Annotated[str, NS],
        id: Annotated[str, strawberry.argument(description="The time series id.")],
        since: datetime | None = None,
        until: datetime | None = None,
        first: int = 20,
        after: str | None = None,
        filter: Annotated[
            list[ItemFilter] | None,
            strawberry.argument(description="Only events with all these item values."),
        ] = None,
    ) -> TimeSeriesEventConnection:
        return await timeseries.time_series(
            info, namespace, id, since, until, first, after, filter
        )

    @strawberry.field(description="Events of any series matching every condition, newest first.")
    async def search_events(
        self,
        info: strawberry.Info,
        namespace: Annotated[str, NS],
        query: SearchQuery | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> TimeSeriesEventConnection:
        return await timeseries.search_events(info, namespace, query, since, until, first, after)

    @strawberry.field(description="Distinct values of an item key among matching events.")
    async def distinct_values(
        self,
        info: strawberry.Info,
        namespace: Annotated[str, NS],
        key: str,
        query: SearchQuery | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        first: int = 20,
    ) -> list[DistinctValue]:
        return await timeseries.distinct_values(info, namespace, key, query, since, until, first)

    @strawberry.field(description="One counter.")
    async def counter(
        self, info: strawberry.Info, namespace: Annotated[str, NS], name: str
    ) -> Counter:
        return await counters.counter(info, namespace, name)

    @strawberry.field(description="Several counters of one namespace, in the order asked.")
    async def counters(
        self, info: strawberry.Info, namespace: Annotated[str, NS], names: list[str]
    ) -> list[Counter]:
        return await counters.counters(info, namespace, names)

    @strawberry.field(description="Every namespace this subgraph serves, with its settings.")
    def namespaces(self, info: strawberry.Info) -> list[Namespace]:
        return namespaces.namespaces(info)
