"""Edge cursors and `pageInfo.endCursor` are signed only when a query selects them, and then
each is the token that resumes right after its edge."""

from __future__ import annotations

from typing import Any

import pytest

from abstractions.gateway import DataGateway
from abstractions.kv import Item
from abstractions.timeseries import Event
from abstractions.tokens import IdempotencyToken, PageTokens, now_micros

from .conftest import GraphQLClient

HOUR = 3600 * 1_000_000
HISTORY = """
query ($first: Int!, $after: String) {
  _entities(representations: [{__typename: "Profile", id: "p1"}]) {
    ... on Profile { viewingHistory(first: $first, after: $after) { %s } }
  }
}
"""
ITEMS = """
query ($first: Int!, $after: String) {
  kvRecord(namespace: "profile_settings", id: "r1") { items(first: $first, after: $after) { %s } }
}
"""
SERIES = """
query ($first: Int!, $after: String) {
  timeSeries(namespace: "viewing_history", id: "p1", first: $first, after: $after) { %s }
}
"""
NODES = "edges { node { id } }"
CURSORS = "edges { cursor node { id } }"
END = "edges { node { id } } pageInfo { hasNextPage endCursor }"


@pytest.fixture
def signed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token signed from now on."""
    made: list[str] = []
    encode = PageTokens.encode

    def counting(self: PageTokens, scope: str, state: dict[str, Any]) -> str:
        token = encode(self, scope, state)
        made.append(token)
        return token

    monkeypatch.setattr(PageTokens, "encode", counting)
    return made


async def seed(gateway: DataGateway) -> None:
    now = now_micros()
    await gateway.timeseries.write_events("viewing_history", [
        Event("p1", now - n * HOUR, f"e{n}", {"title_id": b"t1"}) for n in range(1, 6)
    ])
    await gateway.kv.put_items(
        "profile_settings", "r1", [Item(f"k{n}".encode(), b"v") for n in range(5)],
        IdempotencyToken.new(),
    )


def ask(document: str, selection: str) -> str:
    """`document` selecting `selection` (KV items have a `key` where events have an `id`)."""
    if document is ITEMS:
        selection = selection.replace("node { id }", "node { id: key }")
    return document % selection


def connection(data: dict[str, Any]) -> dict[str, Any]:
    if "_entities" in data:
        return data["_entities"][0]["viewingHistory"]
    if "kvRecord" in data:
        return data["kvRecord"]["items"]
    return data["timeSeries"]


@pytest.mark.parametrize("document", [HISTORY, ITEMS, SERIES], ids=["history", "kv", "series"])
async def test_cursors_are_signed_only_when_selected(
    client: GraphQLClient, signed: list[str], document: str
) -> None:
    await seed(client.gateway)
    signed.clear()
    await client.data(ask(document, NODES), {"first": 10})  # the whole page: no next-page token
    assert signed == []
    await client.data(ask(document, END), {"first": 10})
    assert len(signed) == 1
    signed.clear()
    data = await client.data(ask(document, CURSORS), {"first": 10})
    assert [e["cursor"] for e in connection(data)["edges"]] == signed
    assert len(signed) == 5


@pytest.mark.parametrize("document", [HISTORY, ITEMS, SERIES], ids=["history", "kv", "series"])
async def test_each_edge_cursor_resumes_after_its_edge(
    client: GraphQLClient, document: str
) -> None:
    await seed(client.gateway)
    whole = connection(await client.data(ask(document, CURSORS), {"first": 10}))["edges"]
    ids = [e["node"]["id"] for e in whole]
    for at, edge in enumerate(whole):
        rest = connection(await client.data(ask(document, NODES), {"first": 10,
                                                               "after": edge["cursor"]}))
        assert [e["node"]["id"] for e in rest["edges"]] == ids[at + 1:]
    first = connection(await client.data(ask(document, f"{CURSORS} {END}"), {"first": 2}))
    assert first["pageInfo"] == {"hasNextPage": True, "endCursor": first["edges"][1]["cursor"]}
    second = connection(await client.data(ask(document, NODES), {
        "first": 2, "after": first["pageInfo"]["endCursor"]}))  # a token binds its page size
    assert [e["node"]["id"] for e in second["edges"]] == ids[2:4]
