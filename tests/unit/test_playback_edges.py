"""A page's events are built in one loop (`playback_events`, behind `edges_of` and
`from_record`): each field what the items hold, or its default when they do not."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from abstractions.timeseries import Event
from subgraph.schema.playback import (
    PlaybackEvent,
    edges_of,
    event_global_id,
    parse_event_global_id,
)

EVENTS = [
    Event("p1", 1_700_000_000_123_456, "e1",
          {"title_id": b"t1", "position_seconds": b"30", "duration_seconds": b"12",
           "device": b"tv"}),
    Event("p1", 1_700_000_000_000_000, "e2", {"title_id": b"t1"}),  # same title, no numbers
    Event("p1", 1_699_999_999_999_999, "e:3",
          {"title_id": b"t\xff2", "position_seconds": b"x", "duration_seconds": b"",
           "device": b"\xfe"}),                                   # undecodable, not numbers
    Event("p1", 0, "e4", {}),                                       # no items at all
    Event("p2", 5, "e5", {"title_id": b"t3", "position_seconds": b"7"}),  # another series
]


def fields(node: PlaybackEvent) -> dict[str, object]:
    values = dict(vars(node))
    values["profile"] = vars(values["profile"])
    values["title"] = vars(values["title"])
    return values


def global_id(event: Event) -> str:
    raw = f"{event.event_time}:{event.event_id}:{event.series_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def expected(event: Event, title: str, position: int, duration: int,
             device: str | None) -> dict[str, object]:
    return {
        "id": global_id(event), "profile": {"id": event.series_id}, "title": {"id": title},
        "started_at": datetime.fromtimestamp(event.event_time / 1_000_000, UTC),
        "position_seconds": position, "duration_seconds": duration, "device": device,
    }


EXPECTED = [
    expected(EVENTS[0], "t1", 30, 12, "tv"),
    expected(EVENTS[1], "t1", 0, 0, None),
    expected(EVENTS[2], "t\ufffd2", 0, 0, "\ufffd"),
    expected(EVENTS[3], "", 0, 0, None),
    expected(EVENTS[4], "t3", 7, 0, None),
]


def test_each_edge_holds_its_event_and_its_cursor_place() -> None:
    cursors = [f"c{i}" for i in range(len(EVENTS))]
    edges = edges_of(cursors, EVENTS)
    assert [fields(e.node) for e in edges] == EXPECTED
    assert [(e.cursors, e.at) for e in edges] == [(cursors, i) for i in range(len(EVENTS))]


def test_from_record_builds_the_same_event_alone() -> None:
    assert [fields(PlaybackEvent.from_record(e)) for e in EVENTS] == EXPECTED


def test_a_page_shares_its_profile_and_titles_but_not_across_series() -> None:
    edges = edges_of([], EVENTS)
    assert edges[0].node.profile is edges[3].node.profile
    assert edges[4].node.profile is not edges[0].node.profile
    assert edges[4].node.profile.id == "p2"
    assert edges[0].node.title is edges[1].node.title
    assert edges[3].node.title.id == ""


def test_a_global_id_is_unpadded_url_safe_base64_at_every_length() -> None:
    # Raw lengths of every remainder mod 3 (no padding, "=", "=="), and bytes that base64
    # writes as "+" and "/" ("~~~" and "???").
    for n in range(12):
        event = Event("p" * n, 1_700_000_000_000_000, "~~~???", {})
        assert event_global_id(event.series_id, event.event_time, event.event_id) \
            == global_id(event)
        assert parse_event_global_id(global_id(event)) == (
            event.series_id, event.event_time, event.event_id)
