"""Playback events (the viewing history) and their Relay connection."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import strawberry

from abstractions.errors import InvalidArgument
from abstractions.timeseries import Event

from .common import PageInfo
from .entities import Profile, Title

KEY_TITLE = "title_id"
KEY_POSITION = "position_seconds"
KEY_DURATION = "duration_seconds"
KEY_DEVICE = "device"


def event_global_id(series_id: str, event_time: int, event_id: str) -> str:
    raw = f"{event_time}:{event_id}:{series_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


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


def _int(raw: bytes | None) -> int:
    try:
        return int(raw or b"0")
    except ValueError:
        return 0


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
        items = event.items
        device = items.get(KEY_DEVICE)
        return cls(
            id=strawberry.ID(event_global_id(event.series_id, event.event_time, event.event_id)),
            profile=Profile(id=strawberry.ID(event.series_id)),
            title=Title(id=strawberry.ID(items.get(KEY_TITLE, b"").decode(errors="replace"))),
            started_at=micros_to_datetime(event.event_time),
            position_seconds=_int(items.get(KEY_POSITION)),
            duration_seconds=_int(items.get(KEY_DURATION)),
            device=device.decode(errors="replace") if device is not None else None,
        )


@strawberry.type(description="A playback event and its cursor.")
class PlaybackEventEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this edge.")
    node: PlaybackEvent = strawberry.field(description="The event.")


@strawberry.type(description="A page of playback events, newest first.")
class PlaybackEventConnection:
    edges: list[PlaybackEventEdge] = strawberry.field(description="The events of this page.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")
