"""Generic time-series events, for exploration and for other teams' namespaces."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import Enum

import strawberry

from abstractions.timeseries import Event

from . import bounds
from .common import CURSOR, PageInfo, edge_cursor
from .demand import assumed
from .playback import event_global_id, micros_to_datetime
from .scalars import TEXT, TEXT_IN, VALUE, VALUE_IN, as_text, b64encode


@strawberry.type(description="One item of an event: a key and its value.")
class EventItem:
    key: str = strawberry.field(description="The item key.")
    value: str = strawberry.field(description=VALUE)
    text: str | None = strawberry.field(description=TEXT)


@strawberry.type(description="An event of a time series.")
class TimeSeriesEvent:
    id: strawberry.ID = strawberry.field(description="Opaque, stable id of the event.")
    series_id: strawberry.ID = strawberry.field(description="The time series it belongs to.")
    event_time: datetime = strawberry.field(description="When it happened.")
    event_id: strawberry.ID = strawberry.field(description="Its id, unique within its time.")
    items: list[EventItem] = strawberry.field(
        description="Its items, by key.", directives=[assumed(64)]
    )

    @classmethod
    def from_record(cls, event: Event) -> TimeSeriesEvent:
        return cls(
            id=strawberry.ID(event_global_id(event.series_id, event.event_time, event.event_id)),
            series_id=strawberry.ID(event.series_id),
            event_time=micros_to_datetime(event.event_time),
            event_id=strawberry.ID(event.event_id),
            items=[
                EventItem(key=k, value=b64encode(v), text=as_text(v))
                for k, v in sorted(event.items.items())
            ],
        )


@strawberry.type(description="An event and its cursor.")
class TimeSeriesEventEdge:
    cursor: str = strawberry.field(resolver=edge_cursor, description=CURSOR)
    node: TimeSeriesEvent = strawberry.field(description="The event.")
    cursors: strawberry.Private[Sequence[str]]
    at: strawberry.Private[int]


@strawberry.type(description="A page of events, newest first.")
class TimeSeriesEventConnection:
    edges: list[TimeSeriesEventEdge] = strawberry.field(description="The events of this page.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")


@strawberry.type(description="A distinct value of an item key and how many events carry it.")
class DistinctValue:
    value: str = strawberry.field(description=VALUE)
    text: str | None = strawberry.field(description=TEXT)
    count: int = strawberry.field(description="Matching events with this value.")


@strawberry.enum(description="A comparison in a search condition.")
class SearchOperator(Enum):
    EQ = strawberry.enum_value("eq", description="Equal.")
    GT = strawberry.enum_value("gt", description="Greater than.")
    GTE = strawberry.enum_value("gte", description="Greater than or equal.")
    LT = strawberry.enum_value("lt", description="Less than.")
    LTE = strawberry.enum_value("lte", description="Less than or equal.")


@strawberry.enum(description="How writeEvents acknowledges.")
class WriteMode(Enum):
    SYNC = strawberry.enum_value("sync", description="Return once the events are durable.")
    FIRE_AND_FORGET = strawberry.enum_value(
        "fire_and_forget",
        description="Return once buffered; written in batches soon after. Events lost before "
        "their flush (a crash) are written by a retry with the same idempotencyKey: the write "
        "counts as done only once flushed.",
    )


@strawberry.input(description="An item value to match exactly: as `text` or as base64 `value`.")
class ItemFilter:
    key: str = strawberry.field(description=bounds.ITEM_KEY)
    text: str | None = strawberry.field(default=None, description=TEXT_IN)
    value: str | None = strawberry.field(default=None, description=VALUE_IN)


@strawberry.input(description="One condition of a search; all conditions must hold.")
class SearchCondition:
    key: str = strawberry.field(description="The item key.")
    op: SearchOperator = strawberry.field(description="The comparison.")
    text: str = strawberry.field(
        description="The value as plain text: a number for numeric keys, ISO-8601 for dates."
    )


@strawberry.input(description="An AND of conditions on item values.")
class SearchQuery:
    conditions: list[SearchCondition] = strawberry.field(description=bounds.CONDITIONS)


@strawberry.input(description="An item of an event to write.")
class EventItemInput:
    key: str = strawberry.field(description=bounds.ITEM_KEY)
    text: str | None = strawberry.field(
        default=None, description=f"{TEXT_IN} Stored as UTF-8: {bounds.ITEM_VALUE_BYTES}."
    )
    value: str | None = strawberry.field(
        default=None, description=f"{VALUE_IN} Decoded: {bounds.ITEM_VALUE_BYTES}."
    )


@strawberry.input(description="An event to write.")
class EventInput:
    series_id: strawberry.ID = strawberry.field(description=bounds.SERIES_ID)
    event_time: datetime | None = strawberry.field(default=None, description=bounds.EVENT_TIME)
    event_id: strawberry.ID | None = strawberry.field(
        default=None,
        description=f"Its id, {bounds.EVENT_ID} (default: derived from the idempotency key).",
    )
    items: list[EventItemInput] = strawberry.field(description=bounds.EVENT_ITEMS)


@strawberry.input(description="Events to write to a time-series namespace.")
class WriteEventsInput:
    namespace: str = strawberry.field(description="The time-series namespace.")
    events: list[EventInput] = strawberry.field(description=f"The events: {bounds.EVENTS}")
    mode: WriteMode = strawberry.field(default=WriteMode.SYNC, description="Acknowledgement.")
    idempotency_key: str = strawberry.field(description=bounds.IDEMPOTENCY_KEY)


@strawberry.type(description="The result of writeEvents.")
class WriteEventsPayload:
    accepted: int = strawberry.field(description="Events written (or buffered).")
    event_ids: list[strawberry.ID] = strawberry.field(description="Ids of the events.")
