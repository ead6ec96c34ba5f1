"""Playback events (the viewing history) and their Relay connection."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime

import strawberry

from abstractions.errors import InvalidArgument
from abstractions.timeseries import Event

from .common import CURSOR, PageInfo, edge_cursor
from .entities import Profile, Title

KEY_TITLE = "title_id"
KEY_POSITION = "position_seconds"
KEY_DURATION = "duration_seconds"
KEY_DEVICE = "device"


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def event_global_id(series_id: str, event_time: int, event_id: str) -> str:
    # base64.urlsafe_b64encode(raw).decode().rstrip("="), without its two Python-level calls;
    # the padding ("=", only ever at the end) deleted by the translation.
    raw = f"{event_time}:{event_id}:{series_id}".encode()
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE, b"=").decode()


def parse_event_global_id(value: str) -> tuple[str, int, str]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        time, event_id, series_id = raw.split(":", 2)
        return series_id, int(time), event_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument("not a PlaybackEvent id") from exc


def micros_to_datetime(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, UTC)


def datetime_to_micros(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1_000_000)


_new = object.__new__
_fromts = datetime.fromtimestamp


@strawberry.type(description="One playback of a title by a profile.")
class PlaybackEvent:
    id: strawberry.ID = strawberry.field(description="Opaque, stable id of the event.")
    profile: Profile = strawberry.field(description="Who watched.")
    title: Title = strawberry.field(description="What was watched.")
    started_at: datetime = strawberry.field(description="When playback started.")
    position_seconds: int = strawberry.field(description="Playback position reached, seconds.")
    duration_seconds: int = strawberry.field(description="Seconds watched in this playback.")
    device: str | None = strawberry.field(description="The device, when reported.")

    @classmethod
    def from_record(cls, event: Event) -> PlaybackEvent:
        return playback_events((event,))[0]


def playback_events(events: Sequence[Event]) -> list[PlaybackEvent]:
    """The events of a page (a thousand per 100-profile request), built in one loop as the
    dataclass `__init__` would build them (no defaults, no `__post_init__`) without its
    keyword-argument calls; consecutive events of one series share their `Profile`, and the
    page one `Title` per title id.  `strawberry.ID` is a NewType.  A number that does not
    parse is 0 (parsed here, not by a function per number: two calls per event)."""
    new, event_cls, fromtimestamp, global_id = _new, PlaybackEvent, _fromts, event_global_id
    titles: dict[bytes | None, Title] = {}
    profile: Profile | None = None
    out: list[PlaybackEvent] = []
    append = out.append
    for event in events:
        items = event.items
        series_id = event.series_id
        event_time = event.event_time
        if profile is None or profile.id != series_id:
            profile = new(Profile)
            profile.__dict__ = {"id": series_id}
        title_id = items.get(KEY_TITLE)
        title = titles.get(title_id)
        if title is None:
            title = titles[title_id] = new(Title)
            title.__dict__ = {"id": title_id.decode(errors="replace") if title_id else ""}
        position = items.get(KEY_POSITION)
        duration = items.get(KEY_DURATION)
        device = items.get(KEY_DEVICE)
        try:
            position = int(position) if position else 0
        except ValueError:
            position = 0
        try:
            duration = int(duration) if duration else 0
        except ValueError:
            duration = 0
        node = new(event_cls)
        node.__dict__ = {
            "id": global_id(series_id, event_time, event.event_id),
            "profile": profile,
            "title": title,
            "started_at": fromtimestamp(event_time / 1_000_000, UTC),
            "position_seconds": position,
            "duration_seconds": duration,
            "device": device.decode(errors="replace") if device is not None else None,
        }
        append(node)
    return out


@strawberry.type(description="A playback event and its cursor.")
class PlaybackEventEdge:
    cursor: str = strawberry.field(resolver=edge_cursor, description=CURSOR)
    node: PlaybackEvent = strawberry.field(description="The event.")
    cursors: strawberry.Private[Sequence[str]]
    at: strawberry.Private[int]


def edges_of(cursors: Sequence[str], events: Sequence[Event]) -> list[PlaybackEventEdge]:
    """The edges of a page, their nodes made by `playback_events`; the edge's cursor is
    `cursors[at]`, signed if selected."""
    new, edge_cls = _new, PlaybackEventEdge
    edges: list[PlaybackEventEdge] = []
    append = edges.append
    for at, node in enumerate(playback_events(events)):
        edge = new(edge_cls)
        edge.__dict__ = {"node": node, "cursors": cursors, "at": at}
        append(edge)
    return edges


@strawberry.type(description="A page of playback events, newest first.")
class PlaybackEventConnection:
    edges: list[PlaybackEventEdge] = strawberry.field(description="The events of this page.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")
