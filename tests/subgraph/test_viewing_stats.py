"""Profile.viewingStats, Title.viewingStats and aggregateEvents through GraphQL.

Ten days of playback, the first five exported to the Iceberg table and the rest still in the
primary store only: the answers must count every event once, N entities must cost one analytics
call per field shape (as /metrics shows), and access follows the namespace's policy.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from abstractions.access import Caller
from abstractions.gateway import DataGateway
from abstractions.namespaces import TimeSeriesNamespace
from backends.base import StoredEvent

from .conftest import GraphQLClient, SchemaRunner

DAY = 86_400 * 1_000_000
BASE = 1_767_225_600 * 1_000_000  # 2026-01-01T00:00Z
SINCE = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
UNTIL = datetime(2026, 1, 11, tzinfo=UTC).isoformat()
DEVICES = ["tv", "phone"]


def history() -> list[StoredEvent]:
    """Profile p{k} plays title t{i % (k+1)} on day i at noon, 100*(k+1) seconds in."""
    out = []
    for day in range(10):
        for k in range(3):
            for n in range(k + 1):
                out.append(StoredEvent(
                    f"p{k}", BASE + day * DAY + DAY // 2 + n, f"d{day}-{n}",
                    {"title_id": f"t{(day + n) % (k + 1)}".encode(),
                     "device": DEVICES[(day + n) % 2].encode(),
                     "position_seconds": str(100 * (k + 1)).encode()},
                ))
    return out


async def seed(gateway: DataGateway) -> list[StoredEvent]:
    ns = gateway.namespaces.get("viewing_history", TimeSeriesNamespace)
    events = history()
    await gateway.store.ts_write(ns.name, ns.layout, events)
    result = await gateway.analytics.export_slices(
        ns.name, until=BASE + 5 * DAY, now=BASE + 100 * DAY
    )
    assert len(result.exported) == 5  # days 1-5 in the archive, days 6-10 open
    return events


PROFILE_STATS = """
query ($ids: [_Any!]!, $since: DateTime, $until: DateTime) {
  _entities(representations: $ids) {
    ... on Profile {
      id
      viewingStats(since: $since, until: $until) {
        plays watchedSeconds distinctTitles distinctProfiles
        byDevice { device plays watchedSeconds }
      }
    }
  }
}"""

TITLE_STATS = """
query ($ids: [_Any!]!, $since: DateTime, $until: DateTime) {
  _entities(representations: $ids) {
    ... on Title {
      id
      viewingStats(since: $since, until: $until) {
        plays watchedSeconds distinctProfiles distinctTitles
        byDay { day plays watchedSeconds }
      }
    }
  }
}"""

TOP = """
query ($ids: [_Any!]!, $since: DateTime, $until: DateTime, $first: Int!) {
  _entities(representations: $ids) {
    ... on Profile { viewingStats(since: $since, until: $until) {
      topTitles(first: $first) { titleId plays watchedSeconds } } }
  }
}"""

AGGREGATE = """
query ($since: DateTime!, $until: DateTime!, $groupBy: [String!], $sum: [String!],
       $where: SearchQuery) {
  aggregateEvents(namespace: "viewing_history", since: $since, until: $until,
                  groupBy: $groupBy, sum: $sum, where: $where) { keys count sums }
}"""


def refs(kind: str, *ids: str, since: str = SINCE, until: str = UNTIL) -> dict[str, Any]:
    return {"ids": [{"__typename": kind, "id": i} for i in ids], "since": since, "until": until}


async def test_profile_stats_count_every_event_once_across_the_archive_boundary(
    client: GraphQLClient,
) -> None:
    await seed(client.gateway)
    data = await client.data(PROFILE_STATS, refs("Profile", "p0", "p1", "p2", "nobody"))
    by_id = {e["id"]: e["viewingStats"] for e in data["_entities"]}
    # p2: 3 plays a day for 10 days at 300 s; titles t0..t2; devices alternate.
    assert by_id["p2"]["plays"] == "30"
    assert by_id["p2"]["watchedSeconds"] == str(30 * 300)
    assert by_id["p2"]["distinctTitles"] == "3"
    assert by_id["p2"]["distinctProfiles"] is None
    assert sorted((d["device"], d["plays"]) for d in by_id["p2"]["byDevice"]) == [
        ("phone", "15"), ("tv", "15")]
    assert by_id["p0"]["plays"] == "10" and by_id["p0"]["distinctTitles"] == "1"
    assert by_id["nobody"] == {
        "plays": "0", "watchedSeconds": "0", "distinctTitles": "0", "distinctProfiles": None,
        "byDevice": [],
    }
    # An interval starting and ending inside days, across the boundary (days 4..7).
    part = await client.data(PROFILE_STATS, refs(
        "Profile", "p1",
        since=(datetime(2026, 1, 4, 13, tzinfo=UTC)).isoformat(),
        until=(datetime(2026, 1, 8, 11, tzinfo=UTC)).isoformat(),
    ))
    # Days 4 (noon is before 13:00: out), 5, 6, 7 in; day 8 at noon is after 11:00: out.
    assert part["_entities"][0]["viewingStats"]["plays"] == str(3 * 2)


async def test_n_profiles_cost_one_analytics_call_per_field_shape(
    client: GraphQLClient,
) -> None:
    await seed(client.gateway)

    def aggregate_calls() -> int:
        return client.gateway.calls.snapshot().get(("analytics", "aggregate"), 0)

    before = aggregate_calls()
    ids = [f"p{i}" for i in range(3)] + [f"x{i}" for i in range(20)]
    await client.data(PROFILE_STATS, refs("Profile", *ids))
    # Totals (plays, watchedSeconds, distinctTitles share one shape) and byDevice.
    assert aggregate_calls() - before == 2
    metrics = (await client.http.get("/metrics")).text
    line = next(
        x for x in metrics.splitlines()
        if x.startswith("subgraph_abstraction_calls_total")
        and 'abstraction="analytics"' in x and 'operation="aggregate"' in x
    )
    assert float(line.rsplit(" ", 1)[1]) == before + 2


async def test_title_stats_count_profiles_and_days(client: GraphQLClient) -> None:
    events = await seed(client.gateway)
    data = await client.data(TITLE_STATS, refs("Title", "t0", "t1"))
    by_id = {e["id"]: e["viewingStats"] for e in data["_entities"]}
    for title in ("t0", "t1"):
        mine = [e for e in events if e.items["title_id"] == title.encode()]
        assert by_id[title]["plays"] == str(len(mine))
        assert by_id[title]["watchedSeconds"] == str(
            sum(int(e.items["position_seconds"]) for e in mine))
        assert by_id[title]["distinctProfiles"] == str(len({e.series_id for e in mine}))
        assert by_id[title]["distinctTitles"] is None
        days = by_id[title]["byDay"]
        assert [d["day"] for d in days] == sorted(d["day"] for d in days)
        assert sum(int(d["plays"]) for d in days) == len(mine)
    assert by_id["t0"]["byDay"][0]["day"] == "2026-01-01"


async def test_top_titles_most_played_first(client: GraphQLClient) -> None:
    events = await seed(client.gateway)
    data = await client.data(TOP, {**refs("Profile", "p2"), "first": 2})
    top = data["_entities"][0]["viewingStats"]["topTitles"]
    counts: dict[str, int] = {}
    for e in events:
        if e.series_id == "p2":
            t = e.items["title_id"].decode()
            counts[t] = counts.get(t, 0) + 1
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:2]
    assert [(t["titleId"], int(t["plays"])) for t in top] == expected
    errors = await client.errors(TOP, {**refs("Profile", "p2"), "first": 0})
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_aggregate_events_grouped_by_device(client: GraphQLClient) -> None:
    events = await seed(client.gateway)
    data = await client.data(AGGREGATE, {
        "since": SINCE, "until": UNTIL, "groupBy": ["device"], "sum": ["position_seconds"],
    })
    got = {g["keys"][0]: (int(g["count"]), g["sums"][0]) for g in data["aggregateEvents"]}
    for device in DEVICES:
        mine = [e for e in events if e.items["device"] == device.encode()]
        assert got[device] == (len(mine), float(sum(int(e.items["position_seconds"])
                                                    for e in mine)))
    where = {"conditions": [{"key": "title_id", "op": "EQ", "text": "t2"}]}
    only = await client.data(AGGREGATE, {"since": SINCE, "until": UNTIL, "where": where})
    assert only["aggregateEvents"] == [{
        "keys": [], "count": str(sum(1 for e in events if e.items["title_id"] == b"t2")),
        "sums": [],
    }]


@pytest.mark.parametrize(("variables", "code", "message"), [
    ({"sum": ["device"]}, "BAD_USER_INPUT", "sum key 'device' is keyword, not numeric"),
    ({"groupBy": ["colour"]}, "BAD_USER_INPUT", "groupBy key 'colour' is not a typed field"),
    ({"sum": ["nope"]}, "BAD_USER_INPUT", "sum key 'nope' is not a typed field"),
    ({"until": "2028-01-01T00:00:00Z"}, "BAD_USER_INPUT", "at most 400 days"),
])
async def test_aggregate_events_refuses_unknown_keys_and_long_intervals(
    client: GraphQLClient, variables: dict[str, Any], code: str, message: str,
) -> None:
    errors = await client.errors(AGGREGATE, {"since": SINCE, "until": UNTIL, **variables})
    assert errors[0]["extensions"]["code"] == code, errors
    assert re.search(re.escape(message), errors[0]["message"]), errors


async def test_aggregate_events_refuses_a_namespace_without_analytics(
    client: GraphQLClient,
) -> None:
    errors = await client.errors(
        AGGREGATE.replace('"viewing_history"', '"events_short"'),
        {"since": SINCE, "until": UNTIL},
    )
    assert "analytics" in errors[0]["message"]


def caller(*scopes: str, profiles: tuple[str, ...] = ()) -> Caller:
    return Caller("user-1", frozenset(scopes), frozenset(profiles), authenticated=True)


async def test_a_profile_s_stats_are_for_its_owner(execute: SchemaRunner) -> None:
    await seed(execute.gateway)
    result = await execute.execute(
        PROFILE_STATS, refs("Profile", "p1", "p2"), caller(profiles=("p1",))
    )
    entities = result.data["_entities"]
    assert entities[0]["viewingStats"]["plays"] == "20"
    assert entities[1] is None  # plays is non-null: the refusal nulls the entity
    assert {e.extensions["code"] for e in result.errors} == {"FORBIDDEN"}
    assert all(e.path[:2] == ["_entities", 1] for e in result.errors)


async def test_a_title_s_stats_need_authentication_only(execute: SchemaRunner) -> None:
    await seed(execute.gateway)
    anonymous = await execute.execute(TITLE_STATS, refs("Title", "t0"), Caller.anonymous())
    assert anonymous.errors and {
        e.extensions["code"] for e in anonymous.errors} <= {"UNAUTHENTICATED", "FORBIDDEN"}
    signed_in = await execute.execute(TITLE_STATS, refs("Title", "t0"), caller())
    assert not signed_in.errors
    assert signed_in.data["_entities"][0]["viewingStats"]["plays"] != "0"


async def test_an_archive_failure_is_an_error_not_zero(client: GraphQLClient) -> None:
    await seed(client.gateway)
    archive = client.gateway.analytics.archive
    assert archive is not None
    ns = client.gateway.namespaces.get("viewing_history", TimeSeriesNamespace)
    plan = archive.plan(ns.name, ns.search_fields, 0, 2**40)
    for path in plan.files:
        await asyncio.to_thread(Path(path).write_bytes, b"not parquet")
    errors = await client.errors(PROFILE_STATS, refs("Profile", "p2"))
    assert errors[0]["extensions"]["code"] == "UNAVAILABLE"
    assert "parquet" not in errors[0]["message"].lower()

