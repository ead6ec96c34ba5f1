"""Transport: sizes, encodings, media types, bytes that are not UTF-8 or not JSON, methods."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator

from ..cases import (
    FAST,
    GRAPHQL_RESPONSE,
    JSON,
    PREFLIGHT,
    SLOW,
    Case,
    Expect,
    HttpRequest,
    body_of,
    encode,
    get,
    gql,
    ok,
    post,
    raw,
    refused,
    request_error,
    status_only,
)
from ..client import Outcome, Session

MAX_BODY = 4_194_304
MAX_DOCUMENT = 100_000
VALID = encode({"query": "{ __typename }"})
CSRF = refused(400, "BAD_REQUEST")  # a request a browser may send cross-site unasked
MUTATION = 'mutation { addCount(input: {namespace: "page_views", name: "via-get", ' \
    'idempotencyKey: "via-get"}) { count } }'


def typename(data: dict) -> None:
    assert data == {"__typename": "Query"}, data


def counter_named_via_get(data: dict) -> None:
    assert data == {"counter": {"name": "via-get"}}, data


def _not_counted(name: str) -> Callable[[Session, Outcome], None]:
    def verify(session: Session, outcome: Outcome) -> None:
        data = session.data('query ($n: String!) { counter(namespace: "page_views", name: $n) '
                            "{ count } }", {"n": name})
        assert data == {"counter": {"count": "0"}}, data

    return verify


def _sized_body(size: int) -> bytes:
    """A valid request body of exactly `size` bytes (padding in `extensions`)."""
    head, tail = b'{"query":"{ __typename }","extensions":{"pad":"', b'"}}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


def _case(name: str, request: HttpRequest | object, expect: object, seconds: float = FAST) -> Case:
    return Case(name, "transport", request, expect, seconds)  # type: ignore[arg-type]


def _bad(name: str, body: bytes, content_type: str | None = JSON) -> Case:
    return _case(name, post(body, content_type), refused(400, "BAD_REQUEST"))


def _padded_query(size: int, filler: str = " ") -> str:
    """`{ __typename }` followed by whitespace (no tokens) to `size` UTF-8 bytes."""
    head = "{ __typename } #"
    return head + filler * ((size - len(head.encode())) // len(filler.encode()))


def _chunks(total: int, size: int = 65536) -> Iterator[bytes]:
    """A chunked body that starts as JSON and grows to `total` bytes; never terminated."""
    first = b'{"query":"{ __typename }","extensions":{"pad":"'
    yield b"%x\r\n%s\r\n" % (len(first), first)
    piece = b"a" * size
    sent = len(first)
    while sent < total:
        yield b"%x\r\n%s\r\n" % (len(piece), piece)
        sent += len(piece)


def _chunked_valid() -> Iterator[bytes]:
    for part in (b'{"query":', b'"{ __typename }"', b"}"):
        yield b"%x\r\n%s\r\n" % (len(part), part)
    yield b"0\r\n\r\n"


def _head(length: int | str, extra: str = "") -> str:
    return f"""POST /graphql HTTP/1.1
        Host: hostile
        Content-Type: application/json
        Content-Length: {length}
        {extra}"""


def _body_cases() -> list[Case]:
    big = MAX_BODY + 1
    return [
        _case("content-length-over-max-with-a-short-body", raw(
            _head(10 * MAX_BODY), lambda: [b'{"query":"{ __typename }"', b" " * 1024]),
            refused(413, "PAYLOAD_TOO_LARGE")),
        _case("content-length-one-over-max-no-body-sent", raw(_head(big)),
              refused(413, "PAYLOAD_TOO_LARGE")),
        _case("content-length-one-gibibyte", raw(_head(1 << 30), lambda: [b"{" * 4096]),
              refused(413, "PAYLOAD_TOO_LARGE")),
        _case("content-length-2-to-the-63", raw(_head(2**63 - 1)),
              refused(413, "PAYLOAD_TOO_LARGE")),
        _case("body-one-byte-over-max", post(lambda: _sized_body(big)),
              refused(413, "PAYLOAD_TOO_LARGE"), SLOW),
        _case("body-exactly-max-is-served", post(lambda: _sized_body(MAX_BODY)), ok(typename),
              SLOW),
        _case("chunked-body-growing-past-max-unterminated",
              raw(_head(0).replace("Content-Length: 0", "Transfer-Encoding: chunked"),
                  lambda: _chunks(MAX_BODY + 600_000)),
              refused(413, "PAYLOAD_TOO_LARGE"), SLOW),
        _case("chunked-body-of-tiny-chunks-past-max-unterminated",
              raw(_head(0).replace("Content-Length: 0", "Transfer-Encoding: chunked"),
                  lambda: _chunks(MAX_BODY + 100_000, size=4096)),
              refused(413, "PAYLOAD_TOO_LARGE"), SLOW),
        _case("chunked-valid-body-is-served",
              raw(_head(0).replace("Content-Length: 0", "Transfer-Encoding: chunked"),
                  _chunked_valid), ok(typename)),
        _case("content-length-shorter-than-body-reads-a-json-prefix",
              raw(_head(9), lambda: [b'{"query":"{ __typename }"}']),
              refused(400, "BAD_REQUEST")),
        _case("document-one-byte-over-max", gql(_padded_query(MAX_DOCUMENT + 1)),
              refused(413, "PAYLOAD_TOO_LARGE")),
        _case("document-of-two-byte-characters-over-max-in-bytes-not-characters",
              gql(_padded_query(MAX_DOCUMENT + 2, "é"), utf8=True),
              refused(413, "PAYLOAD_TOO_LARGE")),
        _case("document-of-escaped-characters-over-max-in-bytes",
              gql(_padded_query(MAX_DOCUMENT + 3, "€")), refused(413, "PAYLOAD_TOO_LARGE")),
        _case("document-under-max-in-utf8-though-longer-as-escaped-json",
              gql(_padded_query(MAX_DOCUMENT - 100, "€")), ok(typename)),
        _case("document-of-three-megabytes", gql(_padded_query(3_000_000)),
              refused(413, "PAYLOAD_TOO_LARGE"), SLOW),
        _case("document-just-under-max-is-served", gql(_padded_query(MAX_DOCUMENT - 10)),
              ok(typename)),
        _case("body-of-three-megabytes-of-variables-under-max-is-served",
              gql("{ __typename }", {"pad": "v" * 3_000_000}), ok(typename), SLOW),
    ]


def _media_cases() -> list[Case]:
    unsupported = refused(415, "UNSUPPORTED_MEDIA_TYPE")
    cases = [
        _case("content-encoding-gzip", post(gzip.compress(VALID), headers=(
            ("content-encoding", "gzip"),)), unsupported),
        _case("content-encoding-deflate", post(zlib.compress(VALID), headers=(
            ("content-encoding", "deflate"),)), unsupported),
        _case("content-encoding-br", post(VALID, headers=(("content-encoding", "br"),)),
              unsupported),
        _case("content-encoding-x-anything", post(VALID, headers=(
            ("content-encoding", "x-anything"),)), unsupported),
        _case("content-encoding-gzip-bomb-is-never-inflated", post(
            lambda: gzip.compress(b'{"query":"' + b" " * 20_000_000 + b'{ __typename }"}'),
            headers=(("content-encoding", "gzip"),)), unsupported),
        _case("content-encoding-list-gzip-identity", post(VALID, headers=(
            ("content-encoding", "gzip, identity"),)), unsupported),
        _case("content-encoding-identity-is-served", post(VALID, headers=(
            ("content-encoding", "identity"),)), ok(typename)),
    ]
    for name, content_type in [
        ("xml", "application/xml"),
        ("html", "text/html"),
        ("graphql", "application/graphql"),
        ("json-patch", "application/json-patch+json"),
        ("empty", ""),
        ("charset-latin-1", "application/json; charset=latin-1"),
        ("charset-utf-16", "application/json; charset=utf-16"),
        ("charset-utf-32", "application/json; charset=utf-32"),
    ]:
        cases.append(_case(f"content-type-{name}", post(VALID, content_type), unsupported))
    for name, content_type in [
        ("text-plain", "text/plain"),
        ("form-urlencoded", "application/x-www-form-urlencoded"),
        ("multipart", "multipart/form-data; boundary=xyz"),
    ]:  # what a browser sends cross-site unasked: refused as a forgery, unless preflighted
        cases += [
            _case(f"content-type-{name}-is-refused-as-csrf", post(VALID, content_type), CSRF),
            _case(f"content-type-{name}-preflighted", post(VALID, content_type, headers=PREFLIGHT),
                  unsupported),
        ]
    cases += [
        _case("content-type-missing-is-refused-as-csrf", post(VALID, None), CSRF),
        _case("content-type-missing-preflighted", post(VALID, None, headers=(
            ("x-apollo-operation-name", "Q"),)), unsupported),
        _case("content-type-text-plain-with-charset-is-refused-as-csrf", post(
            VALID, "Text/Plain; charset=utf-8"), CSRF),
        _case("content-type-text-plain-empty-preflight-header-is-refused-as-csrf", post(
            VALID, "text/plain", headers=(("apollo-require-preflight", ""),)), CSRF),
        _case("content-type-form-with-a-form-body-is-refused-as-csrf", post(
            b"query=%7B__typename%7D", "application/x-www-form-urlencoded"), CSRF),
        Case("content-type-text-plain-mutation-is-refused-as-csrf", "transport", post(
            encode({"query": MUTATION.replace("via-get", "via-csrf")}), "text/plain"), CSRF,
            verify=_not_counted("via-csrf")),
        _case("content-type-charset-utf-8-is-served", post(
            VALID, "application/json; charset=utf-8"), ok(typename)),
        _case("content-type-charset-upper-case-utf-8-is-served", post(
            VALID, "application/json; charset=UTF-8"), ok(typename)),
    ]
    return cases


def _encoding_cases() -> list[Case]:
    text = '{"query":"{ __typename } # %s"}'
    return [
        _bad("utf8-invalid-byte-ff", (text % "x").encode().replace(b"x", b"\xff")),
        _bad("utf8-overlong-slash-c0-af", (text % "x").encode().replace(b"x", b"\xc0\xaf")),
        _bad("utf8-overlong-nul-c0-80", (text % "x").encode().replace(b"x", b"\xc0\x80")),
        _bad("utf8-truncated-three-byte-sequence", b'{"query":"{ __typename } \xe2\x82"}'),
        _bad("utf8-truncated-at-end-of-body", VALID + b"\xf0\x9f\x98"),
        _bad("utf8-encoded-surrogate-cesu", (text % "x").encode().replace(b"x", b"\xed\xa0\x80")),
        _bad("utf8-five-byte-form", (text % "x").encode().replace(b"x", b"\xf8\x88\x80\x80\x80")),
        _bad("utf8-above-u10ffff", (text % "x").encode().replace(b"x", b"\xf4\x90\x80\x80")),
        _bad("latin-1-e-acute", (text % "café").encode("latin-1")),
        _bad("latin-1-in-a-variable", b'{"query":"{ __typename }","variables":{"a":"caf\xe9"}}'),
        _bad("utf-16-le-with-bom", b"\xff\xfe" + VALID.decode().encode("utf-16-le")),
        _bad("utf-16-be-with-bom", b"\xfe\xff" + VALID.decode().encode("utf-16-be")),
        _bad("utf-32-le-with-bom", VALID.decode().encode("utf-32")),
    ]


def _json_cases() -> list[Case]:
    deep = 100_000
    return [
        _bad("empty-body", b""),
        _bad("whitespace-body", b" \r\n\t "),
        _bad("nul-byte-body", b"\x00"),
        _bad("open-brace", b"{"),
        _bad("javascript-object", b"{query: '{ __typename }'}"),
        _bad("single-quoted-json", b"{'query': '{ __typename }'}"),
        _bad("trailing-comma", b'{"query":"{ __typename }",}'),
        _bad("trailing-garbage", VALID + b" garbage"),
        _bad("two-json-documents", VALID + VALID),
        _bad("comment-in-json", b'{"query":"{ __typename }" /* hi */}'),
        _bad("raw-control-character-in-string", b'{"query":"{ __typename }\t\x01"}'),
        _bad("nan-in-variables", b'{"query":"{ __typename }","variables":{"a":NaN}}'),
        _bad("infinity-in-variables", b'{"query":"{ __typename }","variables":{"a":-Infinity}}'),
        _bad("graphql-document-as-body", b"{ __typename }"),
        _bad("hundred-thousand-open-brackets", b"[" * deep),
        _bad("hundred-thousand-nested-arrays-closed", b"[" * deep + b"]" * deep),
        _bad("hundred-thousand-nested-objects", b'{"a":' * deep + b"1" + b"}" * deep),
        _bad("deep-nesting-inside-variables",
             b'{"query":"{ __typename }","variables":{"a":' + b"[" * deep + b"]" * deep + b"}}"),
        _bad("json-number", b"42"),
        _bad("json-string", b'"hi"'),
        _bad("json-null", b"null"),
        _bad("json-true", b"true"),
        _bad("json-float", b"1.5"),
        _bad("json-empty-array", b"[]"),
        _bad("batch-of-one", b'[{"query":"{ __typename }"}]'),
        _bad("batch-of-two", b'[{"query":"{ __typename }"},{"query":"{ __typename }"}]'),
    ]


def _field_cases() -> list[Case]:
    cases = [
        _bad("object-without-query", encode({})),
        _bad("object-with-only-variables", encode(body_of(variables={}))),
        _bad("query-key-in-wrong-case", encode({"Query": "{ __typename }"})),
    ]
    for name, value in [("null", None), ("empty", ""), ("number", 42), ("object", {}),
                        ("list", ["{ __typename }"]), ("boolean", True)]:
        cases.append(_bad(f"query-{name}", encode(body_of(value))))
    for name, value in [("string", "x"), ("json-text", "{}"), ("list", []), ("number", 1),
                        ("boolean", True)]:
        cases.append(_bad(f"variables-{name}", encode(body_of("{ __typename }", value))))
    for name, value in [("number", 1), ("object", {}), ("list", []), ("boolean", False)]:
        cases.append(_bad(f"operation-name-{name}",
                          encode(body_of("{ __typename }", operation=value))))
    for name, value in [("string", "x"), ("list", []), ("number", 1)]:
        cases.append(_bad(f"extensions-{name}",
                          encode(body_of("{ __typename }", extensions=value))))
    for name, body in [
        ("variables-null-is-served", body_of("{ __typename }", None)),
        ("variables-empty-object-is-served", body_of("{ __typename }", {})),
        ("operation-name-null-is-served", body_of("{ __typename }", operation=None)),
        ("extensions-null-is-served", body_of("{ __typename }", extensions=None)),
        ("extensions-empty-object-is-served", body_of("{ __typename }", extensions={})),
    ]:
        cases.append(_case(name, post(encode(body)), ok(typename)))
    return cases


def _method_cases() -> list[Case]:
    cases = [_case(f"method-{method.lower()}", post(VALID, method=method),
                   refused(405, "BAD_REQUEST")) for method in ("PUT", "DELETE", "PATCH")]
    cases += [
        _case("get-mutation", get(query=MUTATION), refused(405, "BAD_REQUEST")),
        _case("get-mutation-after-a-comment", get(query="# hi\n  " + MUTATION),
              refused(405, "BAD_REQUEST")),
        _case("get-mutation-chosen-by-operation-name", get(
            query="query A { __typename } " + MUTATION.replace("mutation", "mutation B"),
            operationName="B"), refused(405, "BAD_REQUEST")),
        _case("get-query-without-a-preflight-header-is-refused-as-csrf",
              get(query="{ __typename }", headers=()), CSRF),
        _case("get-query-with-an-empty-preflight-header-is-refused-as-csrf",
              get(query="{ __typename }", headers=(("apollo-require-preflight", ""),)), CSRF),
        _case("get-query-with-content-type-text-plain-is-refused-as-csrf",
              get(query="{ __typename }", headers=(("content-type", "text/plain"),)), CSRF),
        _case("get-query-with-x-apollo-operation-name-is-served",
              get(query="{ __typename }", headers=(("x-apollo-operation-name", "Q"),)),
              ok(typename)),
        _case("get-query-with-content-type-json-is-served",
              get(query="{ __typename }", headers=(("content-type", JSON),)), ok(typename)),
        _case("get-graphiql-page-needs-no-preflight-header",
              get(accept="text/html", headers=()), status_only(200)),
        _case("get-query-is-served", get(query="{ __typename }"), ok(typename)),
        _case("get-named-query-with-variables-is-served", get(
            query="query Q($n: String!) { counter(namespace: \"page_views\", name: $n) "
                  "{ name } }", variables='{"n": "via-get"}'),
              ok(counter_named_via_get)),
        _case("get-syntax-error", get(query="{"), request_error("GRAPHQL_PARSE_FAILED")),
        _case("get-unknown-page", get("/nope"), status_only(404)),
        _case("post-unknown-page", post(VALID, path="/nope"), status_only(404)),
        _case("get-healthz", get("/healthz"), status_only(200)),
    ]
    return cases


def _accept_cases() -> list[Case]:
    strict = GRAPHQL_RESPONSE
    return [
        _case("accept-graphql-response-syntax-error",
              gql("{", accept=strict), request_error("GRAPHQL_PARSE_FAILED", accept=strict)),
        _case("accept-graphql-response-validation-error",
              gql("{ nope }", accept=strict),
              request_error("GRAPHQL_VALIDATION_FAILED", accept=strict)),
        _case("accept-graphql-response-bad-variable",
              gql('query($n: Int!) { kvRecord(namespace: "kv_small", id: "a") '
                  "{ items(first: $n) { edges { cursor } } } }", {"n": "ten"}, accept=strict),
              request_error("BAD_USER_INPUT", accept=strict)),
        _case("accept-graphql-response-depth-limit", gql(
            "{ _entities(representations: []) { ... on Profile { " + "viewingHistory { edges "
            "{ node { profile { " * 4 + "id" + " } } } }" * 4 + " } } }", accept=strict),
            request_error("MAX_DEPTH_LIMIT", accept=strict)),
        _case("accept-graphql-response-field-error-stays-200",
              gql('{ counter(namespace: "nope", name: "x") { count } }', accept=strict),
              Expect(200, frozenset({"BAD_USER_INPUT"}), "some", "present", path=True,
                     content_type=None)),
        _case("accept-graphql-response-success", gql("{ __typename }", accept=strict),
              Expect(200, data="nonnull", content_type=None, check=typename)),
        _case("accept-json-syntax-error", gql("{", accept=JSON),
              request_error("GRAPHQL_PARSE_FAILED")),
        _case("accept-anything-syntax-error", gql("{", accept="*/*"),
              request_error("GRAPHQL_PARSE_FAILED")),
        # Both listed at the same quality: the GraphQL response media type is preferred.
        _case("accept-both-json-first-syntax-error",
              gql("{", accept=f"{JSON}, {strict}"),
              request_error("GRAPHQL_PARSE_FAILED", accept=strict)),
        _case("accept-graphql-response-at-lower-quality-syntax-error",
              gql("{", accept=f"{JSON}, {strict};q=0.5"), request_error("GRAPHQL_PARSE_FAILED")),
        _case("accept-graphql-response-not-acceptable-syntax-error",
              gql("{", accept=f"{strict};q=0, {JSON}"), request_error("GRAPHQL_PARSE_FAILED")),
        _case("accept-graphql-response-bad-content-type-is-still-415",
              post(VALID, "application/xml", headers=(("accept", strict),)),
              refused(415, "UNSUPPORTED_MEDIA_TYPE")),
        _case("accept-graphql-response-csrf-is-still-400",
              post(VALID, "text/plain", headers=(("accept", strict),)), CSRF),
    ]


CASES: list[Case] = [
    *_body_cases(), *_media_cases(), *_encoding_cases(), *_json_cases(), *_field_cases(),
    *_method_cases(), *_accept_cases(),
]
