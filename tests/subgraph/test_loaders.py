"""Batching: N entities asking the same question cost one abstraction call per loader, any N."""

from __future__ import annotations

import re

import pytest

from abstractions.gateway import DataGateway
from abstractions.timeseries import Event
from abstractions.tokens import now_micros

from .conftest import GraphQLClient

TITLES = ("t0", "t1", "t2", "t3", "t4")

HISTORY_AND_COUNTS = """
query ($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Profile {
      id
      viewingHistory(first: 1) { edges { node { id title { id playCount { count } } } } }
      playCount { count }
    }
  }
}
"""

METRIC = re.compile(
    r'^subgraph_abstraction_calls_total\{abstraction="([^"]+)",operation="([^"]+)"\} ([0-9.e+]+)$',
    re.MULTILINE,
)


async def seed_profiles(gateway: DataGateway, n: int) -> None:
    """Profile i watched title i % 5 once."""
    now = now_micros()
    events = [
        Event(f"p{i}", now - 1_000_000 - i, f"e{i}", {"title_id": TITLES[i % 5].encode()})
        for i in range(n)
    ]
    await gateway.timeseries.write_events("viewing_history", events)


def calls_between(before: dict[tuple[str, str], int], after: dict[tuple[str, str], int]) -> dict:
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


async def metric_calls(client: GraphQLClient) -> dict[tuple[str, str], int]:
    response = await client.http.get("/metrics")
    assert response.status_code == 200
    return {(a, o): int(float(n)) for a, o, n in METRIC.findall(response.text)}


@pytest.mark.parametrize("n", [1, 10, 500])
async def test_entities_for_n_profiles_make_one_timeseries_and_one_counter_call_per_namespace(
    client: GraphQLClient, n: int
) -> None:
    await seed_profiles(client.gateway, n)
    reps = [{"__typename": "Profile", "id": f"p{i}"} for i in range(n)]

    before = client.gateway.calls.snapshot()
    data = await client.data(HISTORY_AND_COUNTS, {"reps": reps})
    after = client.gateway.calls.snapshot()

    # One read of every profile's history; one count read for profile_plays (the profiles'
    # playCount) and one for title_plays (the titles inside the history), whatever N is.
    assert calls_between(before, after) == {
        ("timeseries", "read_events_many"): 1,
        ("counter", "get_many"): 2,
    }
    entities = data["_entities"]
    assert [e["id"] for e in entities] == [f"p{i}" for i in range(n)]
    for i, entity in enumerate(entities):
        titles = [edge["node"]["title"] for edge in entity["viewingHistory"]["edges"]]
        assert titles == [{"id": TITLES[i % 5], "playCount": {"count": "0"}}]
        assert entity["playCount"] == {"count": "0"}


async def test_batching_is_visible_in_the_metrics_endpoint(client: GraphQLClient) -> None:
    await seed_profiles(client.gateway, 10)
    reps = [{"__typename": "Profile", "id": f"p{i}"} for i in range(10)]
    before = await metric_calls(client)
    await client.data(HISTORY_AND_COUNTS, {"reps": reps})
    after = await metric_calls(client)
    assert calls_between(before, after) == {
        ("timeseries", "read_events_many"): 1,
        ("counter", "get_many"): 2,
    }


async def test_entity_references_selecting_only_id_make_no_abstraction_calls(
    client: GraphQLClient,
) -> None:
    reps = [{"__typename": "Profile", "id": "p1"}, {"__typename": "Title", "id": "t1"}]
    before = client.gateway.calls.snapshot()
    data = await client.data(
        "query ($r: [_Any!]!) { _entities(representations: $r) "
        "{ __typename ... on Profile { id } ... on Title { id } } }",
        {"r": reps},
    )
    assert client.gateway.calls.snapshot() == before
    assert data["_entities"] == [
        {"__typename": "Profile", "id": "p1"}, {"__typename": "Title", "id": "t1"},
    ]


async def test_counters_field_reads_many_names_in_one_call(client: GraphQLClient) -> None:
    before = client.gateway.calls.snapshot()
    data = await client.data(
        '{ counters(namespace: "profile_plays", names: ["a", "b", "c", "a"]) { name count } }'
    )
    assert calls_between(before, client.gateway.calls.snapshot()) == {("counter", "get_many"): 1}
    assert [c["name"] for c in data["counters"]] == ["a", "b", "c", "a"]
