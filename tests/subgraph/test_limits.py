"""Document limits in linear time, demand control, the deadline and one log line per request."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest

from abstractions.gateway import DataGateway
from subgraph.limits import Limits
from subgraph.schema import export_sdl

from .conftest import GraphQLClient

COUNTER = 'counter(namespace: "page_views", name: "x") { count }'


@pytest.fixture
def limits() -> Limits:
    """The shipped defaults, with a short deadline."""
    return Limits(request_timeout=0.5)


def fragment_chain(n: int, leaf: str = COUNTER) -> str:
    """n fragments, each spreading the next three times: 3^(n-1) uses of the leaf."""
    fragments = [f"fragment F0 on Query {{ {leaf} }}"]
    fragments += [f"fragment F{i} on Query {{ ...F{i-1} ...F{i-1} ...F{i-1} }}"
                  for i in range(1, n)]
    return f"query {{ ...F{n - 1} }}\n" + "\n".join(fragments)


def codes(body: dict) -> list[str]:
    return [e["extensions"]["code"] for e in body["errors"]]


async def refused(client: GraphQLClient, query: str, variables: dict | None = None) -> dict:
    """The body of a request refused before anything was read."""
    before = client.gateway.calls.snapshot()
    response = await client.post(query, variables)
    assert response.status_code == 200, response.text
    assert client.gateway.calls.snapshot() == before
    body = response.json()
    assert "data" not in body
    return body


@pytest.mark.timeout(20)
async def test_a_chain_of_40_fragments_is_refused_at_once_not_walked_3_to_the_40(
    client: GraphQLClient,
) -> None:
    body = await refused(client, fragment_chain(40))
    assert codes(body) == ["COST_ESTIMATED_TOO_EXPENSIVE"]
    assert body["errors"][0]["extensions"]["cost"] == 3**39
    # Aliases inside count once per use: 3^13 of them, however few the document spells.
    body = await refused(client, fragment_chain(14, f"a: {COUNTER}"))
    assert "MAX_ALIASES_LIMIT" in codes(body)
    assert (await client.http.get("/healthz")).status_code == 200


async def test_depth_is_counted_through_fragments(client: GraphQLClient) -> None:
    def document(leaf: str) -> str:
        return f"""query {{ ...Q }}
        fragment Q on Query {{ _entities(representations: []) {{ ... on Profile {{ ...P1 }} }} }}
        fragment P1 on Profile {{ viewingHistory {{ edges {{ node {{ profile {{ ...P2 }} }} }} }} }}
        fragment P2 on Profile {{ viewingHistory {{ edges {{ node {{ profile {{ ...P3 }} }} }} }} }}
        fragment P3 on Profile {{ viewingHistory {{ edges {{ node {{ {leaf} }} }} }} }}"""

    assert await client.data(document("id")) == {"_entities": []}  # depth 12: the limit
    body = await refused(client, document("profile { id }"))
    assert codes(body) == ["MAX_DEPTH_LIMIT"]
    assert body["errors"][0]["extensions"]["depth"] == 13


async def test_an_undefined_fragment_and_an_empty_selection_are_coded_without_python_text(
    client: GraphQLClient,
) -> None:
    for document in ("{ ...Nope }", "{ }", "query { counter(namespace: \"a\", name: \"b\") { } }"):
        body = await refused(client, document)
        assert codes(body) and set(codes(body)) <= {"GRAPHQL_VALIDATION_FAILED",
                                                     "GRAPHQL_PARSE_FAILED"}, body
        text = json.dumps(body)
        assert "max()" not in text and "'Nope'" not in text.replace("fragment 'Nope'", "")


async def test_10000_representations_aliased_5_times_are_refused_with_one_log_line(
    client: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    fields = " ".join(f"e{i}: _entities(representations: $r) {{ ... on Profile {{ id }} }}"
                      for i in range(5))
    query = f"query ($r: [_Any!]!) {{ {fields} }}"
    for n, reason in ((10_000, "20000 values"), (2_000, "1000 representations")):
        reps = [{"__typename": "Profile", "id": f"p{i}"} for i in range(n)]
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            body = await refused(client, query, {"r": reps})
        assert codes(body) == ["BAD_USER_INPUT"]
        assert reason in body["errors"][0]["message"]
        mine = [r for r in caplog.records if r.name.startswith(("subgraph", "strawberry"))]
        assert len(mine) <= 1, [r.getMessage() for r in mine]
        assert not any(r.exc_info for r in mine)


async def test_100_profiles_with_100_events_each_are_refused_for_their_cost(
    client: GraphQLClient,
) -> None:
    query = """query ($r: [_Any!]!, $n: Int!) { _entities(representations: $r) {
      ... on Profile { viewingHistory(first: $n) { edges { node { id } } } } } }"""
    reps = [{"__typename": "Profile", "id": f"p{i}"} for i in range(100)]
    body = await refused(client, query, {"r": reps, "n": 100})
    assert codes(body) == ["COST_ESTIMATED_TOO_EXPENSIVE"]
    assert body["errors"][0]["extensions"] == {
        "code": "COST_ESTIMATED_TOO_EXPENSIVE", "cost": 100 * (1 + 1 + 100 * 2), "maxCost": 10_000,
    }
    # 20 events each, with their titles' play counts: 100 * (1 + 1 + 20 * 4) = 8200, allowed.
    small = query.replace("node { id }", "node { id title { playCount { count } } }")
    data = await client.data(small, {"r": reps, "n": 20})
    assert len(data["_entities"]) == 100


async def test_counters_cost_by_the_names_asked(client: GraphQLClient) -> None:
    query = 'query ($n: [String!]!) { counters(namespace: "page_views", names: $n) { count } }'
    assert len((await client.data(query, {"n": ["a"] * 500}))["counters"]) == 500
    aliased = "query ($n: [String!]!) { " + " ".join(
        f'c{i}: counters(namespace: "page_views", names: $n) {{ count }}' for i in range(25)
    ) + " }"
    body = await refused(client, aliased, {"n": ["a"] * 500})
    assert codes(body) == ["COST_ESTIMATED_TOO_EXPENSIVE"]


def test_the_sdl_publishes_list_sizes_and_costs_for_a_routers_demand_control() -> None:
    sdl = export_sdl()
    assert '"@cost"' in sdl and '"@listSize"' in sdl
    assert ('viewingHistory(' in sdl and
            '): PlaybackEventConnection @listSize(slicingArguments: ["first"], '
            'sizedFields: ["edges"]' in sdl)
    assert "@cost(weight: 10)" in sdl


async def test_a_request_past_its_deadline_is_answered_and_its_store_calls_cancelled(
    client: GraphQLClient, data_gateway: DataGateway, monkeypatch: pytest.MonkeyPatch,
) -> None:
    cancelled = asyncio.Event()

    async def hang(*args: object, **kwargs: object) -> dict:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return {}

    monkeypatch.setattr(data_gateway.counters, "get_many", hang)
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await client.post("{ counter(namespace: \"page_views\", name: \"x\") { count } }")
    assert loop.time() - started < 5
    body = response.json()
    assert response.status_code == 200
    assert body["data"] is None
    assert codes(body) == ["REQUEST_TIMEOUT"]
    await asyncio.wait_for(cancelled.wait(), 2)  # the loader's batch was cancelled too
    # Other requests are served as before.
    monkeypatch.undo()
    assert await client.data('{ namespaces { name } }')


async def test_client_errors_log_one_info_line_per_request_without_a_traceback(
    client: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    names = ["", *("x" * 300 for _ in range(50))]
    query = 'query ($n: [String!]!) { counters(namespace: "page_views", names: $n) { count } }'
    with caplog.at_level(logging.DEBUG):
        await client.errors(query, {"n": names})
        await client.errors('{ counter(namespace: "nope", name: "x") { count } }')
    mine = [r for r in caplog.records if r.name.startswith(("subgraph", "strawberry"))]
    assert len(mine) == 2, [r.getMessage() for r in mine]
    assert all(r.levelno == logging.INFO and not r.exc_info for r in mine)
    assert all("BAD_USER_INPUT" in r.getMessage() for r in mine)


async def test_a_body_that_trickles_in_past_the_deadline_is_408(client: GraphQLClient) -> None:
    async def slowly() -> AsyncIterator[bytes]:
        yield b'{"query": '
        await asyncio.sleep(2)
        yield b'"{ __typename }"}'

    response = await client.http.post("/graphql", content=slowly(),
                                      headers={"content-type": "application/json"})
    assert response.status_code == 408
    assert codes(response.json()) == ["REQUEST_TIMEOUT"]
