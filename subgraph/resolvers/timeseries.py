"""Generic time-series fields: timeSeries, writeEvents, searchEvents, distinctValues."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

import strawberry

from abstractions.timeseries import Event, EventPage
from abstractions.tokens import now_micros
from backends.base import Condition
from subgraph.idempotency import check_key
from subgraph.loaders import SeriesQuery
from subgraph.schema import timeseries as ts_types
from subgraph.schema.common import page_info
from subgraph.schema.playback import datetime_to_micros, event_global_id
from subgraph.schema.scalars import as_text, b64encode

from .common import check_count, check_first, context, input_bytes, interval

if TYPE_CHECKING:
    from subgraph.schema.timeseries import ItemFilter, SearchQuery, WriteEventsInput


def _connection(page: EventPage) -> ts_types.TimeSeriesEventConnection:
    return ts_types.TimeSeriesEventConnection(
        edges=[
            ts_types.TimeSeriesEventEdge(
                node=ts_types.TimeSeriesEvent.from_record(e), cursors=page.cursors, at=at
            )
            for at, e in enumerate(page.events)
        ],
        page_info=page_info(page.next_page_token, page.cursors),
    )


async def time_series(
    info: strawberry.Info,
    namespace: str,
    id: str,
    since: datetime | None,
    until: datetime | None,
    first: int,
    after: str | None,
    filter: list[ItemFilter] | None,
) -> ts_types.TimeSeriesEventConnection:
    start, end = interval(since, until)
    equals = tuple(sorted((f.key, input_bytes(f.key, f.text, f.value)) for f in filter or []))
    query = SeriesQuery(namespace, check_first(info, first), after, start, end, equals)
    page = await context(info).loaders.series.load((id, query))
    return _connection(page)


def _conditions(query: SearchQuery | None) -> list[Condition]:
    return [Condition(c.key, c.op.value, c.text) for c in (query.conditions if query else [])]


async def search_events(
    info: strawberry.Info,
    namespace: str,
    query: SearchQuery | None,
    since: datetime | None,
    until: datetime | None,
    first: int,
    after: str | None,
) -> ts_types.TimeSeriesEventConnection:
    start, end = interval(since, until)
    page = await context(info).gateway.timeseries.search_events(
        namespace, _conditions(query), start=start, end=end, limit=check_first(info, first),
        page_token=after,
    )
    return _connection(page)


async def distinct_values(
    info: strawberry.Info,
    namespace: str,
    key: str,
    query: SearchQuery | None,
    since: datetime | None,
    until: datetime | None,
    first: int,
) -> list[ts_types.DistinctValue]:
    start, end = interval(since, until)
    values = await context(info).gateway.timeseries.aggregate_distinct(
        namespace, key, _conditions(query), start=start, end=end, limit=check_first(info, first)
    )
    return [ts_types.DistinctValue(value=b64encode(v), text=as_text(v), count=n) for v, n in values]


async def write_events(
    info: strawberry.Info, input: WriteEventsInput
) -> ts_types.WriteEventsPayload:
    """Events without an id get one derived from the idempotency key, so retries coincide.

    Every event is checked before any is written, so an invalid request writes nothing.  A
    retry replays the first attempt: events without a time keep its time, and may be written
    behind the accept window.  A fire-and-forget write is complete once flushed, not buffered,
    so a retry of one lost before its flush writes it again.
    """
    ctx = context(info)
    ts = ctx.gateway.timeseries
    key, namespace = input.idempotency_key, input.namespace
    check_key(key)
    check_count(info, len(input.events), "events")
    now = now_micros()
    events = _events(input, now)
    attempt = await ctx.idempotency.begin(
        "writeEvents", key, input, {"namespace": namespace, "now": now},
        check=lambda replay: ts.check_events(namespace, events, replay=replay),
    )
    default_time = int(attempt.facts["now"])
    if default_time != now:  # a retry: events without a time keep the first attempt's
        events = _events(input, default_time)
    if not attempt.done:
        if input.mode is ts_types.WriteMode.FIRE_AND_FORGET:
            await ts.write_events_async(
                namespace, events, replay=attempt.retry,
                on_durable=partial(ctx.idempotency.finish, "writeEvents", key, attempt),
            )
        else:
            await ts.write_events(namespace, events, replay=attempt.retry)
            await ctx.idempotency.finish("writeEvents", key, attempt)
    return ts_types.WriteEventsPayload(
        accepted=len(events),
        event_ids=[
            strawberry.ID(event_global_id(e.series_id, e.event_time, e.event_id)) for e in events
        ],
    )


def _events(input: WriteEventsInput, default_time: int) -> list[Event]:
    events: list[Event] = []
    for index, given in enumerate(input.events):
        items: dict[str, bytes] = {}
        for item in given.items:
            items[item.key] = input_bytes(item.key, item.text, item.value)
        event_id = given.event_id or hashlib.sha256(
            f"writeEvents:{input.idempotency_key}:{index}".encode()
        ).hexdigest()[:32]
        when = datetime_to_micros(given.event_time) if given.event_time else default_time
        events.append(Event(given.series_id, when, event_id, items))
    return events
