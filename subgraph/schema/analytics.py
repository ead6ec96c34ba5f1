"""Viewing statistics and generic aggregates (the analytics abstraction) as GraphQL types.

A `ViewingStats` is only its question (whose, which interval); each field asks the request's
`aggregates` loader for its own shape (totals, per device, per day, top titles), so N profiles
selecting a field cost one DuckDB query, and fields of one shape share it.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from . import bounds
from .demand import SLICED, assumed
from .scalars import Long

HISTORY = "viewing_history"
KEY_TITLE = "title_id"
KEY_DEVICE = "device"
KEY_POSITION = "position_seconds"


@strawberry.type(description="Plays and seconds watched on one device.")
class DeviceViewingStats:
    device: str | None = strawberry.field(description="The device (null: not reported).")
    plays: Long = strawberry.field(description="Playback events.")
    watched_seconds: Long = strawberry.field(description="Sum of their `positionSeconds`.")


@strawberry.type(description="Plays and seconds watched on one day (UTC).")
class DayViewingStats:
    day: date = strawberry.field(description="The day, UTC.")
    plays: Long = strawberry.field(description="Playback events.")
    watched_seconds: Long = strawberry.field(description="Sum of their `positionSeconds`.")


@strawberry.type(description="One title among a profile's most played.")
class TitleViewingCount:
    title_id: strawberry.ID = strawberry.field(description="The title's id.")
    plays: Long = strawberry.field(description="Playback events.")
    watched_seconds: Long = strawberry.field(description="Sum of their `positionSeconds`.")


@strawberry.type(
    description="Aggregates of playback events (namespace `viewing_history`) over an interval: "
    "closed days from the columnar archive, the still-open ones from the primary store, each "
    "event counted once."
)
class ViewingStats:
    of: strawberry.Private[str]  # "series_id" (a profile) or "title_id" (a title)
    id: strawberry.Private[str]
    since: strawberry.Private[int]
    until: strawberry.Private[int]

    @strawberry.field(description="Playback events.")
    async def plays(self, info: strawberry.Info) -> Long:
        return Long((await resolvers.totals(info, self)).count)

    @strawberry.field(description="Sum of the events' `positionSeconds`.")
    async def watched_seconds(self, info: strawberry.Info) -> Long:
        return Long(round((await resolvers.totals(info, self)).sums[0]))

    @strawberry.field(description="Distinct titles played (a profile's stats; null on a title's).")
    async def distinct_titles(self, info: strawberry.Info) -> Long | None:
        if self.of != "series_id":
            return None
        return Long((await resolvers.totals(info, self)).distinct[0])

    @strawberry.field(
        description="Distinct profiles that played (a title's stats; null on a profile's)."
    )
    async def distinct_profiles(self, info: strawberry.Info) -> Long | None:
        if self.of != KEY_TITLE:
            return None
        return Long((await resolvers.totals(info, self)).distinct[0])

    @strawberry.field(description="Per device, most plays first.", directives=[assumed(10)])
    async def by_device(self, info: strawberry.Info) -> list[DeviceViewingStats]:
        return await resolvers.by_device(info, self)

    @strawberry.field(description="Per day (UTC), in order.", directives=[assumed(31)])
    async def by_day(self, info: strawberry.Info) -> list[DayViewingStats]:
        return await resolvers.by_day(info, self)

    @strawberry.field(
        description="The most played titles, most plays first (a profile's stats; null on a "
        "title's).",
        directives=[SLICED],
    )
    async def top_titles(
        self, info: strawberry.Info,
        first: Annotated[int, strawberry.argument(description=bounds.TOP_FIRST)] = 10,
    ) -> list[TitleViewingCount] | None:
        if self.of != "series_id":
            return None
        return await resolvers.top_titles(info, self, first)


@strawberry.type(description="One group of `aggregateEvents`.")
class AggregateGroup:
    keys: list[str | None] = strawberry.field(
        description="The group's values, in `groupBy` order (a `day` as YYYY-MM-DD)."
    )
    count: Long = strawberry.field(description="Events in the group.")
    sums: list[float] = strawberry.field(description="The sums, in `sum` order.")


# Imported last: the resolvers build these types.
from subgraph.resolvers import analytics as resolvers  # noqa: E402
