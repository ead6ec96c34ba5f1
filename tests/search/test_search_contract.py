"""The search contract: every way search is served gives the same answers.

One catalogue of events is written through the abstraction; each test asks searchEvents or
distinct values a question and compares the answer with what a plain Python model of the
contract says (SQLite's semantics: an event matches when, for every condition, its item of that
key compares true as the key's declared type; newest first, ties by event id, then series).
The same expected answers hold for SQLite's own search and for OpenSearch and Elasticsearch over
either store.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest

from abstractions.errors import ClientError, InvalidArgument
from abstractions.timeseries import Event
from abstractions.tokens import now_micros
from backends.base import Condition
from backends.sqlite.db import _to_epoch, _to_real

from .conftest import Searching

NS = "viewing_history"
FIELDS = {"title_id": "keyword", "device": "keyword", "position_seconds": "numeric",
          "duration_seconds": "numeric", "started_at": "date"}
HOUR = 3600 * 1_000_000
TITLES = ["t_a", "t_b", "t_c"]


def iso(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1e6, UTC).isoformat().replace("+00:00", "Z")


def catalogue(uid: str, now: int) -> list[Event]:
    """30 events over two days: ties on time (by event id) and on time and id (by series)."""
    events = []
    for k in range(12):
        t = now - k * 4 * HOUR - 1_000_000
        for s, eid in ((0, "x"), (1, "x"), (2, "y")):
            if s == 2 and k % 2:
                continue
            items = {
                "title_id": TITLES[(k + s) % 3].encode(),
                "device": b"tv" if s % 2 == 0 else b"phone",
                "position_seconds": str(k * 10 + s).encode(),
                "duration_seconds": b"3600" if k % 3 else b"3600.0",
                "started_at": iso(t - 600 * 1_000_000).encode(),
                "blob": b"\xff\x00" + bytes([k]),
            }
            if k % 4 == 0:
                items["note"] = f"n{k % 3}".encode()
            if k == 5:
                items["position_seconds"] = b"not a number"
                items["started_at"] = str((t - HOUR) / 1e6).encode()  # epoch seconds
            events.append(Event(f"{uid}-p{s}", t, eid, items))
    return events


def _holds(kind: str, value: bytes, op: str, want: str) -> bool:
    if kind == "keyword":
        left: object = value
        right: object = want.encode()
    else:
        left = _to_real(value) if kind == "numeric" else _to_epoch(value)
        right = float(want) if kind == "numeric" else _to_epoch(want.encode())
        if left is None:
            return False
    return {"eq": left == right, "gt": left > right, "gte": left >= right,  # type: ignore[operator]
            "lt": left < right, "lte": left <= right}[op]  # type: ignore[operator]


def expected(
    events: Sequence[Event], conditions: Sequence[Condition], start: int = 0, end: int = 2**62
) -> list[Event]:
    """The model's answer: matching events in the interval, newest first."""
    found = [
        e for e in events
        if start <= e.event_time < end and all(
            c.key in e.items
            and _holds(FIELDS.get(c.key, "keyword"), e.items[c.key], c.op, str(c.value))
            for c in conditions
        )
    ]
    return sorted(found, key=lambda e: (e.event_time, e.event_id, e.series_id), reverse=True)


def expected_distinct(
    events: Sequence[Event], key: str, conditions: Sequence[Condition], limit: int = 100,
    start: int = 0, end: int = 2**62,
) -> list[tuple[bytes, int]]:
    counts = Counter(e.items[key] for e in expected(events, conditions, start, end)
                     if key in e.items)
    return sorted(counts.items(), key=lambda vc: (-vc[1], vc[0]))[:limit]


def ids(events: Sequence[Event]) -> list[tuple[int, str, str]]:
    return [(e.event_time, e.event_id, e.series_id) for e in events]


async def search_all(
    searching: Searching, conditions: Sequence[Condition], *, page: int = 7,
    start: int | None = None, end: int | None = None,
) -> list[Event]:
    """Every match, following page tokens; checks each page's size and the last token."""
    found: list[Event] = []
    token = None
    for _ in range(100):
        result = await searching.gateway.timeseries.search_events(
            NS, conditions, start=start, end=end, limit=page, page_token=token
        )
        assert len(result.events) <= page
        found += result.events
        token = result.next_page_token
        if token is None:
            return found
        assert len(result.events) == page
    raise AssertionError("more than 100 pages")


@pytest.fixture
async def written(searching: Searching, uid: str) -> list[Event]:
    events = catalogue(uid, now_micros())
    await searching.gateway.timeseries.write_events(NS, events)
    await searching.settle(NS)
    return events


C = Condition

CASES: dict[str, list[Condition]] = {
    "keyword eq": [C("title_id", "eq", "t_a")],
    "keyword eq on another key": [C("device", "eq", "phone")],
    "keyword range": [C("title_id", "gt", "t_a"), C("title_id", "lte", "t_c")],
    "undeclared key is a keyword": [C("note", "eq", "n1")],
    "undeclared key range": [C("note", "gte", "n1")],
    "numeric gt": [C("position_seconds", "gt", "55")],
    "numeric gte lt": [C("position_seconds", "gte", "20"), C("position_seconds", "lt", "61")],
    "numeric eq of another spelling": [C("duration_seconds", "eq", "3600")],
    "numeric lte": [C("position_seconds", "lte", "2")],
    "date gte": [C("started_at", "gte", "2000-01-01T00:00:00Z")],
    "AND of three": [C("device", "eq", "tv"), C("position_seconds", "gte", "10"),
                     C("title_id", "eq", "t_c")],
    "nothing matches": [C("title_id", "eq", "t_zzz")],
    "no conditions": [],
}


@pytest.mark.parametrize("case", list(CASES))
async def test_search_answers_match_the_model(
    searching: Searching, written: list[Event], case: str
) -> None:
    conditions = CASES[case]
    found = await search_all(searching, conditions)
    assert ids(found) == ids(expected(written, conditions))
    assert found == expected(written, conditions)


async def test_date_ranges_read_iso_and_epoch_values(
    searching: Searching, written: list[Event]
) -> None:
    times = sorted({e.event_time for e in written})
    lo, hi = iso(times[3]), iso(times[8])
    conditions = [C("started_at", "gte", lo), C("started_at", "lt", hi)]
    want = expected(written, conditions)
    assert any(e.items["started_at"][:1].isdigit() for e in want)  # the epoch-seconds event
    assert ids(await search_all(searching, conditions)) == ids(want)


async def test_pages_go_through_every_match_newest_first(
    searching: Searching, written: list[Event]
) -> None:
    for page in (1, 4, 30, 31):
        found = await search_all(searching, [], page=page)
        assert ids(found) == ids(expected(written, []))
    pages = await searching.gateway.timeseries.search_events(NS, [], limit=30)
    assert pages.next_page_token is None  # exactly the catalogue: no empty last page


async def test_ties_break_by_event_id_then_series_descending(
    searching: Searching, written: list[Event], uid: str
) -> None:
    found = await search_all(searching, [], page=2)
    newest = found[:3]
    assert [(e.event_id, e.series_id) for e in newest] == [
        ("y", f"{uid}-p2"), ("x", f"{uid}-p1"), ("x", f"{uid}-p0")
    ]


async def test_interval_includes_its_start_and_excludes_its_end(
    searching: Searching, written: list[Event]
) -> None:
    times = sorted({e.event_time for e in written})
    start, end = times[2], times[6]
    conditions = [C("device", "eq", "tv")]
    found = await search_all(searching, conditions, page=3, start=start, end=end)
    assert ids(found) == ids(expected(written, conditions, start, end))
    assert found[-1].event_time == start
    assert all(e.event_time < end for e in found)
    one = await search_all(searching, [], start=start, end=start + 1)
    assert {e.event_time for e in one} == {start}


async def test_distinct_values_are_counted_most_frequent_first(
    searching: Searching, written: list[Event]
) -> None:
    ts = searching.gateway.timeseries
    for key, conditions in (
        ("title_id", []),
        ("device", [C("position_seconds", "gte", "30")]),
        ("note", []),
        ("duration_seconds", []),  # numeric keys group by stored value: 3600 and 3600.0
        ("blob", [C("title_id", "eq", "t_b")]),
        ("title_id", [C("title_id", "eq", "t_nothing")]),
    ):
        got = await ts.aggregate_distinct(NS, key, conditions)
        assert got == expected_distinct(written, key, conditions), key
    assert await ts.aggregate_distinct(NS, "title_id", [], limit=2) == expected_distinct(
        written, "title_id", [], limit=2
    )
    times = sorted({e.event_time for e in written})
    window = await ts.aggregate_distinct(NS, "device", [], start=times[1], end=times[5])
    assert window == expected_distinct(written, "device", [], start=times[1], end=times[5])


async def test_found_events_are_those_the_store_returns(
    searching: Searching, written: list[Event]
) -> None:
    ts = searching.gateway.timeseries
    found = await search_all(searching, [C("title_id", "eq", "t_b")])
    assert found
    for event in found:
        page = await ts.read_events(NS, event.series_id, start=event.event_time,
                                    end=event.event_time + 1)
        assert [e for e in page.events if e.event_id == event.event_id] == [event]
        assert event.items["blob"][:2] == b"\xff\x00"  # bytes survive, not only text


async def test_writing_an_event_again_merges_its_items(
    searching: Searching, written: list[Event]
) -> None:
    ts = searching.gateway.timeseries
    first = written[0]
    again = Event(first.series_id, first.event_time, first.event_id,
                  {"title_id": b"t_new", "extra": b"1"})
    await ts.write_events(NS, [again])
    await searching.settle(NS)
    stored = (await ts.read_events(NS, first.series_id, start=first.event_time,
                                   end=first.event_time + 1)).events
    merged = next(e for e in stored if e.event_id == first.event_id)
    assert merged.items == {**first.items, "title_id": b"t_new", "extra": b"1"}
    assert await search_all(searching, [C("title_id", "eq", "t_new")]) == [merged]
    before = [e for e in expected(written, [C("title_id", "eq", first.items["title_id"].decode())])
              if ids([e]) != ids([first])]
    assert ids(await search_all(searching, [C("title_id", "eq",
                                              first.items["title_id"].decode())])) == ids(before)


async def test_fire_and_forget_writes_become_searchable(
    searching: Searching, uid: str
) -> None:
    ts = searching.gateway.timeseries
    now = now_micros()
    events = [Event(f"{uid}-ff", now - i, f"f{i}", {"title_id": b"t_ff"}) for i in range(25)]
    await ts.write_events_async(NS, events)
    await eventually(searching, lambda: search_all(searching, [C("title_id", "eq", "t_ff")]),
                     lambda found: ids(found) == ids(expected(events, [])))


async def test_bad_conditions_are_client_errors(searching: Searching) -> None:
    ts = searching.gateway.timeseries
    with pytest.raises(InvalidArgument, match="numeric"):
        await ts.search_events(NS, [C("position_seconds", "gt", "soon")])
    with pytest.raises(ClientError, match="page token"):
        await ts.search_events(NS, [], page_token="bm9wZQ")


async def eventually(
    searching: Searching,
    ask: Callable[[], object],
    done: Callable[[list[Event]], bool],
    seconds: float = 10.0,
) -> list[Event]:
    """Ask again (refreshing the index) until the answer is `done`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        await searching.settle(NS)
        found = await ask()  # type: ignore[misc]
        if done(found) or asyncio.get_running_loop().time() > deadline:
            assert done(found), found
            return found
        await asyncio.sleep(0.05)
