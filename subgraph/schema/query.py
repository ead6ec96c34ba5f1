"""The Query root: generic fields for exploration and for other teams."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from subgraph.resolvers import analytics, counters, kv, namespaces, relational, timeseries

from . import bounds
from .access import Directives
from .analytics import AggregateGroup
from .counter import Counter
from .demand import PAGE, SEARCH_COST, SLICED, assumed
from .kv import KVRecord
from .namespaces import Namespace
from .relational import RowCondition, RowConnection, RowOrder
from .timeseries import DistinctValue, ItemFilter, SearchQuery, TimeSeriesEventConnection

NS = strawberry.argument(description="The namespace.")
SINCE = strawberry.argument(description="Only events at or after this time.")
UNTIL = strawberry.argument(description="Only events before this time: after `since`.")
FIRST = strawberry.argument(description=bounds.TS_FIRST)
AFTER = strawberry.argument(description=bounds.AFTER)
SEARCH = strawberry.argument(description=bounds.SEARCH)


def query_type(access: Directives) -> type:
    """The Query root, its fields carrying `access(field)`'s directives (subgraph.schema.access)."""

    @strawberry.type(description=f"Reads. {bounds.REQUEST}")
    class Query:
        @strawberry.field(
            description="A KV record; its items are paged on the record. A namespace that is "
            "not a KV namespace, an id that is too long or empty, or a record the caller may "
            "not read fails the field at once (null, with its error), whatever it selects.",
            directives=access("kv_record"),
        )
        def kv_record(
            self, info: strawberry.Info, namespace: Annotated[str, NS],
            id: Annotated[strawberry.ID, strawberry.argument(description=bounds.KV_ID)],
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
            id: Annotated[strawberry.ID, strawberry.argument(description=bounds.SERIES_ID)],
            since: Annotated[datetime | None, SINCE] = None,
            until: Annotated[datetime | None, UNTIL] = None,
            first: Annotated[int, FIRST] = 20,
            after: Annotated[str | None, AFTER] = None,
            filter: Annotated[
                list[ItemFilter] | None,
                strawberry.argument(
                    description="Only events with all these item values (each `text` or "
                    "base64 `value`)."
                ),
            ] = None,
        ) -> TimeSeriesEventConnection | None:
            return await timeseries.time_series(
                info, namespace, str(id), since, until, first, after, filter
            )

        @strawberry.field(
            description="Events of any series matching every condition, newest first, in a "
            "namespace with search on.",
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
            description="Distinct values of an item key among matching events, in a namespace "
            "with search on.",
            directives=[SLICED, SEARCH_COST, *access("distinct_values")],
        )
        async def distinct_values(
            self,
            info: strawberry.Info,
            namespace: Annotated[str, NS],
            key: Annotated[str, strawberry.argument(description=bounds.ITEM_KEY)],
            query: Annotated[SearchQuery | None, SEARCH] = None,
            since: Annotated[datetime | None, SINCE] = None,
            until: Annotated[datetime | None, UNTIL] = None,
            first: Annotated[int, strawberry.argument(description=bounds.DISTINCT_FIRST)] = 20,
        ) -> list[DistinctValue] | None:
            return await timeseries.distinct_values(
                info, namespace, key, query, since, until, first
            )

        @strawberry.field(
            description="Counts and sums of events over an interval, in a namespace with "
            "analytics on: closed slices from its columnar archive, open ones from the primary "
            "store, each event counted once. Keys are the namespace's typed `search_fields` "
            "(plus `series_id`, and `day` to group by UTC day); a key that is not, or a sum of "
            "a non-numeric key, is refused. The interval and the number of groups are bounded "
            "by the namespace (analytics_max_interval_days, analytics_max_groups).",
            directives=[assumed(100), SEARCH_COST, *access("aggregate_events")],
        )
        async def aggregate_events(
            self,
            info: strawberry.Info,
            namespace: Annotated[str, NS],
            since: Annotated[datetime, SINCE],
            until: Annotated[datetime, UNTIL],
            where: Annotated[
                SearchQuery | None,
                strawberry.argument(description="Only events matching every condition."),
            ] = None,
            group_by: Annotated[
                list[str] | None,
                strawberry.argument(description="Group keys (at most 4)."),
            ] = None,
            sum: Annotated[
                list[str] | None,
                strawberry.argument(description="Numeric keys to sum (at most 8)."),
            ] = None,
        ) -> list[AggregateGroup]:
            return await analytics.aggregate_events(
                info, namespace, since, until, where, group_by, sum
            )

        @strawberry.field(description="One counter.", directives=access("counter"))
        async def counter(
            self,
            info: strawberry.Info,
            namespace: Annotated[str, NS],
            name: Annotated[str, strawberry.argument(description=bounds.COUNTER_NAME)],
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
            names: Annotated[list[str], strawberry.argument(description=bounds.COUNTER_NAMES)],
        ) -> list[Counter | None] | None:
            return await counters.counters(info, namespace, names)  # type: ignore[return-value]

        @strawberry.field(
            description="Rows of a relational namespace's table through an index: equalities "
            "on its leading columns, a range on the next, in its order, keyset-paged.",
            directives=[PAGE, *access("rows")],
        )
        async def rows(
            self,
            info: strawberry.Info,
            namespace: Annotated[str, NS],
            table: Annotated[str, strawberry.argument(description="The table.")],
            where: Annotated[
                list[RowCondition] | None,
                strawberry.argument(description="Conditions, all of which hold."),
            ] = None,
            order_by: Annotated[
                RowOrder | None, strawberry.argument(description="The order (an index's).")
            ] = None,
            first: Annotated[int, strawberry.argument(description=bounds.FIRST)] = 20,
            after: Annotated[str | None, AFTER] = None,
        ) -> RowConnection | None:
            return await relational.rows(info, namespace, table, where, order_by, first, after)

        @strawberry.field(
            description="The namespaces this subgraph serves that the caller may read, with their "
            "settings.",
            directives=[assumed(50), *access("namespaces")],
        )
        def namespaces(self, info: strawberry.Info) -> list[Namespace]:
            return namespaces.namespaces(info)

    return Query
