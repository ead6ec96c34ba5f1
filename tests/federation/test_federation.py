"""The subgraph composes with Apollo's composition and serves through a real Apollo Gateway."""

from __future__ import annotations

import time

import pytest

from subgraph.schema import export_sdl
from tests.federation.harness import compose, post_graphql, run_gateway

pytestmark = pytest.mark.federation

RECORD = """
mutation Record($input: RecordPlaybackInput!) {
  recordPlayback(input: $input) {
    event { id title { id } positionSeconds }
    profilePlayCount { count mode }
    titlePlayCount { count mode }
  }
}
"""

ACROSS = """
{
  profile(id: "p2") {
    id
    name
    playCount { count mode }
    viewingHistory(first: 5) {
      edges { node { startedAt positionSeconds device title { id name playCount { count } } } }
      pageInfo { hasNextPage }
    }
  }
}
"""


def test_schema_composes_with_the_profiles_and_titles_subgraphs(node_tooling: None) -> None:
    result = compose(export_sdl())
    assert result.ok, result.errors
    assert "join__type(graph: DATAGATEWAY, key: \"id\")" in result.supergraph_sdl
    # The access rules reach the supergraph, for a router with authorization enabled.
    assert '@link(url: "https://specs.apollo.dev/requiresScopes/v0.1", for: SECURITY)' \
        in result.supergraph_sdl
    assert '@requiresScopes(scopes: [["gateway:admin"], ["profile_settings:read"]])' \
        in result.supergraph_sdl


def test_a_conflicting_schema_does_not_compose(node_tooling: None) -> None:
    broken = export_sdl().replace(
        '"""The title\'s id."""\n  id: ID!', '"""The title\'s id."""\n  id: ID!\n  name: Int!'
    )
    assert broken != export_sdl()
    assert not compose(broken).ok


def test_gateway_query_reaches_viewing_history_and_play_counts(
    node_tooling: None, subgraph_url: str
) -> None:
    with run_gateway(subgraph_url) as gateway:
        variables = {"input": {
            "profileId": "p2", "titleId": "t3", "positionSeconds": 1800,
            "durationSeconds": 2400, "device": "tv", "idempotencyKey": "fed-test-1",
        }}
        recorded = post_graphql(gateway, RECORD, variables)
        assert "errors" not in recorded, recorded
        payload = recorded["data"]["recordPlayback"]
        assert payload["profilePlayCount"] == {"count": "1", "mode": "ACCURATE"}
        assert payload["event"]["title"] == {"id": "t3"}

        again = post_graphql(gateway, RECORD, variables)
        assert again["data"]["recordPlayback"]["event"]["id"] == payload["event"]["id"]

        deadline = time.monotonic() + 10
        while True:
            answer = post_graphql(gateway, ACROSS)
            assert "errors" not in answer, answer
            profile = answer["data"]["profile"]
            edges = profile["viewingHistory"]["edges"]
            title_count = edges[0]["node"]["title"]["playCount"]["count"] if edges else None
            if title_count == "1" or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    assert profile["name"] == "Grace"  # from the profiles subgraph
    assert profile["playCount"] == {"count": "1", "mode": "ACCURATE"}  # retried once, counted once
    assert len(edges) == 1
    node = edges[0]["node"]
    assert node["positionSeconds"] == 1800
    assert node["device"] == "tv"
    assert node["title"]["id"] == "t3"
    assert node["title"]["name"] == "Casablanca"  # from the titles subgraph
    assert node["title"]["playCount"] == {"count": "1"}  # eventual, after its rollup
