"""Generic time-series fields: timeSeries, writeEvents (sync, fire-and-forget), searchEvents,
distinctValues."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from .conftest import GraphQLClient, attempt_recorded

WRITE = """
mutation ($input: WriteEventsInput!) { writeEvents(input: $input) { accepted eventIds } }
"""
SERIES = """
query ($ns: String!, $id: ID!, $first: Int!, $after: String, $filter: [ItemFilter!],
       $since: DateTime, $until: DateTime) {
  timeSeries(namespace: $ns, id: $id, first: $first, after: $after, filter: $filter,
             since: $since, until: $until) {
    edges { cursor node { id seriesId eventTime eventId items { key value text } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
SEARCH = """
query ($query: SearchQuery, $first: Int!, $after: String) {
  searchEvents(namespace: "viewing_history", query: $query, first: $first, after: $after) {
    edges { node { seriesId eventId } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


_start: list[datetime] = []


@pytest.fixture(autouse=True)
def frozen_start() -> None:
    """One instant per test that every `at()` counts back from, so intervals do not drift."""
    _start[:] = [datetime.now(UTC)]


def at(seconds_ago: float) -> str:
    return (_start[0] - timedelta(seconds=seconds_ago)).isoformat()


def event(series: str, event_id: str, seconds_ago: float, **items: str) -> dict[str, Any]:
    return {
        "seriesId": series, "eventId": event_id, "eventTime": at(seconds_ago),
        "items": [{"key": k, "text": v} for k, v in items.items()],
    }


async def write(
    client: GraphQLClient, namespace: str, events: list[dict[str, Any]], key: str,
    mode: str = "SYNC",
) -> dict[str, Any]:
    data = await client.data(WRITE, {"input": {
        "namespace": namespace, "events": events, "mode": mode, "idempotencyKey": key,
    }})
    return data["writeEvents"]


async def series(client: GraphQLClient, id: str, ns: str = "events_short", **args: Any) -> dict:
    variables = {"ns": ns, "id": id, "first": 20, **args}
    return (await client.data(SERIES, variables))["timeSeries"]


def ids_of(page: dict[str, Any]) -> list[str]:
    return [edge["node"]["eventId"] for edge in page["edges"]]


async def write_clicks(client: GraphQLClient) -> None:
    events = [
        event("s1", f"e{n}", 10 - n, kind="click" if n % 2 else "view", score=str(n))
        for n in range(6)
    ]
    out = await write(client, "events_short", events, "clicks")
    assert out["accepted"] == 6
    assert len(set(out["eventIds"])) == 6


async def test_time_series_returns_events_newest_first_with_their_items(
    client: GraphQLClient,
) -> None:
    await write_clicks(client)
    page = await series(client, "s1")
    assert ids_of(page) == ["e5", "e4", "e3", "e2", "e1", "e0"]
    newest = page["edges"][0]["node"]
    assert newest["seriesId"] == "s1"
    assert newest["items"] == [
        {"key": "kind", "value": "Y2xpY2s=", "text": "click"},
        {"key": "score", "value": "NQ==", "text": "5"},
    ]
    assert page["pageInfo"] == {"hasNextPage": False, "endCursor": page["edges"][-1]["cursor"]}


async def test_time_series_filters_by_item_value_and_pages_with_cursors(
    client: GraphQLClient,
) -> None:
    await write_clicks(client)
    clicks = [{"key": "kind", "text": "click"}]
    first = await series(client, "s1", first=2, filter=clicks)
    assert ids_of(first) == ["e5", "e3"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = await series(client, "s1", first=2, filter=clicks,
                        after=first["pageInfo"]["endCursor"])
    assert ids_of(rest) == ["e1"]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_a_filter_takes_the_value_as_text_or_as_base64_value_not_both(
    client: GraphQLClient,
) -> None:
    await write_clicks(client)
    as_base64 = await series(client, "s1", filter=[{"key": "kind", "value": "Y2xpY2s="}])
    assert ids_of(as_base64) == ["e5", "e3", "e1"]
    for bad in ({"key": "kind"}, {"key": "kind", "text": "click", "value": "Y2xpY2s="},
                {"key": "kind", "value": "not base64!"}):
        errors = await client.errors(SERIES, {"ns": "events_short", "id": "s1", "first": 20,
                                              "filter": [bad]})
        assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], bad


async def test_time_series_since_and_until_bound_the_interval(client: GraphQLClient) -> None:
    await write_clicks(client)  # e0 is 10 s old ... e5 is 5 s old
    page = await series(client, "s1", since=at(8.5), until=at(5.5))
    assert ids_of(page) == ["e4", "e3", "e2"]


async def test_write_events_sync_is_readable_at_once(client: GraphQLClient) -> None:
    out = await write(client, "events_short", [event("s2", "x", 1, kind="a")], "sync")
    assert out["accepted"] == 1
    assert ids_of(await series(client, "s2")) == ["x"]
    assert (await series(client, "s2"))["edges"][0]["node"]["id"] == out["eventIds"][0]


async def test_write_events_without_event_ids_get_ids_that_retries_reuse(
    client: GraphQLClient,
) -> None:
    body = [{"seriesId": "s3", "items": [{"key": "kind", "text": "a"}]}]
    first = await write(client, "events_short", body, "no-ids")
    retry = await write(client, "events_short", body, "no-ids")
    assert retry == first
    assert len((await series(client, "s3"))["edges"]) == 1


async def test_write_events_fire_and_forget_becomes_readable_shortly(
    client: GraphQLClient,
) -> None:
    events = [event("s4", f"f{n}", 2 - n * 0.1, kind="a") for n in range(3)]
    out = await write(client, "events_short", events, "faf", mode="FIRE_AND_FORGET")
    assert out["accepted"] == 3
    deadline = time.monotonic() + 3
    found: list[str] = []
    while time.monotonic() < deadline:
        found = ids_of(await series(client, "s4"))
        if len(found) == 3:
            break
        await asyncio.sleep(0.02)
    assert found == ["f2", "f1", "f0"]


async def write_history(client: GraphQLClient) -> None:
    plays = [
        ("p1", "v1", "t1", "100", 600), ("p1", "v2", "t2", "900", 500),
        ("p2", "v3", "t1", "1200", 400), ("p3", "v4", "t1", "50", 300),
        ("p3", "v5", "t1", "3000", 200),
    ]
    await write(client, "viewing_history", [
        event(p, e, ago, title_id=t, position_seconds=pos) for p, e, t, pos, ago in plays
    ], "history")


def conditions(*conds: tuple[str, str, str]) -> dict[str, Any]:
    return {"conditions": [{"key": k, "op": op, "text": v} for k, op, v in conds]}


async def test_search_events_matches_every_condition_numerically(
    client: GraphQLClient,
) -> None:
    await write_history(client)
    query = conditions(("title_id", "EQ", "t1"), ("position_seconds", "GTE", "100"),
                       ("position_seconds", "LT", "2000"))
    page = (await client.data(SEARCH, {"query": query, "first": 20}))["searchEvents"]
    # Numeric, not lexical: "1200" >= "100" and "50" < "100"; "3000" is out of range.
    assert [(e["node"]["seriesId"], e["node"]["eventId"]) for e in page["edges"]] == [
        ("p2", "v3"), ("p1", "v1"),
    ]


async def test_search_events_pages_through_every_match(client: GraphQLClient) -> None:
    await write_history(client)
    query = conditions(("title_id", "EQ", "t1"))
    seen: list[str] = []
    after = None
    for _ in range(10):
        page = (await client.data(SEARCH, {"query": query, "first": 1, "after": after}))
        page = page["searchEvents"]
        seen += [e["node"]["eventId"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["v5", "v4", "v3", "v1"]


async def test_distinct_values_counts_each_value_most_common_first(
    client: GraphQLClient,
) -> None:
    await write_history(client)
    data = await client.data(
        '{ distinctValues(namespace: "viewing_history", key: "title_id") { value text count } }'
    )
    assert data["distinctValues"] == [
        {"value": "dDE=", "text": "t1", "count": 4},
        {"value": "dDI=", "text": "t2", "count": 1},
    ]
    filtered = await client.data(
        'query ($q: SearchQuery) { distinctValues(namespace: "viewing_history", key: "title_id",'
        " query: $q) { text count } }",
        {"q": conditions(("position_seconds", "GT", "1000"))},
    )
    assert filtered["distinctValues"] == [{"text": "t1", "count": 2}]


def good_event() -> dict[str, Any]:
    return event("s9", "good", 1, kind="a")


def with_items(event_id: str, *items: dict[str, str]) -> dict[str, Any]:
    return {**event("s9", event_id, 1), "items": list(items)}


# Made per test: event times count back from the test's frozen start.
INVALID_WRITES: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "event before the accept window": lambda: [good_event(), event("s9", "old", 60, kind="a")],
    "event in the future": lambda: [good_event(), event("s9", "future", -60, kind="a")],
    "event without items": lambda: [good_event(), event("s9", "bare", 1)],
    "item key over 128 characters": lambda: [good_event(), with_items("k", {"key": "k" * 129,
                                                                           "text": "a"})],
    "empty series id": lambda: [good_event(), event("", "noseries", 1, kind="a")],
    "series id over 256 characters": lambda: [good_event(), event("s" * 257, "x", 1, kind="a")],
    "event id over 128 characters": lambda: [good_event(), event("s9", "e" * 129, 1, kind="a")],
    "value not base64": lambda: [good_event(), with_items("b", {"key": "k", "value": "@@@"})],
    "text and value": lambda: [
        good_event(), with_items("tv", {"key": "k", "text": "x", "value": "eA=="})
    ],
    "no events": lambda: [],
}


@pytest.mark.parametrize("mode", ["SYNC", "FIRE_AND_FORGET"])
@pytest.mark.parametrize("bad", INVALID_WRITES.values(), ids=INVALID_WRITES.keys())
async def test_an_invalid_write_writes_no_event_and_its_key_stays_free(
    client: GraphQLClient, bad: Callable[[], list[dict[str, Any]]], mode: str
) -> None:
    body = {"namespace": "events_short", "events": bad(), "mode": mode, "idempotencyKey": "fix"}
    errors = await client.errors(WRITE, {"input": body})
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    await client.gateway.timeseries.stop()  # flush whatever fire-and-forget may have taken
    assert (await series(client, "s9"))["edges"] == []
    assert not await attempt_recorded(client.gateway, "writeEvents", "fix")
    await write(client, "events_short", [good_event()], "fix")
    assert ids_of(await series(client, "s9")) == ["good"]


async def test_a_write_to_an_unknown_namespace_leaves_its_key_free(client: GraphQLClient) -> None:
    body = {"namespace": "nope", "events": [good_event()], "idempotencyKey": "fix"}
    errors = await client.errors(WRITE, {"input": body})
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    assert not await attempt_recorded(client.gateway, "writeEvents", "fix")
