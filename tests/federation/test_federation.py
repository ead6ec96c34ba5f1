"""The subgraph composes with Apollo's composition and serves through a real Apollo Gateway."""

from __future__ import annotations

import json
import time

import pytest

from subgraph.schema import export_sdl
from tests.federation.conftest import SEARCHING, Subgraph
from tests.federation.harness import (
    GatewayStartError,
    SubgraphTls,
    compose,
    post_graphql,
    run_gateway,
)

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


PAY = """
mutation Pay($input: PayInvoiceInput!) {
  payInvoice(input: $input) { invoice { id status paidCents } payment { amountCents } }
}
"""

SEED_INVOICE = """
mutation Seed($ops: [RowOperation!]!) {
  transact(namespace: "billing", operations: $ops, idempotencyKey: "fed-seed") { replayed }
}
"""

ACCOUNT = """
{
  account(id: "a1") {
    holder
    balanceCents
    invoices(first: 5) { edges { node { id amountCents paidCents status } } }
  }
}
"""


def test_gateway_joins_accounts_with_their_invoices_and_balance(
    node_tooling: None, subgraph: Subgraph
) -> None:
    admin = subgraph.auth(scope="gateway:admin")
    with run_gateway(subgraph.url, tls=subgraph.tls) as gateway:
        seeded = post_graphql(gateway, SEED_INVOICE, {"ops": [{
            "op": "INSERT", "table": "invoices", "values": {
                "account_id": "a1", "invoice_id": "i1", "amount_cents": 1500, "paid_cents": 0,
                "currency": "EUR", "status": "open", "issued_at": "2026-05-01T00:00:00Z"}}]},
            headers=admin)
        assert "errors" not in seeded, seeded
        paid = post_graphql(gateway, PAY, {"input": {
            "accountId": "a1", "invoiceId": "i1", "amountCents": "500",
            "idempotencyKey": "fed-pay-1"}}, headers=admin)
        assert "errors" not in paid, paid
        assert paid["data"]["payInvoice"]["invoice"]["paidCents"] == "500"
        answer = post_graphql(gateway, ACCOUNT, headers=admin)
    assert "errors" not in answer, answer
    account = answer["data"]["account"]
    assert account["holder"] == "Ada"  # from the accounts subgraph
    assert account["balanceCents"] == "1000"
    assert account["invoices"]["edges"] == [{"node": {
        "id": "i1", "amountCents": "1500", "paidCents": "500", "status": "OPEN"}}]


def test_a_conflicting_schema_does_not_compose(node_tooling: None) -> None:
    broken = export_sdl().replace(
        '"""The title\'s id."""\n  id: ID!', '"""The title\'s id."""\n  id: ID!\n  name: Int!'
    )
    assert broken != export_sdl()
    assert not compose(broken).ok


def test_gateway_query_reaches_viewing_history_and_play_counts(
    node_tooling: None, subgraph: Subgraph
) -> None:
    owner = subgraph.auth(profile_ids=["p2"], scope=None)  # a viewer's token, no scopes
    with run_gateway(subgraph.url, tls=subgraph.tls) as gateway:
        variables = {"input": {
            "profileId": "p2", "titleId": "t3", "positionSeconds": 1800,
            "durationSeconds": 2400, "device": "tv", "idempotencyKey": "fed-test-1",
        }}
        recorded = post_graphql(gateway, RECORD, variables, headers=owner)
        assert "errors" not in recorded, recorded
        payload = recorded["data"]["recordPlayback"]
        assert payload["profilePlayCount"] == {"count": "1", "mode": "ACCURATE"}
        assert payload["event"]["title"] == {"id": "t3"}

        again = post_graphql(gateway, RECORD, variables, headers=owner)
        assert again["data"]["recordPlayback"]["event"]["id"] == payload["event"]["id"]

        deadline = time.monotonic() + 10
        while True:
            answer = post_graphql(gateway, ACROSS, headers=owner)
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


def test_gateway_forwards_the_callers_authorization_header(
    node_tooling: None, subgraph: Subgraph
) -> None:
    """Each subgraph sees the caller's credentials; the profiles stand-in echoes what it got
    (every subgraph, ours included, is called through the same data source)."""
    query = '{ forwardedAuthorization profile(id: "p1") { name playCount { count } } }'
    headers = subgraph.auth(profile_ids=["p1"], scope=None) or {
        "Authorization": "Bearer fed-token"}
    with run_gateway(subgraph.url, tls=subgraph.tls) as gateway:
        sent = post_graphql(gateway, query, headers=headers)
        bare = post_graphql(gateway, query)
    assert "errors" not in sent, sent
    assert sent["data"]["forwardedAuthorization"] == headers["Authorization"]
    assert sent["data"]["profile"] == {"name": "Ada", "playCount": {"count": "0"}}
    assert bare["data"]["forwardedAuthorization"] is None


@pytest.mark.parametrize("subgraph", ["sqlite-mtls"], indirect=True)
def test_the_subgraph_decides_access_for_the_token_the_gateway_forwards(
    node_tooling: None, subgraph: Subgraph
) -> None:
    """Through the gateway: another profile's data is FORBIDDEN (the rest of the answer
    intact), no token is refused by the subgraph (401), an admin sees everything."""
    query = '{ profile(id: "p1") { name playCount { count } } }'
    with run_gateway(subgraph.url, tls=subgraph.tls) as gateway:
        other = post_graphql(gateway, query, headers=subgraph.auth(profile_ids=["p9"], scope=None))
        bare = post_graphql(gateway, query)
        admin = post_graphql(gateway, query, headers=subgraph.auth(scope="gateway:admin"))
    assert other["data"]["profile"] == {"name": "Ada", "playCount": None}
    assert [e["extensions"]["code"] for e in other["errors"]] == ["FORBIDDEN"]
    assert bare["data"]["profile"]["playCount"] is None
    assert "401" in json.dumps(bare["errors"]) or "UNAUTHENTICATED" in json.dumps(bare["errors"])
    assert "errors" not in admin, admin
    assert admin["data"]["profile"] == {"name": "Ada", "playCount": {"count": "0"}}


@pytest.mark.parametrize("subgraph", ["sqlite-mtls"], indirect=True)
def test_a_gateway_without_the_client_certificate_cannot_reach_the_subgraph(
    node_tooling: None, subgraph: Subgraph
) -> None:
    assert subgraph.tls is not None
    with pytest.raises(GatewayStartError, match="cannot reach"), \
            run_gateway(subgraph.url, timeout=10, tls=SubgraphTls(ca=subgraph.tls.ca)):
        pass


SEARCH = """
query Search($title: String!) {
  searchEvents(namespace: "viewing_history", first: 5,
               query: {conditions: [{key: "title_id", op: EQ, text: $title}]}) {
    edges { node { seriesId items { key text } } }
  }
  distinctValues(namespace: "viewing_history", key: "device",
                 query: {conditions: [{key: "title_id", op: EQ, text: $title}]}) { text count }
}
"""


@pytest.mark.parametrize("subgraph", SEARCHING, indirect=True)
def test_gateway_searches_viewing_history_through_the_subgraphs_index(
    node_tooling: None, subgraph: Subgraph
) -> None:
    """searchEvents and distinctValues through the gateway: answered by SQLite itself, or by
    the Elasticsearch index the subgraph writes every event into."""
    with run_gateway(subgraph.url, tls=subgraph.tls) as gateway:
        for profile, device in (("p3", "phone"), ("p4", "tv"), ("p4", "tv")):
            recorded = post_graphql(gateway, RECORD, {"input": {
                "profileId": profile, "titleId": "t-searched", "positionSeconds": 60,
                "durationSeconds": 600, "device": device,
                "idempotencyKey": f"fed-search-{profile}-{time.monotonic_ns()}",
            }})
            assert "errors" not in recorded, recorded
        deadline = time.monotonic() + 10  # the index refreshes every second
        while True:
            answer = post_graphql(gateway, SEARCH, {"title": "t-searched"})
            assert "errors" not in answer, answer
            edges = answer["data"]["searchEvents"]["edges"]
            if len(edges) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    assert sorted(e["node"]["seriesId"] for e in edges) == ["p3", "p4", "p4"]
    assert all({"key": "title_id", "text": "t-searched"} in e["node"]["items"] for e in edges)
    assert answer["data"]["distinctValues"] == [{"text": "tv", "count": 2},
                                                {"text": "phone", "count": 1}]
