"""Response bodies (orjson, `subgraph.http.encode_json`) hold the JSON value json.dumps gave."""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

import pytest
import strawberry

from abstractions.kv import Item
from abstractions.tokens import IdempotencyToken
from subgraph.http import encode_json

from .conftest import GraphQLClient

GRAPHQL_RESPONSE = "application/graphql-response+json"


class Text(str):
    pass


class Number(int):
    pass


class Real(float):
    pass


class Level(IntEnum):
    HIGH = 3


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


VALUES: dict[str, Any] = {
    "ascii, escapes and controls": ["plain", 'q"uo\\te', "\x00\x01\x1f\x7f", "tab\tnl\n",
                                    "</script>", "\u2028\u2029", ""],
    "unicode": ["caf\u00e9", "\u6f22\u5b57", "\u00ff\u0100\uffff", "\ufeffbom"],
    "beyond the BMP": ["\U0001f353", "\U0010ffff", "a\U0001d11eb"],
    "lone surrogates": ["\ud800", "x\udfffy", {"\ud83d": 1}],
    "floats": [0.0, -0.0, 0.1, 1.0, -1.5, 1e16, 1.5e-7, 5e-324, 2.2250738585072014e-308,
               1.7976931348623157e308, 123456789.12345678, 1 / 3, 2.0**53 + 2],
    "ints": [0, -1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1],
    "ints past 64 bits": [2**64, -(2**63) - 1, 10**30, -(10**40)],
    "literals": [True, False, None],
    "nested": {"data": {"a": [{"b": [1, {"c": None}]}, [], {}], "": {"": ""}}, "errors": []},
    "tuples": (1, ("a", ()), {"t": (None,)}),
    "keys that are not str": {1: "a", 2.5: "b", False: "c", None: "d", "s": "e"},
    "keys made the same": {1: "int", "1": "str"},
    "deep nesting": nested(300),
    "subclasses": [Text("t"), Number(7), Real(2.5), Level.HIGH,
                   OrderedDict(b=1, a=2), {"k": Text("v")}],
    "a response": {"data": {"_entities": [{"id": "p\u00e9", "n": 2**31 - 1, "f": 0.5}]},
                   "errors": [{"message": "m", "path": ["a", 0], "extensions": {"code": "X"}}]},
}


def canonical(body: bytes | str) -> str:
    """The JSON value of `body`, written one way (floats by repr: -0.0 differs from 0.0)."""
    return json.dumps(json.loads(body))


@pytest.mark.parametrize("value", list(VALUES.values()), ids=list(VALUES))
def test_a_body_holds_the_value_json_dumps_gave(value: Any) -> None:
    body = encode_json(value)
    assert isinstance(body, bytes)
    body.decode("utf-8")  # valid UTF-8 (lone surrogates stay escapes)
    assert canonical(body) == canonical(json.dumps(value, separators=(",", ":")))


@pytest.mark.parametrize("value", [
    {"when": datetime(2026, 1, 1, tzinfo=UTC)}, [object()], {1j: 1}, {"s": {1, 2}},
])
def test_what_json_dumps_refuses_is_still_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        json.dumps(value)
    with pytest.raises(TypeError):
        encode_json(value)


def test_a_dataclass_is_refused_as_json_dumps_refuses_it() -> None:
    @dataclass
    class Point:
        x: int

    with pytest.raises(TypeError):
        encode_json({"p": Point(1)})


def test_graphql_never_serialises_a_float_that_is_not_finite() -> None:
    """Where the encoders differ (orjson: null; json.dumps: the invalid `NaN`), no response
    goes: graphql-core refuses such a Float with an error."""

    @strawberry.type
    class Query:
        @strawberry.field
        def ratio(self) -> float | None:
            return math.nan

        @strawberry.field
        def big(self) -> float | None:
            return math.inf

    result = strawberry.Schema(Query).execute_sync("{ ratio big }")
    assert result.data == {"ratio": None, "big": None}
    assert result.errors is not None and len(result.errors) == 2


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
async def test_responses_of_both_media_types_are_utf8_json_with_the_values(
    client: GraphQLClient, accept: str
) -> None:
    text = "caf\u00e9 \U0001f353"
    await client.gateway.kv.put_items(
        "profile_settings", "r\u00e9", [Item(text.encode(), text.encode())],
        IdempotencyToken.new(),
    )
    query = 'query ($id: ID!) { kvRecord(namespace: "profile_settings", id: $id) ' \
        "{ id items { edges { node { key text } } } } }"
    response = await client.http.post(
        "/graphql", json={"query": query, "variables": {"id": "r\u00e9"}},
        headers={"accept": accept},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(accept)
    assert text.encode() in response.content  # UTF-8, not \\u escapes
    record = json.loads(response.content)["data"]["kvRecord"]
    assert record == {"id": "r\u00e9", "items": {"edges": [{"node": {"key": text, "text": text}}]}}
    refused = await client.http.post(
        "/graphql", json={"query": "{ nope \u00e9 }"}, headers={"accept": accept}
    )
    assert refused.status_code == (400 if accept == GRAPHQL_RESPONSE else 200)
    assert "data" not in json.loads(refused.content)
