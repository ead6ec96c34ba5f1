"""GraphQL over HTTP: a client's malformed request is a 4xx with a coded JSON body, never a 500,
and request errors answer by the response media type, as the specification says."""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest

from subgraph.limits import Limits

from .conftest import GraphQLClient

COUNTER = '{ counter(namespace: "page_views", name: "x") { count } }'
GRAPHQL_RESPONSE = "application/graphql-response+json"
PREFLIGHT = {"apollo-require-preflight": "true"}


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


@pytest.mark.parametrize(("content_type", "headers"), [
    ("text/plain", PREFLIGHT),
    ("application/x-www-form-urlencoded", {"x-apollo-operation-name": "Q"}),
    ("application/json; charset=latin-1", {}),
    ("application/xml", {}),
    ("", {}),  # does not parse as a media type, so a browser would have asked first
    ("text /plain", {}),
])
async def test_a_preflighted_body_of_another_media_type_is_415(
    client: GraphQLClient, content_type: str, headers: dict[str, str]
) -> None:
    status, body = await post_raw(client, json.dumps({"query": COUNTER}).encode(),
                                  {"content-type": content_type, **headers})
    assert (status, code(body)) == (415, "UNSUPPORTED_MEDIA_TYPE")


def assert_csrf_refusal(response: httpx.Response) -> None:
    assert response.status_code == 400
    assert response.headers["content-type"] in ("application/json", GRAPHQL_RESPONSE)
    body = response.json()
    assert code(body) == "BAD_REQUEST"
    assert "cross-site request forgery" in body["errors"][0]["message"]
    assert "Apollo-Require-Preflight: true" in body["errors"][0]["message"]


@pytest.mark.parametrize("content_type", [
    "text/plain", "text/plain; charset=utf-8", "TEXT/Plain", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", None,
])
async def test_a_post_a_browser_sends_cross_site_unasked_is_refused_as_csrf(
    client: GraphQLClient, content_type: str | None
) -> None:
    mutation = ('mutation { addCount(input: {namespace: "page_views", name: "csrf", '
                'idempotencyKey: "csrf"}) { count } }')
    headers = {} if content_type is None else {"content-type": content_type}
    for empty in ({}, {"apollo-require-preflight": ""}, {"x-apollo-operation-name": " "}):
        response = await client.http.post("/graphql", content=json.dumps({"query": mutation}),
                                          headers={**headers, **empty})
        if content_type is None:
            assert "content-type" not in response.request.headers
        assert_csrf_refusal(response)
    assert await client.data('{ counter(namespace: "page_views", name: "csrf") { count } }') \
        == {"counter": {"count": "0"}}


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
async def test_a_get_without_a_preflight_header_is_refused_as_csrf(
    client: GraphQLClient, accept: str
) -> None:
    before = client.gateway.calls.snapshot()
    for headers in ({}, {"content-type": "text/plain"}, {"apollo-require-preflight": ""}):
        response = await client.http.get("/graphql", params={"query": COUNTER},
                                         headers={"accept": accept, **headers})
        assert_csrf_refusal(response)
        assert response.headers["content-type"] == accept
    assert client.gateway.calls.snapshot() == before


@pytest.mark.parametrize("headers", [
    PREFLIGHT, {"apollo-require-preflight": "1"}, {"x-apollo-operation-name": "Q"},
    {"content-type": "application/json"},  # what Apollo Client sends on GET
])
async def test_a_preflighted_get_is_served(client: GraphQLClient, headers: dict[str, str]) -> None:
    response = await client.http.get("/graphql", params={"query": COUNTER}, headers=headers)
    assert response.json() == {"data": {"counter": {"count": "0"}}}


async def test_the_graphiql_page_needs_no_preflight_header(client: GraphQLClient) -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = await client.http.get("/graphql", headers={"accept": browser})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    # With a `query`, the same navigation would run an operation: it needs the header.
    response = await client.http.get("/graphql", params={"query": COUNTER},
                                     headers={"accept": browser})
    assert_csrf_refusal(response)


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


async def test_variables_that_do_not_coerce_are_a_request_error_by_media_type(
    client: GraphQLClient,
) -> None:
    query = 'query ($n: [String!]!) { counters(namespace: "page_views", names: $n) { count } }'
    for variables in ({"n": [1, None]}, {}, {"n": {"a": 1}}):
        for accept, status in (("application/json", 200), (GRAPHQL_RESPONSE, 400)):
            response = await client.http.post(
                "/graphql", json={"query": query, "variables": variables},
                headers={"accept": accept},
            )
            assert (response.status_code, response.headers["content-type"]) == (status, accept)
            body = response.json()
            assert "data" not in body, body
            assert code(body) == "BAD_USER_INPUT"


@pytest.mark.parametrize(("accept", "expected"), [
    (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
    (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
    (f"application/json, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
    (f"application/json, {GRAPHQL_RESPONSE};q=0.5", "application/json"),
    ("application/json", "application/json"),
    ("*/*", "application/json"),
    (None, "application/json"),  # older clients: no Accept header at all
])
async def test_a_success_answers_in_the_media_type_the_client_prefers(
    client: GraphQLClient, accept: str | None, expected: str
) -> None:
    request = client.http.build_request("POST", "/graphql", json={"query": COUNTER})
    if accept is None:
        del request.headers["accept"]  # httpx sends */* by default
    else:
        request.headers["accept"] = accept
    response = await client.http.send(request)
    assert (response.status_code, response.headers["content-type"]) == (200, expected)
    assert response.json() == {"data": {"counter": {"count": "0"}}}


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
async def test_transport_errors_answer_in_json_never_plain_text(
    client: GraphQLClient, accept: str
) -> None:
    json_headers = {"content-type": "application/json", "accept": accept}
    responses = {
        "bad json": await client.http.post("/graphql", content=b"{", headers=json_headers),
        "no query": await client.http.post("/graphql", content=b"{}", headers=json_headers),
        "wrong content type": await client.http.post(
            "/graphql", content=json.dumps({"query": COUNTER}),
            headers={"content-type": "application/xml", "accept": accept}),
        "get without query": await client.http.get(
            "/graphql", headers={"accept": accept, **PREFLIGHT}),
        "method": await client.http.put("/graphql", json={"query": COUNTER},
                                        headers={"accept": accept}),
    }
    statuses = {what: r.status_code for what, r in responses.items()}
    assert statuses == {"bad json": 400, "no query": 400, "wrong content type": 415,
                        "get without query": 400, "method": 405}
    for what, response in responses.items():
        assert response.headers["content-type"] == accept, what
        body = response.json()
        assert "data" not in body
        assert code(body) in ("BAD_REQUEST", "UNSUPPORTED_MEDIA_TYPE"), what


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
    response = await client.http.get("/graphql", params={"query": COUNTER}, headers=PREFLIGHT)
    assert response.json() == {"data": {"counter": {"count": "0"}}}
    response = await client.http.get("/graphql", headers=PREFLIGHT, params={
        "query": 'mutation { clearCount(input: {namespace: "page_views", name: "x", '
                 'idempotencyKey: "k"}) { count } }'})
    assert response.status_code == 405
    assert code(response.json()) == "BAD_REQUEST"
    response = await client.http.get(
        "/graphql", params={"query": COUNTER, "variables": "[" * 5000}, headers=PREFLIGHT
    )
    assert response.status_code == 400
