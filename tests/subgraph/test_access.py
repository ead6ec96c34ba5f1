"""Who may read and write what: per-namespace policies decided for the request's Caller.

Through the schema with a Caller in the context (the HTTP server's token check is tested in
test_auth.py, and the whole matrix against a real server in tests/hostile/test_access_matrix.py).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from abstractions.access import Caller
from abstractions.namespaces import NamespaceConfigError, parse_namespaces
from subgraph.metrics import Metrics

from .conftest import SchemaRunner, attempt_recorded


def caller(*scopes: str, profiles: tuple[str, ...] = (), sub: str = "user-1") -> Caller:
    return Caller(sub, frozenset(scopes), frozenset(profiles), authenticated=True)


def codes(result: Any) -> list[str]:
    return [e.extensions["code"] for e in result.errors or []]


PUT = """
mutation ($key: String!, $ns: String! = "profile_settings", $id: ID! = "p1") {
  putItems(input: {namespace: $ns, id: $id, items: [{key: "lang", text: "en"}],
                   idempotencyKey: $key}) { id }
}"""
READ = """
query ($ns: String! = "profile_settings", $id: ID! = "p1") {
  kvRecord(namespace: $ns, id: $id) { items { edges { node { key text } } } }
}"""
RECORD = """
mutation ($key: String!, $profile: ID! = "p1") {
  recordPlayback(input: {profileId: $profile, titleId: "t1", positionSeconds: 1,
                         durationSeconds: 2, idempotencyKey: $key}) {
    profilePlayCount { count } titlePlayCount { count }
  }
}"""
PROFILES = """
query ($ids: [_Any!]!) {
  _entities(representations: $ids) {
    ... on Profile { id viewingHistory { edges { node { id } } } playCount { count } }
  }
}"""


def profiles(*ids: str) -> dict[str, Any]:
    return {"ids": [{"__typename": "Profile", "id": i} for i in ids]}


async def test_a_field_without_its_scope_is_null_with_forbidden_naming_the_scope(
    execute: SchemaRunner,
) -> None:
    result = await execute.execute(
        "{ kvRecord(namespace: \"profile_settings\", id: \"p1\") { id } namespaces { name } }",
        caller=caller("page_views:read"),
    )
    # title_plays is readable by any authenticated caller (authenticated_read).
    assert result.data == {
        "kvRecord": None, "namespaces": [{"name": "title_plays"}, {"name": "page_views"}]
    }
    assert codes(result) == ["FORBIDDEN"]
    assert "profile_settings:read" in result.errors[0].message
    assert "gateway:admin" in result.errors[0].message


async def test_a_refused_write_writes_nothing_and_claims_no_idempotency_key(
    execute: SchemaRunner,
) -> None:
    reader = caller("profile_settings:read")
    refused = await execute.execute(PUT, {"key": "k1"}, caller=reader)
    assert refused.data == {"putItems": None} and codes(refused) == ["FORBIDDEN"]
    assert "profile_settings:write" in refused.errors[0].message
    read = await execute.execute(READ, caller=reader)
    assert read.errors is None
    assert read.data["kvRecord"]["items"]["edges"] == []
    assert not await attempt_recorded(execute.gateway, "putItems", "k1", "user-1")
    writer = caller("profile_settings:write", "profile_settings:read")
    assert (await execute.execute(PUT, {"key": "k1"}, caller=writer)).errors is None
    assert await attempt_recorded(execute.gateway, "putItems", "k1", "user-1")  # where it looks
    read = await execute.execute(READ, caller=reader)
    assert read.data["kvRecord"]["items"]["edges"] == [{"node": {"key": "lang", "text": "en"}}]


async def test_the_write_scope_alone_does_not_read(execute: SchemaRunner) -> None:
    result = await execute.execute(READ, caller=caller("profile_settings:write"))
    assert result.data == {"kvRecord": None} and codes(result) == ["FORBIDDEN"]


async def test_admin_reaches_every_public_namespace_but_no_internal_one(
    execute: SchemaRunner,
) -> None:
    admin = caller("gateway:admin")
    assert (await execute.execute(PUT, {"key": "a1"}, caller=admin)).errors is None
    internal = await execute.execute(READ, {"ns": "internal_kv"}, caller=admin)
    assert internal.data == {"kvRecord": None} and codes(internal) == ["BAD_USER_INPUT"]
    assert "unknown namespace" in internal.errors[0].message
    idem = await execute.execute(READ, {"ns": "idempotency"}, caller=admin)
    assert codes(idem) == ["BAD_USER_INPUT"]
    names = {n["name"] for n in (await execute.execute(
        "{ namespaces { name } }", caller=admin)).data["namespaces"]}
    assert "profile_settings" in names and not names & {"idempotency", "internal_kv"}


async def test_an_anonymous_caller_reaches_nothing(execute: SchemaRunner) -> None:
    result = await execute.execute(
        '{ counter(namespace: "title_plays", name: "t1") { count } namespaces { name } }',
        caller=Caller.anonymous(),
    )
    assert result.data == {"counter": None, "namespaces": []}
    assert codes(result) == ["FORBIDDEN"]


async def test_owner_reads_and_records_own_profile_and_not_another(
    execute: SchemaRunner,
) -> None:
    owner = caller(profiles=("p1",))
    done = await execute.execute(RECORD, {"key": "r1"}, caller=owner)
    assert done.errors is None
    assert done.data["recordPlayback"]["profilePlayCount"]["count"] == "1"
    other = await execute.execute(RECORD, {"key": "r2", "profile": "p2"}, caller=owner)
    assert other.data == {"recordPlayback": None} and codes(other) == ["FORBIDDEN"]
    assert "viewing_history" in other.errors[0].message
    assert not await attempt_recorded(execute.gateway, "recordPlayback", "r2", "user-1")
    seen = await execute.execute(PROFILES, profiles("p1", "p2"), caller=owner)
    mine, theirs = seen.data["_entities"]
    assert len(mine["viewingHistory"]["edges"]) == 1 and mine["playCount"] == {"count": "1"}
    assert theirs == {"id": "p2", "viewingHistory": None, "playCount": None}
    assert sorted(codes(seen)) == ["FORBIDDEN", "FORBIDDEN"]
    assert {tuple(e.path) for e in seen.errors} == {
        ("_entities", 1, "viewingHistory"), ("_entities", 1, "playCount")
    }
    admin = await execute.execute(PROFILES, profiles("p2"), caller=caller("gateway:admin"))
    assert admin.data["_entities"][0]["viewingHistory"]["edges"] == []  # nothing was written
    assert admin.data["_entities"][0]["playCount"] == {"count": "0"}


async def test_a_service_uses_viewing_history_scopes_instead_of_ownership(
    execute: SchemaRunner,
) -> None:
    writer = caller("viewing_history:write", sub="playback-service")
    assert (await execute.execute(RECORD, {"key": "s1", "profile": "p9"}, caller=writer)).errors \
        is None
    reader = caller("viewing_history:read", sub="history-service")
    seen = await execute.execute(PROFILES, profiles("p9"), caller=reader)
    assert seen.errors is None
    assert seen.data["_entities"][0]["playCount"] == {"count": "1"}
    refused = await execute.execute(PROFILES, profiles("p9"), caller=caller("page_views:read"))
    assert codes(refused) == ["FORBIDDEN", "FORBIDDEN"]


async def test_a_titles_play_count_is_public_to_any_authenticated_caller(
    execute: SchemaRunner,
) -> None:
    query = '{ _entities(representations: [{__typename: "Title", id: "t1"}]) ' \
            "{ ... on Title { playCount { count } } } }"
    assert (await execute.execute(query, caller=caller())).errors is None
    anonymous = await execute.execute(query, caller=Caller.anonymous())
    assert codes(anonymous) == ["FORBIDDEN"]
    add = await execute.execute(
        'mutation { addCount(input: {namespace: "title_plays", name: "t1", '
        'idempotencyKey: "x"}) { count } }', caller=caller(profiles=("p1",)),
    )
    assert codes(add) == ["FORBIDDEN"]  # only as part of a playback the owner may record


async def test_counters_refuse_each_counter_the_caller_may_not_read(
    execute: SchemaRunner,
) -> None:
    result = await execute.execute(
        '{ counters(namespace: "profile_plays", names: ["p1", "p2", "p1"]) { name count } }',
        caller=caller(profiles=("p1",)),
    )
    assert result.data["counters"] == [{"name": "p1", "count": "0"}, None,
                                       {"name": "p1", "count": "0"}]
    assert codes(result) == ["FORBIDDEN"] and result.errors[0].path == ["counters", 1]


async def test_the_namespaces_list_shows_only_what_the_caller_may_read(
    execute: SchemaRunner,
) -> None:
    listed = await execute.execute("{ namespaces { name } }", caller=caller(profiles=("p1",)))
    assert {n["name"] for n in listed.data["namespaces"]} == {
        "viewing_history", "profile_plays", "title_plays"
    }
    unrestricted = await execute.execute("{ namespaces { name } }")
    assert len(unrestricted.data["namespaces"]) > 3


async def test_idempotency_keys_belong_to_their_caller(execute: SchemaRunner) -> None:
    one = caller("profile_settings:write", sub="service-a")
    two = caller("profile_settings:write", sub="service-b")
    assert (await execute.execute(PUT, {"key": "same", "id": "a"}, caller=one)).errors is None
    # Another caller's same key with another input is its own write, not a reuse.
    assert (await execute.execute(PUT, {"key": "same", "id": "b"}, caller=two)).errors is None
    reused = await execute.execute(PUT, {"key": "same", "id": "c"}, caller=one)
    assert codes(reused) == ["IDEMPOTENCY_KEY_REUSED"]


async def test_every_decision_is_counted_for_metrics(execute: SchemaRunner) -> None:
    await execute.execute(READ, caller=caller("profile_settings:read"))
    await execute.execute(READ, caller=caller())
    metrics = Metrics()
    metrics.watch(execute.gateway)
    text = metrics.render().decode()
    assert ('subgraph_access_decisions_total{namespace="profile_settings",operation="read",'
            'result="allowed"}') in text
    assert ('subgraph_access_decisions_total{namespace="profile_settings",operation="read",'
            'result="denied"}') in text


async def test_a_mutation_is_decided_and_counted_once_per_record(execute: SchemaRunner) -> None:
    """A mutation checks before it claims its idempotency key and again as it writes, and its
    answer re-checks the write: one decision each, or /metrics would count allowed writes twice."""
    writer = caller("profile_settings:write", profiles=("p1",))
    assert (await execute.execute(PUT, {"key": "k1"}, caller=writer)).errors is None
    assert (await execute.execute(RECORD, {"key": "k2"}, caller=writer)).errors is None
    decisions = execute.gateway.access.decisions.snapshot()
    assert {key: n for key, n in decisions.items() if key[1] == "write"} == {
        ("profile_settings", "write", "allowed"): 1,
        ("viewing_history", "write", "allowed"): 1,
        ("profile_plays", "write", "allowed"): 1,
        ("title_plays", "write", "allowed"): 1,
    }


def _parse(table: dict[str, Any]) -> Any:
    return parse_namespaces({"namespaces": {"ns": {"abstraction": "kv", **table}}}, "f.toml")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"read_scopes": "ns:read"}, "key 'read_scopes' must be an array of scope strings"),
        ({"write_scopes": ["has space"]}, "scope 'has space' must be 1-128 characters"),
        ({"read_scopes": [""]}, "scope '' must be"),
        ({"authenticated_read": 1}, "key 'authenticated_read' must be true or false"),
        ({"derived_from": ["nowhere"]}, "key 'derived_from' names 'nowhere'"),
    ],
)
def test_a_bad_policy_fails_at_load_naming_the_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(NamespaceConfigError, match=re.escape("f.toml: namespace 'ns'")) as info:
        _parse(table)
    assert message in str(info.value)


def test_policy_scopes_default_to_the_namespace_name() -> None:
    from abstractions.access import scopes_for

    ns = _parse({}).get("ns", object)  # type: ignore[arg-type]
    assert scopes_for(ns, "read") == ("ns:read",)
    assert scopes_for(_parse({"read_scopes": ["a", "b"]}).lookup("ns"), "read") == ("a", "b")
