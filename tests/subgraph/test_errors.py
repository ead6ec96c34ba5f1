"""Every error carries `extensions.code`; internals are masked; limits stop a document early;
a bad request never gets HTTP 500."""

from __future__ import annotations

import base64
import logging

import pytest

from abstractions.gateway import DataGateway
from backends.base import StoreUnavailable
from subgraph.limits import Limits

from .conftest import GraphQLClient, SchemaRunner

COUNTER = '{ counter(namespace: "page_views", name: "x") { count } }'


@pytest.fixture
def limits() -> Limits:
    return Limits(max_depth=6, max_aliases=3, max_tokens=120, max_first=50)


def codes(errors: list[dict]) -> list[str]:
    return [e["extensions"]["code"] for e in errors]


async def test_unknown_namespace_is_bad_user_input(client: GraphQLClient) -> None:
    errors = await client.errors('{ counter(namespace: "nope", name: "x") { count } }')
    assert codes(errors) == ["BAD_USER_INPUT"]
    assert "nope" in errors[0]["message"]
    assert errors[0]["path"] == ["counter"]


async def test_namespace_of_another_abstraction_is_bad_user_input(
    client: GraphQLClient,
) -> None:
    errors = await client.errors(
        '{ kvRecord(namespace: "page_views", id: "r") { items { edges { cursor } } } }'
    )
    assert codes(errors) == ["BAD_USER_INPUT"]
    assert "counter namespace" in errors[0]["message"]


async def test_a_modified_page_cursor_is_bad_user_input(client: GraphQLClient) -> None:
    await client.data(
        'mutation { putItems(input: {namespace: "profile_settings", id: "r", idempotencyKey: "k",'
        ' items: [{key: "a", text: "1"}, {key: "b", text: "2"}]}) { id } }'
    )
    query = """query ($after: String) { kvRecord(namespace: "profile_settings", id: "r")
                 { items(first: 1, after: $after) { pageInfo { endCursor } } } }"""
    cursor = (await client.data(query))["kvRecord"]["items"]["pageInfo"]["endCursor"]
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[-3] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    assert tampered != cursor
    errors = await client.errors(query, {"after": tampered})
    assert codes(errors) == ["BAD_USER_INPUT"]
    errors = await client.errors(query, {"after": "not-a-cursor"})
    assert codes(errors) == ["BAD_USER_INPUT"]


async def test_first_above_the_maximum_is_bad_user_input(client: GraphQLClient) -> None:
    errors = await client.errors('{ timeSeries(namespace: "events_short", id: "s", first: 51) '
                                 "{ edges { cursor } } }")
    assert codes(errors) == ["BAD_USER_INPUT"]
    assert "50" in errors[0]["message"]
    errors = await client.errors('{ timeSeries(namespace: "events_short", id: "s", first: 0) '
                                 "{ edges { cursor } } }")
    assert codes(errors) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("value", ['"12x"', '"9223372036854775808"', "true", "1.5"])
async def test_an_invalid_long_literal_has_a_client_error_code(
    client: GraphQLClient, value: str
) -> None:
    errors = await client.errors(
        'mutation { addCount(input: {namespace: "page_views", name: "x", '
        f'delta: {value}, idempotencyKey: "k"}}) {{ count }} }}'
    )
    assert set(codes(errors)) <= {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}
    assert await client.gateway.counters.get("page_views", "x") == 0


@pytest.mark.parametrize("value", ["12x", "-9223372036854775809", True, 1.5, None])
async def test_an_invalid_long_variable_has_a_client_error_code(
    client: GraphQLClient, value: object
) -> None:
    errors = await client.errors(
        'mutation ($d: Long!) { addCount(input: {namespace: "page_views", name: "x", '
        'delta: $d, idempotencyKey: "k"}) { count } }',
        {"d": value},
    )
    assert set(codes(errors)) <= {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}


async def test_a_syntax_error_is_graphql_parse_failed(client: GraphQLClient) -> None:
    errors = await client.errors('{ counter(namespace: "page_views", name: "x") { count ')
    assert codes(errors) == ["GRAPHQL_PARSE_FAILED"]


async def test_an_unknown_field_is_graphql_validation_failed(client: GraphQLClient) -> None:
    errors = await client.errors('{ counter(namespace: "page_views", name: "x") { nope } }')
    assert codes(errors) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_errors_carry_codes_when_the_schema_runs_without_http(
    execute: SchemaRunner,
) -> None:
    documents = {
        "{ counter(": "GRAPHQL_PARSE_FAILED",
        "{ nope }": "GRAPHQL_VALIDATION_FAILED",
        '{ counter(namespace: "nope", name: "x") { count } }': "BAD_USER_INPUT",
    }
    for document, code in documents.items():
        result = await execute.execute(document)
        assert [e.extensions for e in result.errors or []] == [{"code": code}], document


async def rejected_before_execution(client: GraphQLClient, query: str) -> list[dict]:
    """The document's errors, after checking that nothing was read to answer it."""
    before = client.gateway.calls.snapshot()
    response = await client.post(query)
    assert response.status_code < 500
    body = response.json()
    assert body.get("data") is None
    assert client.gateway.calls.snapshot() == before
    assert body["errors"] and all(e["extensions"]["code"] for e in body["errors"])
    return body["errors"]


async def test_a_document_deeper_than_max_depth_is_not_executed(client: GraphQLClient) -> None:
    deep = """{ _entities(representations: [{__typename: "Profile", id: "p"}]) {
      ... on Profile { viewingHistory { edges { node { profile { viewingHistory {
        edges { node { id } } } } } } } } } }"""
    errors = await rejected_before_execution(client, deep)
    assert codes(errors) == ["MAX_DEPTH_LIMIT"]
    assert "depth" in errors[0]["message"]
    # One level less deep is fine.
    await client.data("""{ _entities(representations: [{__typename: "Profile", id: "p"}]) {
      ... on Profile { viewingHistory { edges { node { title { playCount { count } } } } } } } }""")


async def test_more_aliases_than_max_aliases_are_not_executed(client: GraphQLClient) -> None:
    fields = " ".join(f'a{i}: counter(namespace: "page_views", name: "x") {{ count }}'
                      for i in range(4))
    errors = await rejected_before_execution(client, "{ " + fields + " }")
    assert codes(errors) == ["MAX_ALIASES_LIMIT"]
    assert "aliases" in errors[0]["message"]


async def test_more_tokens_than_max_tokens_are_not_executed(client: GraphQLClient) -> None:
    query = '{ counter(namespace: "page_views", name: "x") { ' + "count " * 150 + "} }"
    errors = await rejected_before_execution(client, query)
    assert codes(errors) == ["GRAPHQL_PARSE_FAILED"]
    assert "tokens" in errors[0]["message"]


async def test_an_unexpected_exception_is_masked_with_a_request_id(
    client: GraphQLClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(client.gateway.counters, "get_many", broken)
    with caplog.at_level(logging.ERROR, logger="subgraph.errors"):
        response = await client.post(COUNTER)
    assert response.status_code == 200
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text
    [error] = response.json()["errors"]
    request_id = error["extensions"]["requestId"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["message"] == f"Internal server error (request id {request_id})"
    assert len(request_id) >= 8
    # The log keeps what the client does not see, under the same request id.
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and "secret detail" in str(logged[0].exc_info[1])


async def test_a_store_failure_is_unavailable(
    client: GraphQLClient, data_gateway: DataGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("connection refused to 10.0.0.7")

    monkeypatch.setattr(data_gateway.store, "counter_values", down)
    response = await client.post(COUNTER)
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "UNAVAILABLE"
    assert "10.0.0.7" not in response.text


@pytest.mark.parametrize(("content", "content_type"), [
    (b"{not json", "application/json"),
    (b"[1, 2]", "application/json"),
    (b'{"query": 42}', "application/json"),
    (b'{"variables": {}}', "application/json"),
    (b"{ namespaces { name } }", "text/plain"),
    (b"\xff\xfe", "application/octet-stream"),
])
async def test_malformed_bodies_never_get_http_500(
    client: GraphQLClient, content: bytes, content_type: str
) -> None:
    response = await client.http.post(
        "/graphql", content=content, headers={"content-type": content_type}
    )
    assert 400 <= response.status_code < 500, response.text


async def test_requests_graphql_cannot_serve_get_4xx_or_a_request_error(
    client: GraphQLClient,
) -> None:
    mutation = 'mutation { clearCount(input: {namespace: "page_views", name: "x", ' \
               'idempotencyKey: "k"}) { count } }'
    responses = [
        await client.http.get("/graphql", params={"query": mutation},
                              headers={"apollo-require-preflight": "true"}),
        await client.http.post("/graphql", json={"query": "query A { namespaces { name } }",
                                                 "operationName": "B"}),
        await client.http.post("/graphql", json={"query": "{ namespaces { name } }",
                                                 "variables": "x"}),
        await client.http.post("/graphql", json={"query": ""}),
        await client.http.put("/graphql", json={"query": "{ namespaces { name } }"}),
    ]
    assert [r.status_code for r in responses] == [405, 200, 400, 400, 405]
    assert [r.json()["errors"][0]["extensions"]["code"] for r in responses] == [
        "BAD_REQUEST", "OPERATION_RESOLUTION_FAILURE", "BAD_REQUEST", "BAD_REQUEST", "BAD_REQUEST",
    ]
    assert "data" not in responses[1].json()
