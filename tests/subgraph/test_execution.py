"""The planned executor (`subgraph.execution.FastExecutor`) answers exactly as graphql-core does.

Every document runs twice on the same schema, through `graphql.execute` with our executor and with
Strawberry's standard one (graphql-core's executor plus Strawberry's `Info`), and the results
must be equal: data, and errors with their messages, locations and paths, in the same order.
The documents cover aliases, fragments, inline fragments on `_entities`, `@skip`/`@include` with
variables, `__typename`, introspection, resolver errors under nullable and non-null fields, and
values that break their declared types (nulls in non-null fields, out-of-range Ints, wrong leaf
types) inside objects and lists, where null bubbles to the nearest nullable parent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from enum import Enum
from operator import getitem
from typing import Annotated, Any, NewType

import graphql
import pytest
import strawberry
from graphql import DirectiveLocation
from strawberry.directive import DirectiveValue
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema_directive import Location
from strawberry.types.field import StrawberryField

from abstractions.gateway import DataGateway
from abstractions.timeseries import Event
from abstractions.tokens import IdempotencyToken, now_micros
from backends.base import CounterEvent
from subgraph import execution
from subgraph.context import Context
from subgraph.execution import FastExecutor, _Latch
from subgraph.limits import Limits
from subgraph.schema import build_schema

HOUR = 3600 * 1_000_000


async def run_both(
    schema: strawberry.Schema, query: str, variables: dict[str, Any] | None, context: Any
) -> tuple[Any, Any]:
    """(ours, graphql-core's) as (data, formatted errors), on the same schema and document."""
    document = graphql.parse(query)
    assert not graphql.validate(schema._schema, document)
    out = []
    for executor in (FastExecutor, StrawberryGraphQLCoreExecutionContext):
        # Fresh variables: strawberry's `_entities` pops `__typename` off representations.
        fresh = {
            k: [dict(r) if isinstance(r, dict) else r for r in v] if isinstance(v, list) else v
            for k, v in (variables or {}).items()
        }
        result = graphql.execute(
            schema._schema, document, variable_values=fresh,
            context_value=context() if callable(context) else context,
            executor_class=executor,
        )
        if not isinstance(result, graphql.ExecutionResult):
            result = await result
        out.append((result.data, [e.formatted for e in result.errors or ()]))
    return out[0], out[1]


# --- the subgraph's own schema ------------------------------------------------------------------

SUBGRAPH_DOCUMENTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("entities with an inline fragment, aliases and __typename", """
     query ($reps: [_Any!]!) {
       _entities(representations: $reps) {
         __typename
         ... on Profile {
           pid: id
           history: viewingHistory(first: 5) {
             edges { cursor node { __typename id startedAt positionSeconds durationSeconds
                                   device title { id t: __typename } profile { id } } }
             pageInfo { hasNextPage endCursor }
           }
           plays: playCount { namespace name count mode }
           again: playCount { count }
         }
         ... on Title { id playCount { count mode } }
       }
     }""", {"reps": [
        {"__typename": "Profile", "id": "pa"}, {"__typename": "Title", "id": "t1"},
        {"__typename": "Profile", "id": "nobody"}, {"__typename": "Profile", "id": "pb"},
    ]}),
    ("named fragments, nested, with @skip/@include on variables", """
     query ($reps: [_Any!]!, $withHistory: Boolean!, $noCount: Boolean!) {
       _entities(representations: $reps) { ...P }
     }
     fragment P on Profile {
       id
       viewingHistory(first: 10) @include(if: $withHistory) { edges { node { ...E } } }
       playCount @skip(if: $noCount) { count }
       ... @include(if: $noCount) { viewingHistory(first: 10) { pageInfo { hasNextPage } } }
     }
     fragment E on PlaybackEvent { id title { id } positionSeconds @skip(if: $noCount) }
     """, {"reps": [{"__typename": "Profile", "id": "pa"}], "withHistory": True,
           "noCount": False}),
    ("the same document with the directives the other way", """
     query ($reps: [_Any!]!, $withHistory: Boolean!, $noCount: Boolean!) {
       _entities(representations: $reps) { ...P }
     }
     fragment P on Profile {
       id
       viewingHistory(first: 10) @include(if: $withHistory) { edges { node { ...E } } }
       playCount @skip(if: $noCount) { count }
       ... @include(if: $noCount) { viewingHistory(first: 10) { pageInfo { hasNextPage } } }
     }
     fragment E on PlaybackEvent { id title { id } positionSeconds @skip(if: $noCount) }
     """, {"reps": [{"__typename": "Profile", "id": "pa"}], "withHistory": False,
           "noCount": True}),
    ("a resolver error under a non-null field nulls the entity (its nullable parent)", """
     query ($reps: [_Any!]!) {
       _entities(representations: $reps) {
         ... on Profile { id viewingHistory(first: 0) { edges { cursor } } playCount { count } }
       }
     }""", {"reps": [{"__typename": "Profile", "id": "pa"},
                     {"__typename": "Profile", "id": "pb"}]}),
    ("variables in resolver arguments", """
     query ($reps: [_Any!]!, $first: Int!) {
       _entities(representations: $reps) {
         ... on Profile { viewingHistory(first: $first) { edges { node { id } } } }
       }
     }""", {"reps": [{"__typename": "Profile", "id": "pa"}], "first": 1}),
    ("a malformed representation: a nullable entity with an error", """
     query ($reps: [_Any!]!) { _entities(representations: $reps) { ... on Profile { id } } }
     """, {"reps": [{"__typename": "Profile", "id": "pa"}, {"__typename": "Nope", "id": "x"}]}),
    ("root fields: counters, an unknown namespace (error), namespaces", """
     { a: counter(namespace: "page_views", name: "x") { namespace name count mode }
       counters(namespace: "page_views", names: ["x", "y"]) { name count }
       namespaces { __typename name } }
     """, None),
    ("a counter past 64 bits: an error at its index in counters, the others counted", """
     { counters(namespace: "profile_plays", names: ["pa", "big", "none"]) { name count } }
     """, None),
    ("an error in a non-null root field nulls data", """
     { a: counter(namespace: "page_views", name: "x") { count }
       bad: counter(namespace: "nope", name: "x") { count } }
     """, None),
    ("_service and introspection", """
     { _service { sdl }
       __schema { queryType { name } types { name kind fields { name type { name kind } } } }
       __type(name: "PlaybackEvent") { name fields { name args { name } } }
       __typename }
     """, None),
]


async def seed(gateway: DataGateway) -> None:
    now = now_micros()
    events = [
        Event("pa", now - n * HOUR, f"e{n}", {
            "title_id": f"t{n % 3}".encode(), "position_seconds": str(10 * n).encode(),
            "duration_seconds": str(n).encode(), **({"device": b"tv"} if n % 2 else {}),
        })
        for n in range(1, 8)
    ]
    events.append(Event("pb", now - HOUR, "x", {"title_id": b"t1"}))
    await gateway.timeseries.write_events("viewing_history", events)
    await gateway.counters.add("profile_plays", "pa", 7, IdempotencyToken.new())
    await gateway.counters.add("page_views", "x", 3, IdempotencyToken.new())
    await gateway.counters.add("profile_plays", "big", 2**63 - 1, IdempotencyToken.new())
    racing = IdempotencyToken.new()  # an add that no check saw: "big" leaves 64 bits
    await gateway.store.counter_append(
        "profile_plays", [CounterEvent("big", racing.generation_time, racing.nonce, 1)]
    )


@pytest.mark.parametrize(
    ("query", "variables"),
    [pytest.param(q, v, id=name) for name, q, v in SUBGRAPH_DOCUMENTS],
)
async def test_subgraph_documents_answer_as_graphql_core_does(
    started_gateway: DataGateway, limits: Limits, query: str, variables: dict[str, Any] | None
) -> None:
    await seed(started_gateway)
    schema = build_schema(limits)
    assert schema.execution_context_class is FastExecutor
    ours, core = await run_both(
        schema, query, variables, lambda: Context.create(started_gateway, limits)
    )
    assert ours == core


async def test_entities_query_reads_plain_fields_without_resolvers(
    started_gateway: DataGateway, limits: Limits, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The benchmark's shape takes the fast paths: leaves, objects, lists, direct resolvers."""
    await seed(started_gateway)
    kinds: dict[str, int] = {}
    plan_field = FastExecutor._plan_field

    def recording(self: FastExecutor, parent_type: Any, name: str, fdl: Any) -> tuple:
        plan = plan_field(self, parent_type, name, fdl)
        kinds[f"{parent_type.name}.{name}"] = plan[1]
        return plan

    monkeypatch.setattr(FastExecutor, "_plan_field", recording)
    schema = build_schema(limits)
    result = await schema.execute(
        SUBGRAPH_DOCUMENTS[0][1], variable_values=SUBGRAPH_DOCUMENTS[0][2],
        context_value=Context.create(started_gateway, limits),
    )
    assert not result.errors
    assert kinds["PlaybackEvent.id"] == execution.IDENT
    assert kinds["PlaybackEvent.positionSeconds"] == execution.INT
    assert kinds["PlaybackEvent.startedAt"] == execution.LEAF
    assert kinds["PlaybackEvent.title"] == execution.COMPOSITE
    assert kinds["PlaybackEventConnection.edges"] == execution.COMPOSITE
    assert kinds["Profile.history"] == execution.RESOLVER
    assert kinds["PlaybackEvent.__typename"] == execution.TYPENAME
    assert kinds["Counter.mode"] == execution.LEAF


# --- a schema whose values break their types --------------------------------------------------


@strawberry.enum
class Color(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Leaf:
    name: str
    n: int
    maybe: int | None
    when: datetime
    color: Color
    ok: bool


Odd = NewType("Odd", int)
ODD = strawberry.scalar(  # a scalar whose serialisation can fail by returning None
    name="Odd", serialize=lambda v: v if v % 2 else None, parse_value=int
)


@strawberry.type
class Node:
    id: strawberry.ID
    odd: Odd
    maybe_odd: Odd | None
    leaf: Leaf
    opt_leaf: Leaf | None
    leaves: list[Leaf]
    opt_leaves: list[Leaf | None] | None
    tags: list[str]
    opt_tags: list[str | None] | None

    @strawberry.field
    def computed(self, times: int = 2) -> int:
        return len(str(self.id)) * times

    @strawberry.field
    def boom(self) -> int | None:
        raise ValueError("boom")

    @strawberry.field
    def boom_non_null(self) -> int:
        raise ValueError("boom, non-null")

    @strawberry.field
    async def later(self) -> Leaf:
        await asyncio.sleep(0)
        return self.leaf

    @strawberry.field
    async def later_boom(self) -> Leaf | None:
        await asyncio.sleep(0)
        raise ValueError("later boom")

    @strawberry.field
    async def later_boom_non_null(self, after: int = 0) -> Leaf:
        for _ in range(after):
            await asyncio.sleep(0)
        if self.id in ("null-name", "raised", 7):
            raise ValueError(f"later boom, non-null, {self.id}")
        return self.leaf

    @strawberry.field
    async def stuck_if_failing(self) -> int:
        """Never answers beside a `laterBoomNonNull` that raises: only cancelling it ends it."""
        if self.id in ("null-name", "raised", 7):
            await asyncio.Event().wait()
        return 1


WHEN = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)


def leaf(**changes: Any) -> Leaf:
    values: dict[str, Any] = {
        "name": "l", "n": 1, "maybe": None, "when": WHEN, "color": Color.RED, "ok": True
    }
    values.update(changes)
    return Leaf(**values)


def node(key: str, **changes: Any) -> Node:
    values: dict[str, Any] = {
        "id": key, "odd": 1, "maybe_odd": 3, "leaf": leaf(), "opt_leaf": None,
        "leaves": [leaf(n=2), leaf(n=3)],
        "opt_leaves": [leaf(), None], "tags": ["a", "b"], "opt_tags": ["x", None],
    }
    values.update(changes)
    return Node(**values)


NODES = [
    node("fine", maybe_odd=2),                                     # scalar gives None
    node("null-name", leaf=leaf(name=None)),                       # bubbles to the node
    node("big-int", opt_leaf=leaf(n=2**40)),                       # bubbles to optLeaf
    node("bad-maybe", leaf=leaf(maybe="x")),                       # nullable leaf error
    node("bad-item", leaves=[leaf(), leaf(ok=None)]),              # item -> list -> node
    node("bad-opt-item", opt_leaves=[leaf(color="green"), leaf()]),  # item -> item (nullable)
    node("null-tag", tags=["a", None]),                            # item -> list -> node
    node("int-id", id=7, opt_tags=[1.5, True, None]),              # coercions, not errors
    node("null-list", leaves=None),                                # non-null list is null
    node("tuple", leaves=(leaf(n=4),), tags=("t",), odd=4),       # non-null scalar None
    node("not-a-list", opt_leaves=leaf()),                         # not iterable: error
    node("raised", opt_leaf=ValueError("an exception as a value")),
    node("null-item", leaves=[leaf(), None]),                      # non-null item is null
    node("fine-again", tags=("u",)),
]


Thing = Annotated[Node | Leaf, strawberry.union("Thing")]


@strawberry.type
class Query:
    @strawberry.field
    def nodes(self) -> list[Node | None]:
        return list(NODES)

    @strawberry.field
    def things(self) -> list[Thing | None]:
        return [NODES[0], leaf(n=5), None, NODES[1], NODES[9]]

    @strawberry.field
    def strict_nodes(self) -> list[Node]:
        return list(NODES[:3])

    @strawberry.field
    def node(self, id: strawberry.ID) -> Node | None:
        return next((n for n in NODES if n.id == id), None)


def type_schema(**kwargs: Any) -> strawberry.Schema:
    return strawberry.Schema(Query, config=StrawberryConfig(scalar_map={Odd: ODD}), **kwargs)


LEAF_FIELDS = "name n maybe when color ok"
TYPE_DOCUMENTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("every field of every node", f"""
     {{ nodes {{ __typename id odd maybeOdd computed(times: 3) boom
                leaf {{ {LEAF_FIELDS} }} optLeaf {{ {LEAF_FIELDS} }}
                leaves {{ {LEAF_FIELDS} }} optLeaves {{ {LEAF_FIELDS} }}
                tags optTags later {{ n }} laterBoom {{ n }} }} }}
     """, None),
    ("a union: inline fragments per member, an error nulling one item", """
     { things { __typename ... on Node { id leaf { name } tags } ... on Leaf { n when } } }
     """, None),
    ("a non-null resolver error bubbles to the node", "{ nodes { id boomNonNull } }", None),
    ("bubbling through a non-null list to the root", "{ strictNodes { id leaf { name } } }",
     None),
    ("aliases, fragments, skip/include", """
     query ($yes: Boolean!, $no: Boolean!, $id: ID!) {
       one: node(id: $id) { ...N x: id @include(if: $yes) y: id @include(if: $no) }
       two: node(id: "fine") { ... on Node { leaf { name } } leaf @skip(if: $yes) { n } }
       none: node(id: "missing") { id }
     }
     fragment N on Node { id leaves { n b: name } leaf { ...L } }
     fragment L on Leaf { when color }
     """, {"yes": True, "no": False, "id": "tuple"}),
    ("plain data only: each node's subtree fused, broken values falling back", f"""
     {{ nodes {{ __typename id odd maybeOdd leaf {{ {LEAF_FIELDS} }} optLeaf {{ {LEAF_FIELDS} }}
                leaves {{ {LEAF_FIELDS} __typename }} optLeaves {{ {LEAF_FIELDS} }} }} }}
     """, None),
    ("plain data under a non-null list: a fused node's error bubbles to the root",
     f"{{ strictNodes {{ id leaf {{ {LEAF_FIELDS} }} leaves {{ n }} optLeaves {{ ok }} }} }}",
     None),
    ("plain data under a union's members", f"""
     {{ things {{ ... on Node {{ id optLeaves {{ n }} }} ... on Leaf {{ {LEAF_FIELDS} }} }} }}
     """, None),
    ("async fields of list items: an item's non-null field error nulls that item alone", """
     { nodes { id later { n } laterBoom { n } late: laterBoomNonNull(after: 2) { name } } }
     """, None),
    ("the same error first in the item, then beside slower siblings", """
     { nodes { late: laterBoomNonNull { name } later { n } slow: laterBoomNonNull(after: 3) {
       n } } }
     """, None),
    ("an async field's error in a non-null item fails the whole list", """
     { strictNodes { id laterBoomNonNull(after: 1) { n } later { n } } }
     """, None),
    ("a failed item's other fields are cancelled, not awaited", """
     { nodes { id laterBoomNonNull { n } stuckIfFailing } }
     """, None),
    ("a failed non-null item's list ends without awaiting the rest", """
     { strictNodes { id laterBoomNonNull(after: 1) { n } stuckIfFailing } }
     """, None),
    ("async fields of a union's items", """
     { things { ... on Node { id laterBoomNonNull { n } } ... on Leaf { n } } }
     """, None),
    ("introspection",
     '{ __type(name: "Leaf") { fields { name type { kind ofType { name } } } } }', None),
]


async def test_a_task_cancelled_before_it_started_still_ends_the_wait() -> None:
    """Cancelled before its first step, a task never runs `_tracked`'s count-down."""
    latch = _Latch()
    never = asyncio.Event()
    started = latch.start(never.wait())
    await asyncio.sleep(0)  # it has started, and waits
    unstarted = latch.start(never.wait())
    for task in (started, unstarted):
        latch.cancel(task)
    await asyncio.wait_for(latch.wait(), 5)
    if latch.left:  # woken by the first to end
        await asyncio.wait_for(latch.wait(), 5)
    assert latch.left == 0
    assert started.cancelled() and unstarted.cancelled()


@pytest.mark.parametrize(
    ("query", "variables"),
    [pytest.param(q, v, id=name) for name, q, v in TYPE_DOCUMENTS],
)
async def test_broken_values_answer_as_graphql_core_does(
    query: str, variables: dict[str, Any] | None
) -> None:
    schema = type_schema(execution_context_class=FastExecutor)
    # Within a deadline: a field left waiting that should have been cancelled hangs the query.
    ours, core = await asyncio.wait_for(run_both(schema, query, variables, None), 30)
    assert ours == core


async def test_plain_subtrees_are_completed_by_one_fused_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Objects whose selections are plain data all the way down take the fused path (the
    documents above check that it answers as graphql-core does), others do not."""
    fused: dict[str, bool] = {}
    made = FastExecutor._fused

    def recording(self: FastExecutor, object_type: Any, grouped: Any) -> Any:
        function = made(self, object_type, grouped)
        fused[object_type.name] = function is not None
        return function

    monkeypatch.setattr(FastExecutor, "_fused", recording)
    schema = type_schema(execution_context_class=FastExecutor)
    await run_both(schema, TYPE_DOCUMENTS[5][1], None, None)
    assert fused == {"Node": True, "Leaf": True}
    fused.clear()
    await run_both(schema, "{ nodes { id computed leaf { n } } }", None, None)
    assert fused == {"Node": False, "Leaf": True}
    fused.clear()
    await run_both(schema, "{ nodes { id tags } }", None, None)  # a list of leaves: not fused
    assert fused == {"Node": False}


@strawberry.type
class Chain:
    n: int
    next: list[Chain]


@strawberry.type
class ChainQuery:
    @strawberry.field
    def chain(self) -> list[Chain]:
        def link(n: int) -> Chain:
            return Chain(n=n, next=[link(n + 1)] if n < 30 else [])

        return [link(0), link(25)]


async def test_a_deep_plain_subtree_is_fused_only_to_a_depth_python_compiles() -> None:
    """Lists of plain objects nested deeper than one function may hold loops (Python allows
    20) answer as graphql-core does, fused in parts."""
    schema = strawberry.Schema(ChainQuery, execution_context_class=FastExecutor)
    query = "{ chain { n " + "next { n " * 24 + "}" * 24 + " } }"
    ours, core = await run_both(schema, query, None, None)
    assert ours == core and not ours[1]
    assert ours[0]["chain"][0]["next"][0]["next"][0]["n"] == 2


async def test_broken_values_produce_the_errors_expected() -> None:
    """A sanity check of the comparison above: the errors are there, with their paths."""
    schema = type_schema(execution_context_class=FastExecutor)
    (data, errors), _ = await run_both(schema, TYPE_DOCUMENTS[0][1], None, None)
    paths = {tuple(e["path"]) for e in errors}
    assert ("nodes", 1, "leaf", "name") in paths and data["nodes"][1] is None
    assert ("nodes", 2, "optLeaf", "n") in paths and data["nodes"][2]["optLeaf"] is None
    assert ("nodes", 3, "leaf", "maybe") in paths and data["nodes"][3]["leaf"]["maybe"] is None
    assert ("nodes", 4, "leaves", 1, "ok") in paths and data["nodes"][4] is None
    assert ("nodes", 5, "optLeaves", 0, "color") in paths
    assert data["nodes"][5]["optLeaves"][0] is None
    assert data["nodes"][7]["id"] == "7" and data["nodes"][7]["optTags"] == ["1.5", "true", None]
    assert ("nodes", 8, "leaves") in paths and data["nodes"][8] is None
    assert ("nodes", 11, "optLeaf") in paths and data["nodes"][11]["optLeaf"] is None
    assert ("nodes", 0, "boom") in paths and data["nodes"][0]["laterBoom"] is None


async def test_schema_extensions_with_a_resolve_hook_use_graphql_core_s_way() -> None:
    """Middleware wraps resolvers: the executor then plans nothing and runs graphql-core's."""
    from strawberry.extensions import SchemaExtension

    seen: list[str] = []

    class Spy(SchemaExtension):
        def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append(info.field_name)
            return _next(root, info, *args, **kwargs)

    schema = type_schema(extensions=[Spy], execution_context_class=FastExecutor)
    result = await schema.execute('{ node(id: "fine") { id leaf { n } } }')
    assert result.data == {"node": {"id": "fine", "leaf": {"n": 1}}}
    assert seen == ["node", "id", "leaf", "n"]


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncGenerator[Node | None, None]:
        for n in NODES[:3]:
            yield n


async def test_subscription_events_keep_their_own_errors() -> None:
    """Each event runs on a copy of the executor: its errors are its own, with their paths."""
    answers = []
    for executor in (FastExecutor, StrawberryGraphQLCoreExecutionContext):
        schema = type_schema(subscription=Subscription, execution_context_class=executor)
        events = await schema.subscribe(
            "subscription { ticks { id leaf { name } optLeaf { n } } }"
        )
        answers.append([
            (r.data, [e.formatted for e in r.errors or ()]) async for r in events
        ])
    assert answers[0] == answers[1]
    assert [len(errors) for _, errors in answers[0]] == [0, 1, 1]


async def test_the_validation_cache_hits_across_requests(
    started_gateway: DataGateway, limits: Limits
) -> None:
    """The depth and alias rules are built once per schema, so the cache key repeats."""
    from strawberry.extensions.validation_cache import _get_validate_cache

    cache = _get_validate_cache(limits.validation_cache_size)
    schema = build_schema(limits)
    query = '{ counter(namespace: "page_views", name: "cache-check") { count } }'
    for _ in range(2):
        result = await schema.execute(
            query, context_value=Context.create(started_gateway, limits)
        )
        assert not result.errors
    before = cache.cache_info()
    result = await schema.execute(query, context_value=Context.create(started_gateway, limits))
    assert not result.errors
    after = cache.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)


# --- fields without a resolver that Strawberry still gives behaviour -----------------------------
# Each way Strawberry adds behaviour to a field that has no resolver (read from its
# `GraphQLCoreConverter.from_resolver` and `Schema`): field extensions, permission classes (an
# extension), a `StrawberryField` subclass overriding `get_result`, exception handlers, the
# config's `default_resolver`, executable directives (a schema extension: middleware).  Schema
# directives carry no behaviour.  Each must answer as the standard executor does.


class Doubled(StrawberryField):
    def get_result(self, source: Any, info: Any, args: list[Any], kwargs: Any) -> Any:
        return getattr(source, self.python_name) * 2


class Upper(FieldExtension):
    def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        return next_(source, info, **kwargs).upper()


class Denied(BasePermission):
    message = "denied"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return False


class Broken(Exception):
    pass


@strawberry.type
class Fine:
    value: str


@strawberry.type
class Problem:
    message: str


class ProblemHandler(strawberry.ExceptionHandler[Broken, Problem]):
    def handle(self, exception: Broken, *, field: Any, info: Any) -> Problem:
        return Problem(message=f"handled: {exception}")


@strawberry.schema_directive(locations=[Location.FIELD_DEFINITION])
class Note:
    text: str


@strawberry.type
class Example:
    plain: str
    doubled: str = Doubled(default="Example")
    upper: str = strawberry.field(default="quiet", extensions=[Upper()])
    secret: str | None = strawberry.field(default="s", permission_classes=[Denied])
    noted: str = strawberry.field(default="n", directives=[Note(text="x")])
    outcome: Fine | Problem = strawberry.field(default_factory=lambda: Fine(value="ok"))


class BrokenExample(Example):
    """An Example whose `outcome` raises when read."""

    @property  # type: ignore[override]
    def outcome(self) -> Any:
        raise Broken("no outcome")


@strawberry.type
class Holder:
    example: Example
    broken: Example


@strawberry.directive(locations=[DirectiveLocation.FIELD])
def shout(value: DirectiveValue[str]) -> str:
    return value.upper() + "!"


@strawberry.type
class ExampleQuery:
    @strawberry.field
    def holder(self) -> Holder:
        broken = object.__new__(BrokenExample)
        broken.__dict__.update(plain="b", doubled="Broken", upper="b", secret="s", noted="b")
        return Holder(example=Example(plain="p"), broken=broken)


def example_schema(executor: type = FastExecutor, **kwargs: Any) -> strawberry.Schema:
    """Executable directives are left out unless asked for: they turn planning off."""
    return strawberry.Schema(
        ExampleQuery, types=[Note], exception_handlers=[ProblemHandler()],
        execution_context_class=executor, **kwargs,
    )


OUTCOME = "outcome { __typename ... on Fine { value } ... on Problem { message } }"
EXAMPLE_DOCUMENTS = [
    ("a get_result override", "{ holder { example { plain doubled } } }",
     {"holder": {"example": {"plain": "p", "doubled": "ExampleExample"}}}),
    ("a field extension", "{ holder { example { upper } } }",
     {"holder": {"example": {"upper": "QUIET"}}}),
    ("a permission class", "{ holder { example { plain secret } } }",
     {"holder": {"example": {"plain": "p", "secret": None}}}),
    ("a schema directive (no behaviour)", "{ holder { example { noted } } }",
     {"holder": {"example": {"noted": "n"}}}),
    ("an exception handler, nothing raised", f"{{ holder {{ example {{ {OUTCOME} }} }} }}",
     {"holder": {"example": {"outcome": {"__typename": "Fine", "value": "ok"}}}}),
    ("an exception handler, the read raises", f"{{ holder {{ broken {{ plain {OUTCOME} }} }} }}",
     {"holder": {"broken": {"plain": "b", "outcome": {
         "__typename": "Problem", "message": "handled: no outcome"}}}}),
]


@pytest.mark.parametrize(
    ("query", "expected"), [pytest.param(q, e, id=name) for name, q, e in EXAMPLE_DOCUMENTS]
)
async def test_fields_strawberry_gives_behaviour_answer_as_graphql_core_does(
    query: str, expected: dict[str, Any]
) -> None:
    """Through `Schema.execute`, so that Strawberry's own extensions (directives) run."""
    answers = []
    for executor in (FastExecutor, StrawberryGraphQLCoreExecutionContext):
        result = await example_schema(executor).execute(query)
        answers.append((result.data, [e.formatted for e in result.errors or ()]))
    assert answers[0] == answers[1]
    assert answers[0][0] == expected


async def test_executable_directives_answer_as_graphql_core_does() -> None:
    """Strawberry runs them as a schema extension that resolves: planning is off."""
    query = "{ holder { example { plain @shout doubled } } }"
    answers = []
    for executor in (FastExecutor, StrawberryGraphQLCoreExecutionContext):
        result = await example_schema(executor, directives=[shout]).execute(query)
        answers.append((result.data, [e.formatted for e in result.errors or ()]))
    assert answers[0] == answers[1]
    assert answers[0][0] == {"holder": {"example": {"plain": "P!", "doubled": "ExampleExample"}}}


def test_only_fields_strawberry_reads_with_getattr_alone_are_plain_attributes() -> None:
    fields = example_schema()._schema.type_map["Example"].fields  # type: ignore[union-attr]
    plain = {name for name, field in fields.items() if execution._plain_attribute(field)}
    assert plain == {"plain", "noted"}


def test_a_default_resolver_of_the_config_is_not_read_as_an_attribute() -> None:
    schema = example_schema(config=StrawberryConfig(default_resolver=getitem))
    fields = schema._schema.type_map["Example"].fields  # type: ignore[union-attr]
    assert not any(execution._plain_attribute(field) for field in fields.values())


@strawberry.type
class Row:
    name: str


@strawberry.type
class RowQuery:
    @strawberry.field
    def rows(self) -> list[Row]:
        return [{"name": "a"}, {"name": "b"}]  # type: ignore[list-item]


async def test_a_default_resolver_of_the_config_answers_as_graphql_core_does() -> None:
    schema = strawberry.Schema(
        RowQuery, config=StrawberryConfig(default_resolver=getitem),
        execution_context_class=FastExecutor,
    )
    ours, core = await run_both(schema, "{ rows { name } }", None, None)
    assert ours == core == ({"rows": [{"name": "a"}, {"name": "b"}]}, [])
