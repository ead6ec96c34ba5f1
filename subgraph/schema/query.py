"""The Query root: generic fields for exploration and for other teams."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from subgraph.resolvers import counters, kv, namespaces, timeseries

from .access import Directives
from .counter import Counter
from .demand import PAGE, SEARCH_COST, SLICED, assumed
from .kv import KVRecord
from .namespaces import Namespace
from .timeseries import DistinctValue, ItemFilter, SearchQuery, TimeSeriesEventConnection

NS = strawberry.argument(description="The namespace.")
SINCE = strawberry.argument(description="Only events at or after this time.")
UNTIL = strawberry.argument(description="Only events before this time.")
FIRST = strawberry.argument(description="Page size.")
AFTER = strawberry.argument(description="Cursor from `pageInfo.endCursor` of the previous page.")
SEARCH = strawberry.argument(description="Conditions on item values (default: every event).")


def query_type(access: Directives) -> type:
    """The Query root, its fields carrying `access(field)`'s directives (subgraph.schema.access)."""

    @strawberry.type(description="Reads.")
    class Query:
        @strawberry.field(
            description="A KV record; its items are paged on the record.",
            directives=access("kv_record"),
        )
        def kv_record(
            self, info: strawberry.Info, namespace: Annotated[str, NS],
            id: Annotated[strawberry.ID, strawberry.argument(description="The record id.")],
        ) -> KVRecord | None:
            return kv.record(info, namespace, id)

        @strawberry.field(
            description="Events of one time series, newest first.",
            directives=[PAGE, *access("time_series")],
        )
        async def time_series(
            self,
            info: strawberry.Info,
            namespace: Annotated[str, NS],
            id: Annotated[str, strawberry.argument(description="The time series id.")],
            since: Annotated[datetime | None, SINCE] = None,
            until: Annotated[datetime | None, UNTIL] = None,
            first: Annotated[int, FIRST] = 20,
            after: Annotated[str | None, AFTER] = None,
            filter: Annotated[
                list[ItemFilter] | None,
                strawberry.argument(description="Only events with all these item values."),
            ] = None,
        ) -> TimeSeriesEventConnection | None:
            return await timeseries.time_series(
                info, namespace, id, since, until, first, after, filter
            )

        @strawberry.field(
            description="Events of any series matching every condition, newest first.",
            directives=[PAGE, SEARCH_COST, *access("search_events")],
        )
        async def search_events(
            self,
            info: strawberry.Info,
            namespace: Annotated[str, NS],
            query: Annotated[SearchQuery | None, SEARCH] = None,
            since: Annotated[datetime | None, SINCE] = None,
            until: Annotated[datetime | None, UNTIL] = None,
            first: Annotated[int, FIRST] = 20,
            after: Annotated[str | None, AFTER] = None,
        ) -> TimeSeriesEventConnection | None:
            return await timeseries.search_events(
                info, namespace, query, since, until, first, after
            )

        @strawberry.field(
            description="Distinct values of an item key among matching events.",
            directives=[SLICED, SEARCH_COST, *access("distinct_values")],
        )
        async def distinct_values(
            self,
            info: strawberry.Info,
            namespace: Annotated[str, NS],
            key: Annotated[str, strawberry.argument(description="The item key.")],
            query: Annotated[SearchQuery | None, SEARCH] = None,
            since: Annotated[datetime | None, SINCE] = None,
            until: Annotated[datetime | None, UNTIL] = None,
            first: Annotated[
                int, strawberry.argument(description="At most this many values, most common first.")
            ] = 20,
        ) -> list[DistinctValue] | None:
            return await timeseries.distinct_values(
                info, namespace, key, query, since, until, first
            )

        @strawberry.field(description="One counter.", directives=access("counter"))
        async def counter(
            self,
            info: strawberry.Info,
            namespace: Annotated[str, NS],
            name: Annotated[str, strawberry.argument(description="The counter.")],
        ) -> Counter | None:
            return await counters.counter(info, namespace, name)

        @strawberry.field(
            description=(
                "Several counters of one namespace, in the order asked. A counter whose count left "
                "the 64-bit range is null, with a COUNTER_OVERFLOW error at its index."
            ),
            directives=[assumed(500), *access("counters")],
        )
        async def counters(
            self,
            info: strawberry.Info,
            namespace: Annotated[str, NS],
            names: Annotated[list[str], strawberry.argument(description="The counters.")],
        ) -> list[Counter | None] | None:
            return await counters.counters(info, namespace, names)  # type: ignore[return-value]

        @strawberry.field(
            description="The namespaces this subgraph serves that the caller may read, with their "
            "settings.",
            directives=[assumed(50), *access("namespaces")],
        )
        def namespaces(self, info: strawberry.Info) -> list[Namespace]:
            return namespaces.namespaces(info)

    return Query
