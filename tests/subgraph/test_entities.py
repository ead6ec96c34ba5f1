"""Profile and Title entities through `_entities`, and the Long scalar on the wire."""

from __future__ import annotations

from datetime import UTC, datetime

from abstractions.gateway import DataGateway
from abstractions.timeseries import Event
from abstractions.tokens import IdempotencyToken, now_micros

from .conftest import GraphQLClient, wait_out_accept_window

HOUR = 3600 * 1_000_000

ENTITIES = """
query ($reps: [_Any!]!) {
  _entities(representations: $reps) {
    __typename
    ... on Profile {
      id
      viewingHistory {
        edges { node { id startedAt positionSeconds durationSeconds device title { id } } }
        pageInfo { hasNextPage }
      }
      playCount { namespace name count mode }
    }
    ... on Title { id playCount { namespace name count mode } }
  }
}
"""


def play(profile: str, title: str, at: int, n: int, device: str | None = "tv") -> Event:
    items = {
        "title_id": title.encode(),
        "position_seconds": str(100 * n).encode(),
        "duration_seconds": str(10 * n).encode(),
    }
    if device is not None:
        items["device"] = device.encode()
    return Event(profile, at, f"e{n}", items)


async def seed(gateway: DataGateway) -> int:
    now = now_micros()
    await gateway.timeseries.write_events("viewing_history", [
        play("pa", "t1", now - 3 * HOUR, 1),
        play("pa", "t2", now - 1 * HOUR, 2, device=None),
        play("pb", "t1", now - 2 * HOUR, 3, device="phone"),
    ])
    await gateway.counters.add("profile_plays", "pa", 2, IdempotencyToken.new())
    await gateway.counters.add("profile_plays", "pb", 1, IdempotencyToken.new())
    return now


async def test_entities_resolve_profiles_in_representation_order_with_history_and_counts(
    client: GraphQLClient,
) -> None:
    await seed(client.gateway)
    reps = [{"__typename": "Profile", "id": i} for i in ("pb", "nobody", "pa")]
    data = await client.data(ENTITIES, {"reps": reps})
    entities = data["_entities"]
    assert [e["id"] for e in entities] == ["pb", "nobody", "pa"]
    assert [e["__typename"] for e in entities] == ["Profile"] * 3

    pb, nobody, pa = entities
    assert [
        (e["node"]["title"]["id"], e["node"]["positionSeconds"], e["node"]["durationSeconds"],
         e["node"]["device"])
        for e in pa["viewingHistory"]["edges"]
    ] == [("t2", 200, 20, None), ("t1", 100, 10, "tv")]  # newest first
    assert [e["node"]["device"] for e in pb["viewingHistory"]["edges"]] == ["phone"]
    assert nobody["viewingHistory"] == {"edges": [], "pageInfo": {"hasNextPage": False}}
    assert pa["playCount"] == {
        "namespace": "profile_plays", "name": "pa", "count": "2", "mode": "ACCURATE"
    }
    assert pb["playCount"]["count"] == "1"
    assert nobody["playCount"]["count"] == "0"


async def test_entities_mix_profiles_and_titles_in_one_request(client: GraphQLClient) -> None:
    await seed(client.gateway)
    reps = [
        {"__typename": "Title", "id": "t1"},
        {"__typename": "Profile", "id": "pa"},
        {"__typename": "Title", "id": "t9"},
    ]
    data = await client.data(ENTITIES, {"reps": reps})
    assert [(e["__typename"], e["id"]) for e in data["_entities"]] == [
        ("Title", "t1"), ("Profile", "pa"), ("Title", "t9"),
    ]
    assert data["_entities"][0]["playCount"] == {
        "namespace": "title_plays", "name": "t1", "count": "0", "mode": "EVENTUAL"
    }
    assert len(data["_entities"][1]["viewingHistory"]["edges"]) == 2


async def test_title_play_count_reads_the_rolled_up_eventual_count(
    client: GraphQLClient,
) -> None:
    gateway = client.gateway
    await gateway.counters.add("title_plays", "t1", 3, IdempotencyToken.new())
    await gateway.counters.add("title_plays", "t2", 1, IdempotencyToken.new())
    query = "query ($r: [_Any!]!) { _entities(representations: $r) " \
            "{ ... on Title { id playCount { count } } } }"
    reps = [{"__typename": "Title", "id": t} for t in ("t2", "t1")]
    await wait_out_accept_window()
    await gateway.counters.rollup("title_plays", ["t1", "t2"])
    after = await client.data(query, {"r": reps})
    assert [(e["id"], e["playCount"]["count"]) for e in after["_entities"]] == [
        ("t2", "1"), ("t1", "3"),
    ]


async def test_long_serialises_as_a_string_and_keeps_counts_above_2_pow_53_exact(
    client: GraphQLClient,
) -> None:
    assert 9007199254740993 > 2**53  # not representable as a float64
    mutation = """
      mutation ($d: Long!) {
        addCount(input: {namespace: "page_views", name: "big", delta: $d, idempotencyKey: "k1"})
        { count }
      }
    """
    added = await client.data(mutation, {"d": "9007199254740993"})
    assert added["addCount"]["count"] == "9007199254740993"
    read = await client.data('{ counter(namespace: "page_views", name: "big") { count } }')
    assert read["counter"]["count"] == "9007199254740993"
    # An integer literal is accepted as well, and the sum stays exact.
    more = await client.data(
        'mutation { addCount(input: {namespace: "page_views", name: "big", delta: 2, '
        'idempotencyKey: "k2"}) { count } }'
    )
    assert more["addCount"]["count"] == "9007199254740995"



async def test_viewing_history_pages_with_after_and_filters_by_title_and_time(
    client: GraphQLClient,
) -> None:
    now = await seed(client.gateway)
    query = """
      query ($first: Int!, $after: String, $titleId: ID, $since: DateTime, $until: DateTime) {
        _entities(representations: [{__typename: "Profile", id: "pa"}]) {
          ... on Profile {
            viewingHistory(first: $first, after: $after, titleId: $titleId, since: $since,
                           until: $until) {
              edges { node { title { id } } }
              pageInfo { hasNextPage endCursor }
            }
          }
        }
      }
    """

    async def titles(**args: object) -> tuple[list[str], dict]:
        variables = {"first": 20, **args}
        history = (await client.data(query, variables))["_entities"][0]["viewingHistory"]
        return [e["node"]["title"]["id"] for e in history["edges"]], history["pageInfo"]

    first_page, info = await titles(first=1)
    assert (first_page, info["hasNextPage"]) == (["t2"], True)
    second_page, info = await titles(first=1, after=info["endCursor"])
    assert (second_page, info) == (["t1"], {"hasNextPage": False, "endCursor": info["endCursor"]})
    assert (await titles(titleId="t1"))[0] == ["t1"]
    two_hours_ago = datetime.fromtimestamp((now - 2 * HOUR) / 1e6, UTC).isoformat()
    assert (await titles(since=two_hours_ago))[0] == ["t2"]
    assert (await titles(until=two_hours_ago))[0] == ["t1"]


async def test_a_cursor_of_one_profile_does_not_page_another(client: GraphQLClient) -> None:
    await seed(client.gateway)
    query = """query ($id: ID!, $after: String) {
      _entities(representations: [{__typename: "Profile", id: $id}]) {
        ... on Profile { viewingHistory(first: 1, after: $after) { pageInfo { endCursor } } } } }"""
    data = await client.data(query, {"id": "pa"})
    cursor = data["_entities"][0]["viewingHistory"]["pageInfo"]["endCursor"]
    errors = await client.errors(query, {"id": "pb", "after": cursor})
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]


async def test_malformed_representations_are_the_clients_error(client: GraphQLClient) -> None:
    reps = [
        {"__typename": "Profile", "id": "pa"},
        {"__typename": "Nope", "id": "x"},
        {"__typename": "Profile"},
        {"id": "x"},
        {"__typename": "Title", "id": "t1", "extra": 1},
    ]
    response = await client.post(
        "query ($r: [_Any!]!) { _entities(representations: $r) { ... on Profile { id } } }",
        {"r": reps},
    )
    body = response.json()
    assert body["data"]["_entities"] == [{"id": "pa"}, None, None, None, None]
    assert sorted((e["path"][1], e["extensions"]["code"]) for e in body["errors"]) == [
        (1, "BAD_USER_INPUT"), (2, "BAD_USER_INPUT"), (3, "BAD_USER_INPUT"),
        (4, "BAD_USER_INPUT"),
    ]
