"""Viewing statistics (Profile.viewingStats, Title.viewingStats) and aggregateEvents."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

import strawberry

from abstractions.analytics import Aggregate, Group
from abstractions.errors import InvalidArgument
from backends.base import Condition
from subgraph.loaders import AggregateShape
from subgraph.schema import analytics as types

from .common import check_first, context, interval

if TYPE_CHECKING:
    from subgraph.schema.timeseries import SearchQuery

DEFAULT_DAYS = 30
DAY = 86_400 * 1_000_000


def stats(
    info: strawberry.Info, of: str, id: str, since: datetime | None, until: datetime | None
) -> types.ViewingStats:
    """The question only; its fields load their own shapes.  Default: the 30 days to now."""
    start, end = interval(since, until)
    end = context(info).loaders.now if end is None else end
    start = end - DEFAULT_DAYS * DAY if start is None else start
    if start >= end:
        raise InvalidArgument("since must be before until")
    return types.ViewingStats(of=of, id=id, since=start, until=end)


async def _groups(info: strawberry.Info, s: types.ViewingStats, query: Aggregate) -> list[Group]:
    shape = AggregateShape(types.HISTORY, s.of, query)
    return await context(info).loaders.aggregates.load((s.id, shape))


async def totals(info: strawberry.Info, s: types.ViewingStats) -> Group:
    other = types.KEY_TITLE if s.of == "series_id" else "series_id"
    query = Aggregate(s.since, s.until, sums=(types.KEY_POSITION,), distinct=(other,))
    found = await _groups(info, s, query)
    return found[0] if found else Group((), 0, (0.0,), (0,))


async def by_device(
    info: strawberry.Info, s: types.ViewingStats
) -> list[types.DeviceViewingStats]:
    query = Aggregate(s.since, s.until, group_by=(types.KEY_DEVICE,), sums=(types.KEY_POSITION,))
    return [
        types.DeviceViewingStats(device=g.keys[0], plays=g.count, watched_seconds=round(g.sums[0]))
        for g in await _groups(info, s, query)
    ]


async def by_day(info: strawberry.Info, s: types.ViewingStats) -> list[types.DayViewingStats]:
    query = Aggregate(s.since, s.until, group_by=("day",), sums=(types.KEY_POSITION,))
    days = sorted(await _groups(info, s, query), key=lambda g: g.keys[0])
    return [
        types.DayViewingStats(day=g.keys[0], plays=g.count, watched_seconds=round(g.sums[0]))
        for g in days
    ]


async def top_titles(
    info: strawberry.Info, s: types.ViewingStats, first: int
) -> list[types.TitleViewingCount]:
    first = check_first(info, first)
    query = Aggregate(s.since, s.until, group_by=(types.KEY_TITLE,), sums=(types.KEY_POSITION,),
                      top=first)
    return [
        types.TitleViewingCount(
            title_id=strawberry.ID(str(g.keys[0])), plays=g.count,
            watched_seconds=round(g.sums[0]),
        )
        for g in await _groups(info, s, query)
        if g.keys[0] is not None
    ]


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else str(value)


async def aggregate_events(
    info: strawberry.Info,
    namespace: str,
    since: datetime,
    until: datetime,
    where: SearchQuery | None,
    group_by: list[str] | None,
    sum: list[str] | None,
) -> list[types.AggregateGroup]:
    start, end = interval(since, until)
    assert start is not None and end is not None  # both are required arguments
    conditions = tuple(
        Condition(c.key, c.op.value, c.text) for c in (where.conditions if where else [])
    )
    query = Aggregate(start, end, conditions, tuple(group_by or ()), tuple(sum or ()))
    analytics = context(info).gateway.analytics
    if analytics is None:
        raise InvalidArgument("analytics is not configured")
    found = await analytics.aggregate(namespace, query)
    return [
        types.AggregateGroup(keys=[_text(v) for v in g.keys], count=g.count, sums=list(g.sums))
        for g in found[""]
    ]
