"""Documents: syntax, validation, depth, aliases, cost, operations, variables, fragment bombs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from graphql import get_introspection_query

from ..cases import (
    FAST,
    SLOW,
    Case,
    Expect,
    HttpRequest,
    answered,
    body_of,
    gql,
    ok,
    post,
    refused,
    request_error,
)

PARSE = "GRAPHQL_PARSE_FAILED"
INVALID = "GRAPHQL_VALIDATION_FAILED"
DEPTH = "MAX_DEPTH_LIMIT"
ALIASES = "MAX_ALIASES_LIMIT"
COST = "COST_ESTIMATED_TOO_EXPENSIVE"
INPUT = "BAD_USER_INPUT"
OPERATION = "OPERATION_RESOLUTION_FAILURE"
MAX_COST = 10_000
BOMB_SECONDS = 1.0

ONE_PROFILE = '[{__typename: "Profile", id: "p-doc"}]'
COUNTER = 'counter(namespace: "page_views", name: "doc") { count }'
FIRST_VAR = 'query($n: Int!) { kvRecord(namespace: "kv_small", id: "doc") ' \
    "{ items(first: $n) { edges { cursor } } } }"


def _case(name: str, request: HttpRequest, expect: Expect, seconds: float = FAST) -> Case:
    return Case(name, "documents", request, expect, seconds)


def _error(name: str, query: str, *codes: str, variables: Any = None) -> Case:
    request = gql(query) if variables is None else gql(query, variables)
    return _case(name, request, request_error(*codes))


def _ok(name: str, query: str, variables: Any = None, seconds: float = FAST) -> Case:
    request = gql(query) if variables is None else gql(query, variables)
    return _case(name, request, ok(), seconds)


LEAF = {"viewingHistory(first: 1)": "pageInfo { hasNextPage }", "edges": "cursor",
        "node": "id", "profile": "id"}


def entity_chain(levels: int, profiles: str = ONE_PROFILE, inline: bool = False) -> str:
    """A query exactly `levels` field levels deep (no introspection field counted): `_entities`,
    a cycle through Profile's history, a scalar at the bottom (first: 1 keeps the cost small);
    `inline` wraps each event's selection in an inline fragment, which adds no level."""
    cycle = ["viewingHistory(first: 1)", "edges", "node", "profile"]
    objects = [cycle[i % 4] for i in range(levels - 2)]
    if objects[-1].startswith("viewingHistory"):
        objects[-1] = "playCount"  # on Profile too; its leaf is one level down
    inner = "count" if objects[-1] == "playCount" else LEAF[objects[-1]]
    for field in reversed(objects):
        if inline and field == "node":
            inner = f"... on PlaybackEvent {{ {inner} }}"
        inner = f"{field} {{ {inner} }}"
    return f"{{ _entities(representations: {profiles}) {{ ... on Profile {{ {inner} }} }} }}"


def aliases(n: int, prefix: str = "a") -> str:
    return " ".join(f"{prefix}{i}: __typename" for i in range(n))


def nested(n: int, open_: str, close: str, inner: str = "") -> str:
    return open_ * n + inner + close * n


def _syntax_cases() -> list[Case]:
    return [
        _error("syntax-lone-open-brace", "{", PARSE),
        _error("syntax-lone-close-brace", "}", PARSE),
        _error("syntax-unclosed-selection", "{ __typename", PARSE),
        _error("syntax-query-keyword-only", "query {", PARSE),
        _error("syntax-missing-argument-value", "{ namespaces(x: ) { name } }", PARSE),
        _error("syntax-dangling-at", "{ __typename @ }", PARSE),
        _error("syntax-variable-without-name", "query Q($: Int) { __typename }", PARSE),
        _error("syntax-unicode-ellipsis", "{ … }", PARSE),
        _error("syntax-unterminated-string",
               '{ counter(namespace: "page_views, name: "x") { count } }', PARSE),
        _error("syntax-unterminated-block-string",
               '{ counter(namespace: """page_views) { count } }', PARSE),
        _error("syntax-nul-character", "{ __typename \u0000 }", PARSE),
        _error("syntax-graphql-escaped-lone-surrogate",
               '{ counter(namespace: "page_views", name: "\\ud800") { count } }', PARSE),
        _error("syntax-fragment-named-on", "fragment on on on { __typename }", PARSE),
        _error("syntax-extra-close-brace", "{ __typename } }", PARSE),
        _error("syntax-comment-only", "# nothing here", PARSE),
        _case("syntax-whitespace-only", gql(" \t\n "),
              replace(request_error(PARSE), also=refused(400, "BAD_REQUEST"))),
        _error("tokens-over-max-2100-fields", "{ " + " __typename" * 2100 + " }", PARSE),
        _error("tokens-over-max-list-of-2500-names",
               '{ counters(namespace: "page_views", names: [' + '"a",' * 2500
               + ']) { count } }', PARSE),
        _error("tokens-over-max-1000-aliases", "{ " + aliases(1000) + " }", PARSE),
        _error("nesting-1000-brackets-in-an-argument",
               '{ counter(namespace: "page_views", name: ' + nested(1000, "[", "]", '"x"')
               + ") { count } }", PARSE),
        _error("nesting-1000-braces", nested(1000, "{ a ", "}"), PARSE),
        _error("nesting-600-brackets-within-the-token-limit",
               '{ counter(namespace: "page_views", name: ' + nested(600, "[", "]")
               + ") { count } }", PARSE, INVALID),
        _error("nesting-600-selections-within-the-token-limit",
               nested(600, "{ a ", " }"), PARSE, DEPTH, INVALID),
        _error("nesting-450-input-objects-within-the-token-limit",
               '{ counter(namespace: "page_views", name: ' + nested(450, "{a: ", "}", "1")
               + ") { count } }", PARSE, INVALID),
        _case("nesting-300-inline-fragments-has-no-field-depth",
              gql(nested(300, "{ ... on Query ", "}", "{ __typename }")),
              Expect(200, frozenset({PARSE}), "allowed")),
        _error("empty-selection-spaced", "{ }", PARSE, INVALID),
        _error("empty-selection", "{}", PARSE, INVALID),
        _error("empty-selection-of-a-field", "{ namespaces { } }", PARSE, INVALID),
        _ok("byte-order-mark-before-the-document", "\ufeff{ __typename }"),
        _ok("emoji-in-a-comment", "{ __typename } # 😀 \u202e"),
    ]


def _validation_cases() -> list[Case]:
    cases = [
        ("unknown-field", "{ nope }"),
        ("unknown-mutation-field", "mutation { nope }"),
        ("unknown-argument", "{ namespaces(x: 1) { name } }"),
        ("unknown-variable-type", "query($a: Nope) { __typename }"),
        ("undefined-fragment", "{ ...Nope }"),
        ("fragment-cycle", "fragment A on Query { ...B } fragment B on Query { ...A } { ...A }"),
        ("fragment-self-cycle", "fragment A on Query { __typename ...A } { ...A }"),
        ("fragment-on-scalar", "fragment F on String { x } { ...F }"),
        ("fragment-on-unknown-type", "fragment F on Nope { x } { ...F }"),
        ("fragment-spread-impossible", "{ ... on Profile { id } }"),
        ("unused-fragment", "fragment U on Query { __typename } { __typename }"),
        ("duplicate-fragment-names",
         "fragment F on Query { __typename } fragment F on Query { __typename } { ...F }"),
        ("wrong-literal-type-int-for-string",
         '{ counter(namespace: 1, name: "x") { count } }'),
        ("wrong-literal-type-list-for-string",
         '{ counter(namespace: ["page_views"], name: "x") { count } }'),
        ("wrong-literal-type-object-for-string",
         '{ counter(namespace: {a: 1}, name: "x") { count } }'),
        ("null-literal-for-non-null", '{ counter(namespace: null, name: "x") { count } }'),
        ("missing-required-argument", '{ counter(name: "x") { count } }'),
        ("unused-variable", "query($a: Int) { __typename }"),
        ("undefined-variable", '{ counter(namespace: $ns, name: "x") { count } }'),
        ("variable-of-wrong-type-in-position",
         'query($n: Int) { counter(namespace: $n, name: "x") { count } }'),
        ("nullable-variable-in-non-null-position",
         'query($ns: String) { counter(namespace: $ns, name: "x") { count } }'),
        ("variable-default-of-wrong-type", 'query($n: Int = "x") { __typename }'),
        ("duplicate-variable", "query($a: Int, $a: Int) { __typename }"),
        ("duplicate-argument",
         '{ counter(namespace: "page_views", namespace: "x", name: "x") { count } }'),
        ("selection-on-scalar", "{ __typename { x } }"),
        ("argument-on-typename", "{ __typename(x: 1) }"),
        ("missing-selection-on-object", "{ namespaces }"),
        ("conflicting-response-names", "{ a: __typename a: namespaces { name } }"),
        ("conflicting-arguments-under-one-name",
         '{ c: counter(namespace: "page_views", name: "x") { count } '
         'c: counter(namespace: "page_views", name: "y") { count } }'),
        ("duplicate-operation-names", "query A { __typename } query A { __typename }"),
        ("two-anonymous-operations", "{ __typename } { __typename }"),
        ("anonymous-beside-named", "{ __typename } query B { __typename }"),
        ("subscription", "subscription { __typename }"),
        ("unknown-directive", "{ __typename @nope }"),
        ("directive-in-wrong-location", "query @skip(if: true) { __typename }"),
        ("skip-without-if", "{ __typename @skip }"),
        ("include-with-string", '{ __typename @include(if: "yes") }'),
        ("repeated-directive", "{ __typename @skip(if: false) @skip(if: false) }"),
        ("unknown-enum-value",
         '{ searchEvents(namespace: "viewing_history", query: {conditions: '
         '[{key: "title_id", op: LIKE, text: "x"}]}) { edges { cursor } } }'),
        ("enum-as-string",
         '{ searchEvents(namespace: "viewing_history", query: {conditions: '
         '[{key: "title_id", op: "EQ", text: "x"}]}) { edges { cursor } } }'),
        ("unknown-input-field",
         '{ searchEvents(namespace: "viewing_history", query: {conditions: [], nope: 1}) '
         "{ edges { cursor } } }"),
        ("missing-input-field",
         '{ searchEvents(namespace: "viewing_history", query: {conditions: '
         '[{key: "title_id", text: "x"}]}) { edges { cursor } } }'),
        ("int-literal-over-32-bits",
         '{ kvRecord(namespace: "kv_small", id: "a") { items(first: 2147483648) '
         "{ edges { cursor } } } }"),
        ("float-literal-for-int",
         '{ kvRecord(namespace: "kv_small", id: "a") { items(first: 1.5) { edges { cursor } } } }'),
        ("string-literal-for-int",
         '{ kvRecord(namespace: "kv_small", id: "a") { items(first: "10") '
         "{ edges { cursor } } } }"),
        ("long-literal-not-a-number",
         'mutation { addCount(input: {namespace: "page_views", name: "doc", delta: "12x", '
         'idempotencyKey: "doc-long-1"}) { count } }'),
        ("long-literal-over-64-bits",
         'mutation { addCount(input: {namespace: "page_views", name: "doc", '
         'delta: 9223372036854775808, idempotencyKey: "doc-long-2"}) { count } }'),
        ("long-literal-float",
         'mutation { addCount(input: {namespace: "page_views", name: "doc", delta: 1.5, '
         'idempotencyKey: "doc-long-3"}) { count } }'),
        ("datetime-literal-not-a-date",
         '{ timeSeries(namespace: "viewing_history", id: "x", since: "not a date") '
         "{ edges { cursor } } }"),
        ("introspection-schema-fields-three-deep",
         "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"),
        ("introspection-type-fields-three-deep",
         '{ __type(name: "Query") { fields { type { fields { type { fields { name } } } } } } }'),
        ("introspection-interfaces-three-deep",
         "{ __schema { types { interfaces { interfaces { interfaces { name } } } } } }"),
        ("introspection-possible-types-three-deep",
         "{ __schema { types { possibleTypes { possibleTypes { possibleTypes { name } } } } } }"),
    ]
    # A Long literal that does not parse is a wrong literal or bad input: either code will do.
    out = [_error(f"invalid-{name}", query, INVALID, *((INPUT,) if "long" in name else ()))
           for name, query in cases]
    out += [
        _ok("introspection-shallow-is-served", "{ __schema { queryType { name } } }"),
        _ok("service-sdl-is-served", "{ _service { sdl } }"),
    ]
    return out


def _depth_cases() -> list[Case]:
    mutation = ('mutation { recordPlayback(input: {profileId: "p-doc-deep", titleId: "t", '
                'positionSeconds: 1, durationSeconds: 1, idempotencyKey: "doc-deep"}) '
                "{ event { " + nested(3, "profile { viewingHistory(first: 1) { edges { node { ",
                                      "} } } } ", "id ") + "} } }")
    fragments = (
        "fragment Hop on PlaybackEvent { profile { viewingHistory(first: 1) { edges { node { "
        "...Hop2 } } } } } fragment Hop2 on PlaybackEvent { profile { viewingHistory(first: 1) "
        "{ edges { node { ...Hop3 } } } } } fragment Hop3 on PlaybackEvent { profile { "
        "viewingHistory(first: 1) { edges { node { id } } } } } "
        "{ _entities(representations: " + ONE_PROFILE + ") { ... on Profile { "
        "viewingHistory(first: 1) { edges { node { ...Hop } } } } } }")
    return [
        # Depth counts root fields as 0 (as Strawberry and graphql-depth-limit do): 13 field
        # levels are depth 12, the limit.
        _ok("depth-12-field-levels-is-served", entity_chain(12)),
        _ok("depth-13-field-levels-is-served", entity_chain(13)),
        _error("depth-14-field-levels", entity_chain(14), DEPTH),
        _error("depth-30-field-levels", entity_chain(30), DEPTH),
        _error("depth-through-named-fragments", fragments, DEPTH),
        _error("depth-through-inline-fragments", entity_chain(16, inline=True), DEPTH),
        _error("depth-in-a-mutation-payload", mutation, DEPTH),
        # GraphiQL's own introspection nests `ofType` past 12 levels: it must still work.
        _ok("introspection-query-of-graphiql-is-served", get_introspection_query(True)),
    ]


def _alias_cases() -> list[Case]:
    def spread(n: int, fragment: str = "F") -> str:
        return " ".join(f"...{fragment}" for _ in range(n))

    def counters(n: int, prefix: str = "c") -> str:
        return " ".join(f'{prefix}{i}: counter(namespace: "page_views", name: "x") {{ count }}'
                        for i in range(n))

    ten = "fragment F on Query { " + counters(10) + " } "
    return [
        _ok("aliases-30-are-served", "{ " + counters(30) + " }"),
        _error("aliases-31", "{ " + counters(31) + " }", ALIASES),
        _error("aliases-31-of-typename", "{ " + aliases(31) + " }", ALIASES),
        _error("aliases-31-across-levels",
               "{ " + counters(16) + " namespaces { " + " ".join(
                   f"b{i}: name" for i in range(15)) + " } }", ALIASES),
        _error("aliases-16-in-a-fragment-spread-twice",
               "fragment F on Query { " + counters(16) + " } { ...F ...F }", ALIASES),
        _ok("aliases-10-in-a-fragment-spread-three-times-are-served",
            ten + "{ " + spread(3) + " }"),
        _error("aliases-10-in-a-fragment-spread-four-times", ten + "{ " + spread(4) + " }",
               ALIASES),
        _error("aliases-through-nested-fragments",
               "fragment F0 on Query { " + counters(8) + " } "
               "fragment F1 on Query { ...F0 ...F0 } { ...F1 ...F1 }", ALIASES),
        _error("aliases-of-typename-through-nested-fragments",
               "fragment F0 on Query { " + aliases(8) + " } "
               "fragment F1 on Query { ...F0 ...F0 } { ...F1 ...F1 }", ALIASES),
        _error("aliases-31-mutations", "mutation { " + " ".join(
            f'm{i}: addCount(input: {{namespace: "page_views", name: "doc-aliased", '
            f'idempotencyKey: "doc-aliased-{i}"}}) {{ count }}' for i in range(31)) + " }",
            ALIASES, COST),
    ]


def _cost_check(expected: int | None) -> Any:
    def check(body: dict[str, Any]) -> None:
        [error] = [e for e in body["errors"] if e["extensions"]["code"] == COST]
        cost, max_cost = error["extensions"].get("cost"), error["extensions"].get("maxCost")
        assert isinstance(cost, int) and isinstance(max_cost, int), error
        assert max_cost == MAX_COST and cost > max_cost, error
        if expected is not None:
            assert cost == expected, f"estimated {cost}, the contract's model says {expected}"
    return check


def _costly(name: str, query: str, variables: Any = None, expected: int | None = None) -> Case:
    request = gql(query) if variables is None else gql(query, variables)
    return Case(name, "documents", request, request_error(COST), FAST,
                verify=lambda session, outcome: _cost_check(expected)(outcome.body))


def profiles(n: int, prefix: str = "p-cost") -> list[dict[str, str]]:
    return [{"__typename": "Profile", "id": f"{prefix}-{i}"} for i in range(n)]


REPS = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Profile { "


def _cost_cases() -> list[Case]:
    names = [f"n{i}" for i in range(500)]
    counters = "query($names: [String!]!) { " + " ".join(
        f'c{i}: counters(namespace: "page_views", names: $names) {{ count }}' for i in range(30)
    ) + " }"
    return [
        _costly("cost-100-profiles-by-100-events", REPS + "viewingHistory(first: 100) "
                "{ edges { node { id } } } } } }", {"r": profiles(100)}, 20200),
        _costly("cost-first-from-a-variable", REPS.replace("$r: [_Any!]!", "$r: [_Any!]!, $n: Int!")
                + "viewingHistory(first: $n) { edges { node { id } } } } } }",
                {"r": profiles(100), "n": 100}, 20200),
        _costly("cost-through-a-fragment",
                "fragment P on Profile { viewingHistory(first: 100) { edges { node { id "
                "title { playCount { count } } } } } } " + REPS + "...P } } }",
                {"r": profiles(100)}, 40200),
        _costly("cost-nested-connections", "{ _entities(representations: " + ONE_PROFILE
                + ") { ... on Profile { viewingHistory(first: 100) { edges { node { profile { "
                "viewingHistory(first: 100) { edges { node { id } } } } } } } } } }", None, 20402),
        _costly("cost-30-aliases-of-500-counters", counters, {"names": names}, 15000),
        _costly("cost-100-profiles-asking-for-101-events", REPS + "viewingHistory(first: 101) "
                "{ edges { node { id } } } } } }", {"r": profiles(100)}),
        _ok("cost-8200-is-served", REPS + "viewingHistory(first: 20) { edges { node { id "
            "title { playCount { count } } } } } } } }", {"r": profiles(100)}, SLOW),
        _ok("cost-1000-titles-are-served",
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on Title { "
            "playCount { count } } } }",
            {"r": [{"__typename": "Title", "id": f"t-cost-{i}"} for i in range(1000)]}, SLOW),
        _case("representations-1001", gql(
            "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }",
            {"r": profiles(1001)}), Expect(200, frozenset({INPUT}), "some")),
        _case("representations-10000-aliased-five-times", gql(
            "query($r: [_Any!]!) { " + " ".join(
                f"e{i}: _entities(representations: $r) {{ ... on Profile {{ playCount "
                "{ count } } }" for i in range(5)) + " }", {"r": profiles(10_000)}),
            Expect(200, frozenset({INPUT, COST}), "some")),
    ]


def _operation_cases() -> list[Case]:
    two = "query A { __typename } query B { __typename }"
    return [
        _error("operation-two-named-without-name", two, OPERATION),
        _case("operation-name-not-in-document", gql(two, operation="Nope"),
              request_error(OPERATION)),
        _case("operation-name-for-an-anonymous-operation", gql("{ __typename }", operation="X"),
              request_error(OPERATION)),
        _case("operation-name-empty-with-two-operations", gql(two, operation=""),
              request_error(OPERATION)),
        _case("operation-name-chooses-one-of-two", gql(two, operation="B"), ok()),
    ]


def _variable_cases() -> list[Case]:
    int_var = [("string", "ten"), ("numeric-string", "10"), ("float", 1.5), ("boolean", True),
               ("null", None), ("list", [10]), ("object", {"n": 10}), ("2-to-the-31", 2**31),
               ("2-to-the-53", 2**53), ("2-to-the-63", 2**63), ("minus-2-to-the-63", -(2**63))]
    cases = [_error(f"variable-int-{name}", FIRST_VAR, INPUT, variables={"n": value})
             for name, value in int_var]
    cases.append(_case("variable-int-missing", gql(FIRST_VAR, {}), request_error(INPUT)))
    cases.append(_case("variable-int-1e400", post(
        b'{"query":"' + FIRST_VAR.replace('"', '\\"').encode()
        + b'","variables":{"n":1e400}}'), request_error(INPUT)))
    for digits, expect in [
        (4000, request_error(INPUT)),
        # Past Python's 4300-digit limit for int(): refusing the body as JSON is fair too.
        (5000, replace(request_error(INPUT), also=refused(400, "BAD_REQUEST"))),
    ]:
        cases.append(_case(f"variable-int-{digits}-digit-json-number", post(
            b'{"query":"' + FIRST_VAR.replace('"', '\\"').encode()
            + b'","variables":{"n":' + b"9" * digits + b"}}"), expect))
    search = ('query($q: SearchQuery) { searchEvents(namespace: "viewing_history", query: $q) '
              "{ edges { cursor } } }")
    for name, value in [
        ("enum-unknown", {"conditions": [{"key": "title_id", "op": "LIKE", "text": "x"}]}),
        ("enum-lower-case", {"conditions": [{"key": "title_id", "op": "eq", "text": "x"}]}),
        ("input-unknown-field", {"conditions": [], "nope": 1}),
        ("input-missing-field", {"conditions": [{"key": "title_id", "text": "x"}]}),
        ("input-null-in-non-null-list", {"conditions": [None]}),
        ("input-string-for-object", "conditions"),
    ]:
        cases.append(_error(f"variable-{name}", search, INPUT, variables={"q": value}))
    cases.append(_error("variable-names-with-null-item",
                        'query($n: [String!]!) { counters(namespace: "page_views", names: $n) '
                        "{ count } }", INPUT, variables={"n": ["a", None]}))
    return cases


def _limits_on_variables() -> list[Case]:
    def deep(levels: int) -> Any:
        value: Any = 1
        for _ in range(levels):
            value = [value]
        return value

    return [
        _error("variable-values-over-20000-undeclared", "{ __typename }", INPUT,
               variables={"junk": list(range(20_001))}),
        _error("variable-values-over-20000-in-names",
               'query($n: [String!]!) { counters(namespace: "page_views", names: $n) '
               "{ count } }", INPUT, variables={"n": ["a"] * 20_001}),
        _error("variable-values-over-20000-in-small-objects", "{ __typename }", INPUT,
               variables={"junk": [{"a": 1}] * 12_000}),
        _ok("variable-values-15000-are-served", "{ __typename }",
            variables={"junk": list(range(15_000))}),
        _error("variables-nested-33-deep", "{ __typename }", INPUT, variables={"v": deep(33)}),
        _error("variables-nested-200-deep", "{ __typename }", INPUT, variables={"v": deep(200)}),
        _error("variables-nested-deep-in-a-representation",
               "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }", INPUT,
               variables={"r": [{"__typename": "Profile", "id": "p", "x": deep(40)}]}),
        _ok("variables-nested-20-deep-are-served", "{ __typename }", variables={"v": deep(20)}),
    ]


def _surrogate_cases() -> list[Case]:
    counter = 'query($n: String!) { counter(namespace: "page_views", name: $n) { count } }'
    return [
        _error("surrogate-high-in-a-comment", "{ __typename } # \ud800", INPUT),
        _error("surrogate-low-in-a-comment", "{ __typename } # \udfff", INPUT),
        _error("surrogate-in-a-string-literal",
               '{ counter(namespace: "page_views", name: "a\ud800b") { count } }', INPUT),
        _error("surrogate-high-before-a-normal-character",
               '{ counter(namespace: "page_views", name: "\ud83dx") { count } }', INPUT),
        _error("surrogate-in-a-variable-value", counter, INPUT, variables={"n": "\udfff"}),
        _error("surrogate-in-a-variable-name", "{ __typename }", INPUT,
               variables={"\ud800": 1}),
        _error("surrogate-in-an-undeclared-variable", "{ __typename }", INPUT,
               variables={"junk": ["ok", {"deep": "\ud800"}]}),
        _error("surrogate-in-a-representation",
               "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }", INPUT,
               variables={"r": [{"__typename": "Profile", "id": "\ud800"}]}),
        _case("surrogate-in-operation-name",
              gql("query A { __typename }", operation="A\ud800"), request_error(INPUT)),
        _case("surrogate-in-extensions-is-served-or-refused", post(
            b'{"query":"{ __typename }","extensions":{"x":"\\ud800"}}'),
            Expect(200, frozenset({INPUT}), "allowed")),
        _ok("surrogate-pair-is-a-character", "{ __typename } # \ud83d\ude00"),
    ]


def bomb(levels: int, leaf: str, extra: str = "") -> str:
    parts = [f"fragment F0 on Query {{ {leaf} }}"]
    parts += [f"fragment F{i} on Query {{ {extra}...F{i - 1} ...F{i - 1} ...F{i - 1} }}"
              for i in range(1, levels)]
    return " ".join(parts) + f" query {{ ...F{levels - 1} }}"


def _bomb_cases() -> list[Case]:
    def quick(name: str, query: str, expect: Expect) -> Case:
        return Case(name, "documents", gql(query), expect, BOMB_SECONDS)

    return [
        quick("fragment-bomb-14-levels", bomb(14, COUNTER), answered()),
        quick("fragment-bomb-40-levels", bomb(40, COUNTER), answered()),
        quick("fragment-bomb-with-an-alias", bomb(14, "a: " + COUNTER), request_error(ALIASES)),
        quick("fragment-bomb-40-levels-with-an-alias", bomb(40, "a: " + COUNTER),
              request_error(ALIASES)),
        quick("fragment-bomb-with-an-alias-of-typename", bomb(14, "a: __typename"),
              request_error(ALIASES)),
        quick("fragment-bomb-with-a-sized-list",
              bomb(14, 'counters(namespace: "page_views", names: ["a", "b"]) { count }'),
              answered()),
        quick("fragment-bomb-with-a-field-per-level",
              bomb(20, "__typename", "namespaces { name } "), answered()),
        quick("fragment-bomb-of-connections",
              bomb(14, 'timeSeries(namespace: "viewing_history", id: "b", first: 100) '
                       "{ edges { node { id } } }"), answered()),
    ]


CASES: list[Case] = [
    *_syntax_cases(), *_validation_cases(), *_depth_cases(), *_alias_cases(), *_cost_cases(),
    *_operation_cases(), *_variable_cases(), *_limits_on_variables(), *_surrogate_cases(),
    *_bomb_cases(),
]

__all__ = ["CASES", "body_of", "bomb", "entity_chain"]
