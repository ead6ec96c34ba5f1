"""Generic KV fields: kvRecord items (paging, keys, range, order, text and base64), putItems,
deleteItems."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from .conftest import GraphQLClient, attempt_recorded

PUT = """
mutation ($input: PutItemsInput!) { putItems(input: $input) { namespace id } }
"""
DELETE = """
mutation ($input: DeleteItemsInput!) { deleteItems(input: $input) { id } }
"""
ITEMS = """
query ($id: ID!, $first: Int!, $after: String, $keys: [String!], $start: String, $end: String,
       $descending: Boolean!) {
  kvRecord(namespace: "profile_settings", id: $id) {
    items(first: $first, after: $after, keys: $keys, start: $start, end: $end,
          descending: $descending) {
      edges { cursor node { key value text ttlSeconds } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
LETTERS = ["a", "b", "c", "d", "e"]


async def put(client: GraphQLClient, id: str, items: list[dict[str, Any]], key: str) -> None:
    data = await client.data(PUT, {"input": {
        "namespace": "profile_settings", "id": id, "items": items, "idempotencyKey": key,
    }})
    assert data["putItems"] == {"namespace": "profile_settings", "id": id}


async def items(client: GraphQLClient, id: str = "r1", **args: Any) -> dict[str, Any]:
    variables = {"id": id, "first": 20, "descending": False, **args}
    return (await client.data(ITEMS, variables))["kvRecord"]["items"]


def keys_of(page: dict[str, Any]) -> list[str]:
    return [edge["node"]["key"] for edge in page["edges"]]


async def put_letters(client: GraphQLClient) -> None:
    await put(client, "r1", [{"key": k, "text": k.upper()} for k in LETTERS], "letters")


async def test_items_are_paged_in_key_order_by_following_end_cursor(
    client: GraphQLClient,
) -> None:
    await put_letters(client)
    pages: list[tuple[list[str], bool]] = []
    after = None
    while True:
        page = await items(client, first=2, after=after)
        pages.append((keys_of(page), page["pageInfo"]["hasNextPage"]))
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == [(["a", "b"], True), (["c", "d"], True), (["e"], False)]


async def test_items_filter_by_keys_by_range_and_in_descending_order(
    client: GraphQLClient,
) -> None:
    await put_letters(client)
    assert keys_of(await items(client, keys=["d", "b", "zz"])) == ["b", "d"]
    assert keys_of(await items(client, start="b", end="d")) == ["b", "c"]
    assert keys_of(await items(client, descending=True)) == ["e", "d", "c", "b", "a"]
    assert keys_of(await items(client, descending=True, first=2)) == ["e", "d"]


async def test_values_come_as_base64_with_text_only_when_utf8(client: GraphQLClient) -> None:
    binary = bytes([0xFF, 0x00, 0xFE])
    await put(client, "r2", [
        {"key": "greeting", "text": "héllo"},
        {"key": "blob", "value": base64.b64encode(binary).decode()},
        {"key": "short", "text": "x", "ttlSeconds": 3600},
    ], "mixed")
    nodes = {e["node"]["key"]: e["node"] for e in (await items(client, "r2"))["edges"]}
    assert nodes["greeting"] == {
        "key": "greeting", "value": base64.b64encode("héllo".encode()).decode(),
        "text": "héllo", "ttlSeconds": None,
    }
    assert nodes["blob"] == {
        "key": "blob", "value": "/wD+", "text": None, "ttlSeconds": None,
    }
    assert 3500 <= nodes["short"]["ttlSeconds"] <= 3600


async def test_put_items_needs_exactly_one_of_text_and_value(client: GraphQLClient) -> None:
    for bad, key in (({"key": "k", "text": "t", "value": "dA=="}, "both"), ({"key": "k"}, "none")):
        errors = await client.errors(PUT, {"input": {
            "namespace": "profile_settings", "id": "r3", "items": [bad], "idempotencyKey": key,
        }})
        assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    assert (await items(client, "r3"))["edges"] == []


async def test_put_items_rejects_a_value_that_is_not_base64(client: GraphQLClient) -> None:
    errors = await client.errors(PUT, {"input": {
        "namespace": "profile_settings", "id": "r3", "items": [{"key": "k", "value": "@@@"}],
        "idempotencyKey": "bad64",
    }})
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]


async def test_put_items_retried_with_the_same_key_does_not_overwrite_a_later_write(
    client: GraphQLClient,
) -> None:
    await put(client, "r4", [{"key": "lang", "text": "en"}], "first")
    await put(client, "r4", [{"key": "lang", "text": "fr"}], "second")
    await put(client, "r4", [{"key": "lang", "text": "en"}], "first")  # a late retry
    assert [e["node"]["text"] for e in (await items(client, "r4"))["edges"]] == ["fr"]


async def delete(client: GraphQLClient, key: str, **selection: Any) -> None:
    data = await client.data(DELETE, {"input": {
        "namespace": "profile_settings", "id": "r1", "idempotencyKey": key, **selection,
    }})
    assert data["deleteItems"] == {"id": "r1"}


async def test_delete_items_by_keys_then_by_range_then_the_whole_record(
    client: GraphQLClient,
) -> None:
    await put_letters(client)
    await delete(client, "del-keys", keys=["a", "e"])
    assert keys_of(await items(client)) == ["b", "c", "d"]
    await delete(client, "del-range", start="b", end="d")
    assert keys_of(await items(client)) == ["d"]
    await delete(client, "del-record")
    assert keys_of(await items(client)) == []


RECORD = "query ($ns: String!, $id: ID!) { kvRecord(namespace: $ns, id: $id) { %s } }"
SELECTIONS = {"id": "id", "namespace": "namespace", "items": "items { edges { cursor } }"}
UNREADABLE = {
    "unknown namespace": ("nope", "r1"),
    "counter namespace": ("page_views", "r1"),
    "time-series namespace": ("events_short", "r1"),
    "empty id": ("profile_settings", ""),
    "id over 512 characters": ("profile_settings", "x" * 513),
}


@pytest.mark.parametrize("record", UNREADABLE.values(), ids=UNREADABLE.keys())
@pytest.mark.parametrize("selection", SELECTIONS.values(), ids=SELECTIONS.keys())
async def test_kv_record_that_items_would_refuse_fails_whatever_it_selects(
    client: GraphQLClient, record: tuple[str, str], selection: str
) -> None:
    namespace, id = record
    body = await client.execute(RECORD % selection, {"ns": namespace, "id": id})
    assert body["data"] == {"kvRecord": None}
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (["kvRecord"], "BAD_USER_INPUT")
    ]


GOOD_ITEM = {"key": "ok", "text": "1"}
INVALID_PUTS = {
    "key over max_key_bytes": {"items": [GOOD_ITEM, {"key": "k" * 1025, "text": "2"}]},
    "key twice": {"items": [GOOD_ITEM, {"key": "ok", "text": "2"}]},
    "value not base64": {"items": [GOOD_ITEM, {"key": "b", "value": "@@@"}]},
    "text and value": {"items": [GOOD_ITEM, {"key": "b", "text": "x", "value": "eA=="}]},
    "ttl of 0": {"items": [GOOD_ITEM, {"key": "t", "text": "x", "ttlSeconds": 0}]},
    "no items": {"items": []},
    "empty id": {"id": ""},
    "unknown namespace": {"namespace": "nope"},
    "counter namespace": {"namespace": "page_views"},
}


@pytest.mark.parametrize("bad", INVALID_PUTS.values(), ids=INVALID_PUTS.keys())
async def test_an_invalid_put_writes_nothing_and_its_key_stays_free(
    client: GraphQLClient, bad: dict[str, Any]
) -> None:
    request = {"namespace": "profile_settings", "id": "r5", "items": [GOOD_ITEM],
               "idempotencyKey": "fix"}
    errors = await client.errors(PUT, {"input": {**request, **bad}})
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    assert (await items(client, "r5"))["edges"] == []
    assert not await attempt_recorded(client.gateway, "putItems", "fix")
    await put(client, "r5", [GOOD_ITEM], "fix")
    assert keys_of(await items(client, "r5")) == ["ok"]


INVALID_DELETES = {
    "keys and a range": {"keys": ["a"], "start": "b"},
    "no keys": {"keys": []},
    "key over max_key_bytes": {"keys": ["a", "k" * 1025]},
    "empty range": {"start": "d", "end": "b"},
    "empty id": {"id": ""},
    "unknown namespace": {"namespace": "nope"},
    "time-series namespace": {"namespace": "events_short"},
}


@pytest.mark.parametrize("bad", INVALID_DELETES.values(), ids=INVALID_DELETES.keys())
async def test_an_invalid_delete_deletes_nothing_and_its_key_stays_free(
    client: GraphQLClient, bad: dict[str, Any]
) -> None:
    await put_letters(client)
    request = {"namespace": "profile_settings", "id": "r1", "idempotencyKey": "fix"}
    errors = await client.errors(DELETE, {"input": {**request, **bad}})
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    assert keys_of(await items(client)) == LETTERS
    assert not await attempt_recorded(client.gateway, "deleteItems", "fix")
    await delete(client, "fix", keys=["a"])
    assert keys_of(await items(client)) == LETTERS[1:]
