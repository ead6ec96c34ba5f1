"""A page's edges are built in one loop (`edges_of`), each node exactly as `from_record`
builds it: the same field values, whatever the items hold."""

from __future__ import annotations

from abstractions.timeseries import Event
from subgraph.schema.playback import PlaybackEvent, edges_of

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


def test_each_edge_holds_the_node_from_record_builds_and_its_cursor_place() -> None:
    cursors = [f"c{i}" for i in range(len(EVENTS))]
    edges = edges_of(cursors, EVENTS)
    assert [fields(e.node) for e in edges] == [
        fields(PlaybackEvent.from_record(e)) for e in EVENTS
    ]
    assert [(e.cursors, e.at) for e in edges] == [(cursors, i) for i in range(len(EVENTS))]


def test_a_page_shares_its_profile_and_titles_but_not_across_series() -> None:
    edges = edges_of([], EVENTS)
    assert edges[0].node.profile is edges[3].node.profile
    assert edges[4].node.profile is not edges[0].node.profile
    assert edges[4].node.profile.id == "p2"
    assert edges[0].node.title is edges[1].node.title
    assert edges[3].node.title.id == ""
