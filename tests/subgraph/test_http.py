"""GraphQL over HTTP: a client's malformed request is a 4xx with a coded JSON body, never a 500,
and request errors answer by the response media type, as the specification says."""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator

import pytest

from subgraph.limits import Limits

from .conftest import GraphQLClient

COUNTER = '{ counter(namespace: "page_views", name: "x") { count } }'
GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture
def limits() -> Limits:
    return Limits(max_body_bytes=10_000, max_document_bytes=2_000, max_variable_values=100,
                  max_variable_depth=8)


async def post_raw(
    client: GraphQLClient, content: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict]:
    response = await client.http.post(
        "/graphql", content=content, headers={"content-type": "application/json", **(headers or {})}
    )
    assert response.headers["content-type"].startswith("application/")
    body = response.json()
    for error in body.get("errors", []):
        assert error["extensions"]["code"], error
        assert "Traceback" not in error["message"]
    return response.status_code, body


def code(body: dict) -> str:
    return body["errors"][0]["extensions"]["code"]


@pytest.mark.parametrize("content", [b"42", b'"hi"', b"null", b"true", b"1.5", b"[]",
                                     b'[{"query": "{ __typename }"}]'])
async def test_json_that_is_not_one_object_is_400_bad_request(
    client: GraphQLClient, content: bytes
) -> None:
    status, body = await post_raw(client, content)
    assert (status, code(body)) == (400, "BAD_REQUEST")


@pytest.mark.parametrize("content", [
    b'{"query": "{ __typename }\xff"}',          # invalid byte
    b'{"query": "\xc0\xaf"}',                     # overlong encoding of "/"
    b'{"query": "\xe2\x82"}',                     # truncated sequence
    '{"query": "{ caf\xe9 }"}'.encode("latin-1"),  # latin-1 text
    b'{"query": "\xed\xa0\x80"}',                 # an encoded surrogate
    '{"query": "{ __typename }"}'.encode("utf-16"),
])
async def test_a_body_that_is_not_utf8_is_400_bad_request(
    client: GraphQLClient, content: bytes
) -> None:
    status, body = await post_raw(client, content)
    assert (status, code(body)) == (400, "BAD_REQUEST")


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "x-custom"])
async def test_a_compressed_body_is_refused_with_415_not_decoded_as_text(
    client: GraphQLClient, encoding: str
) -> None:
    compressed = zlib.compress(json.dumps({"query": COUNTER}).encode())
    status, body = await post_raw(client, compressed, {"content-encoding": encoding})
    assert (status, code(body)) == (415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "application/json; charset=latin-1", "application/xml"])
async def test_a_body_of_another_media_type_is_415(
    client: GraphQLClient, content_type: str
) -> None:
    status, body = await post_raw(client, json.dumps({"query": COUNTER}).encode(),
                                  {"content-type": content_type})
    assert (status, code(body)) == (415, "UNSUPPORTED_MEDIA_TYPE")


async def test_json_nested_100000_levels_is_400_not_a_recursion_error(
    client: GraphQLClient,
) -> None:
    status, body = await post_raw(client, b"[" * 100_000 + b"]" * 100_000)
    # Refused for its size (the limit here is 10 kB) or its depth, never a 500.
    assert status in (400, 413) and code(body) in ("BAD_REQUEST", "PAYLOAD_TOO_LARGE")
    status, body = await post_raw(client, b'{"query": ' + b"[" * 4000 + b"]" * 4000 + b"}")
    assert (status, code(body)) == (400, "BAD_REQUEST")


async def test_a_body_over_the_limit_is_413_by_its_length_or_as_it_streams(
    client: GraphQLClient,
) -> None:
    big = json.dumps({"query": COUNTER, "variables": {"x": "a" * 20_000}}).encode()
    status, body = await post_raw(client, big)
    assert (status, code(body)) == (413, "PAYLOAD_TOO_LARGE")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: refused while streaming
        for _ in range(100):
            yield b" " * 1000

    response = await client.http.post("/graphql", content=chunks(),
                                      headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert code(response.json()) == "PAYLOAD_TOO_LARGE"


async def test_a_document_over_its_own_limit_is_413(client: GraphQLClient) -> None:
    query = "{ __typename " + "#" * 3000 + "\n}"
    status, body = await post_raw(client, json.dumps({"query": query}).encode())
    assert (status, code(body)) == (413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("request_body", [
    {"variables": {}},
    {"query": None},
    {"query": ""},
    {"query": 42},
    {"query": COUNTER, "variables": "x"},
    {"query": COUNTER, "variables": [1]},
    {"query": COUNTER, "operationName": 5},
    {"query": COUNTER, "extensions": "x"},
])
async def test_request_parameters_of_the_wrong_type_are_400(
    client: GraphQLClient, request_body: dict
) -> None:
    status, body = await post_raw(client, json.dumps(request_body).encode())
    assert (status, code(body)) == (400, "BAD_REQUEST")


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1" * 5000])
async def test_numbers_json_does_not_have_are_400(client: GraphQLClient, text: str) -> None:
    status, body = await post_raw(
        client, ('{"query": "{ __typename }", "variables": {"x": ' + text + "}}").encode()
    )
    assert (status, code(body)) == (400, "BAD_REQUEST")


async def test_other_methods_are_405_with_a_json_body(client: GraphQLClient) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        response = await client.http.request(method, "/graphql", json={"query": COUNTER})
        assert response.status_code == 405
        assert code(response.json()) == "BAD_REQUEST"


async def test_request_errors_have_no_data_and_answer_by_media_type(
    client: GraphQLClient,
) -> None:
    documents = {
        "{ counter(": "GRAPHQL_PARSE_FAILED",
        "{ nope }": "GRAPHQL_VALIDATION_FAILED",
        "query A { namespaces { name } } query B { namespaces { name } }":
            "OPERATION_RESOLUTION_FAILURE",
    }
    for document, expected in documents.items():
        for accept, status in (("application/json", 200), (GRAPHQL_RESPONSE, 400)):
            response = await client.http.post("/graphql", json={"query": document},
                                              headers={"accept": accept})
            assert response.status_code == status, document
            assert response.headers["content-type"] == accept
            body = response.json()
            assert "data" not in body
            assert code(body) == expected
    # A field error is a response with data: 200 under either media type.
    response = await client.http.post(
        "/graphql", json={"query": '{ counter(namespace: "nope", name: "x") { count } }'},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 200
    assert "data" in response.json()


async def test_two_named_operations_without_operation_name_are_an_error(
    client: GraphQLClient,
) -> None:
    document = ('query A { counter(namespace: "page_views", name: "a") { count } } '
                'mutation B { clearCount(input: {namespace: "page_views", name: "a", '
                'idempotencyKey: "k"}) { count } }')
    before = client.gateway.calls.snapshot()
    status, body = await post_raw(client, json.dumps({"query": document}).encode())
    assert (status, code(body)) == (200, "OPERATION_RESOLUTION_FAILURE")
    assert client.gateway.calls.snapshot() == before
    response = await client.http.post("/graphql", json={"query": document, "operationName": "A"})
    assert response.json() == {"data": {"counter": {"count": "0"}}}


@pytest.mark.parametrize("where", ["query", "operationName", "variable", "variable key",
                                   "extensions"])
async def test_a_lone_surrogate_anywhere_in_the_request_is_bad_user_input(
    client: GraphQLClient, where: str
) -> None:
    query = "query Q($n: String!) { counter(namespace: \"page_views\", name: $n) { count } }"
    request: dict = {"query": query, "variables": {"n": "x"}, "operationName": "Q"}
    if where == "query":
        request["query"] = query.replace("page_views", "page_views\ud800")
    elif where == "operationName":
        request["operationName"] = "Q\udfff"
    elif where == "variable":
        request["variables"] = {"n": "a\ud800b"}
    elif where == "variable key":
        request["variables"] = {"n": "x", "\ud800": 1}
    else:
        request["extensions"] = {"trace": ["\udc00"]}
    content = json.dumps(request).encode()  # ensure_ascii: the surrogate travels as \\udXXX
    assert b"\\ud" in content
    status, body = await post_raw(client, content)
    assert (status, code(body)) == (200, "BAD_USER_INPUT")
    assert "data" not in body


async def test_variables_too_many_or_too_deep_are_refused_before_coercion(
    client: GraphQLClient,
) -> None:
    query = 'query ($n: [String!]!) { counters(namespace: "page_views", names: $n) { count } }'
    status, body = await post_raw(
        client, json.dumps({"query": query, "variables": {"n": ["a"] * 500}}).encode()
    )
    assert (status, code(body)) == (200, "BAD_USER_INPUT")
    deep: object = "a"
    for _ in range(20):
        deep = [deep]
    status, body = await post_raw(
        client, json.dumps({"query": query, "variables": {"n": deep}}).encode()
    )
    assert (status, code(body)) == (200, "BAD_USER_INPUT")


async def test_get_serves_queries_and_refuses_mutations_with_405(client: GraphQLClient) -> None:
    response = await client.http.get("/graphql", params={"query": COUNTER})
    assert response.json() == {"data": {"counter": {"count": "0"}}}
    response = await client.http.get("/graphql", params={
        "query": 'mutation { clearCount(input: {namespace: "page_views", name: "x", '
                 'idempotencyKey: "k"}) { count } }'})
    assert response.status_code == 405
    assert code(response.json()) == "BAD_REQUEST"
    response = await client.http.get(
        "/graphql", params={"query": COUNTER, "variables": "[" * 5000}
    )
    assert response.status_code == 400
