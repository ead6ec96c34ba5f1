"""Idempotency keys: which keys are accepted, the namespace their attempts live in, and a key
sent again: the same input is a retry, another input is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from abstractions.gateway import DataGateway
from abstractions.kv import Item
from abstractions.namespaces import KVNamespace, NamespaceConfigError
from abstractions.tokens import IdempotencyToken
from subgraph.app import Settings, open_gateway
from subgraph.idempotency import MAX_KEY_LENGTH, NAMESPACE

from .conftest import GraphQLClient

KV = 'abstraction = "kv"'


def gateway_with(tmp_path: Path, idempotency_table: str | None) -> DataGateway:
    text = f"[namespaces.profile_settings]\n{KV}\n"
    if idempotency_table is not None:
        text += f"[namespaces.{NAMESPACE}]\n{idempotency_table}\n"
    path = tmp_path / "namespaces.toml"
    path.write_text(text)
    return open_gateway(Settings(f"sqlite:///{tmp_path / 'g.db'}", str(path)))


def test_the_shipped_idempotency_namespace_is_internal(tmp_path: Path) -> None:
    gateway = gateway_with(tmp_path, None)
    assert NAMESPACE not in {ns.name for ns in gateway.namespaces}
    declared = gateway.namespaces.system().get(NAMESPACE, KVNamespace)
    assert declared.internal is True
    assert declared.default_ttl_seconds > 0


def test_a_declared_internal_idempotency_namespace_is_used_as_declared(tmp_path: Path) -> None:
    gateway = gateway_with(tmp_path, f"{KV}\ninternal = true\ndefault_ttl_seconds = 60")
    declared = gateway.namespaces.system().get(NAMESPACE, KVNamespace)
    assert declared.default_ttl_seconds == 60


@pytest.mark.parametrize("table", [
    KV, f"{KV}\ninternal = false", 'abstraction = "counter"\ninternal = true',
])
def test_a_declared_idempotency_namespace_that_is_not_internal_kv_fails_start_up(
    tmp_path: Path, table: str
) -> None:
    with pytest.raises(NamespaceConfigError, match="internal = true") as caught:
        gateway_with(tmp_path, table)
    assert str(tmp_path / "namespaces.toml") in str(caught.value)
    assert repr(NAMESPACE) in str(caught.value)


ADD = """mutation ($key: String!) {
  addCount(input: {namespace: "profile_plays", name: "p1", delta: 1, idempotencyKey: $key}) {
    count
  }
}"""
READ = '{ counter(namespace: "profile_plays", name: "p1") { count } }'


async def count(client: GraphQLClient) -> str:
    return (await client.data(READ))["counter"]["count"]


@pytest.mark.parametrize("key", [
    "", " ", " \t  ", "\n", "\u3000", "a\x00b", "key\n", "tab\there", "\x7f", "c1\x85",
    "x" * (MAX_KEY_LENGTH + 1),
], ids=repr)
async def test_a_blank_too_long_or_control_character_key_is_refused_and_writes_nothing(
    client: GraphQLClient, key: str
) -> None:
    errors = await client.errors(ADD, {"key": key})
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    assert "idempotencyKey" in errors[0]["message"]
    assert await count(client) == "0"


LONE_SURROGATE = "lone\ud800"


@pytest.mark.parametrize("operation", ["addCount", "recordPlayback", "writeEvents"])
async def test_a_key_with_a_lone_surrogate_is_refused(
    client: GraphQLClient, operation: str
) -> None:
    # JSON may escape one (\\ud800) although UTF-8 cannot carry it; httpx will not send it.
    document, first, _ = MUTATIONS[operation]
    variables = {"input": {**first, "idempotencyKey": LONE_SURROGATE}}
    body = json.dumps({"query": document, "variables": variables})
    response = await client.http.post(
        "/graphql", content=body.encode(), headers={"content-type": "application/json"}
    )
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("key", [
    "k", "x" * MAX_KEY_LENGTH, " padded ", "3b1f0c52-playback-1", "ключ-ü-🙂",
], ids=repr)
async def test_a_printable_key_of_1_to_128_characters_is_accepted(
    client: GraphQLClient, key: str
) -> None:
    assert (await client.data(ADD, {"key": key}))["addCount"]["count"] == "1"


# --- a key sent again: the same input is a retry, another input is refused ----------------

async def test_add_count_with_a_used_key_and_another_delta_is_refused_and_adds_nothing(
    client: GraphQLClient,
) -> None:
    variables = {"key": "k"}
    assert (await client.data(ADD, variables))["addCount"]["count"] == "1"
    other = ADD.replace("delta: 1", "delta: 100")
    errors = await client.errors(other, variables)
    assert [e["extensions"]["code"] for e in errors] == ["IDEMPOTENCY_KEY_REUSED"]
    assert "'k'" in errors[0]["message"] and "different" in errors[0]["message"]
    assert await count(client) == "1"
    assert (await client.data(ADD, variables))["addCount"]["count"] == "1"  # a retry


MUTATIONS: dict[str, tuple[str, dict[str, Any], list[dict[str, Any]]]] = {
    # operation: (document, first input, inputs that differ from it in one field each)
    "recordPlayback": (
        "mutation ($input: RecordPlaybackInput!) { recordPlayback(input: $input) "
        "{ event { id startedAt } profilePlayCount { count } } }",
        {"profileId": "p1", "titleId": "t1", "positionSeconds": 300, "durationSeconds": 120,
         "device": "tv"},
        [{"positionSeconds": 301}, {"durationSeconds": 1}, {"titleId": "t2"},
         {"profileId": "p2"}, {"device": None},
         {"startedAt": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}],
    ),
    "putItems": (
        "mutation ($input: PutItemsInput!) { putItems(input: $input) { id } }",
        {"namespace": "profile_settings", "id": "r", "items": [{"key": "a", "text": "1"}]},
        [{"items": [{"key": "a", "text": "2"}]},
         {"items": [{"key": "a", "text": "1"}, {"key": "b", "text": "1"}]},
         {"items": [{"key": "a", "text": "1", "ttlSeconds": 60}]},
         {"items": [{"key": "a", "value": "MQ=="}]},
         {"id": "other"}, {"namespace": "kv_small"}],
    ),
    "deleteItems": (
        "mutation ($input: DeleteItemsInput!) { deleteItems(input: $input) { id } }",
        {"namespace": "profile_settings", "id": "r", "keys": ["a"]},
        [{"keys": ["b"]}, {"keys": ["a", "b"]}, {"keys": None},
         {"keys": None, "start": "a", "end": "b"}, {"id": "other"}],
    ),
    "writeEvents": (
        "mutation ($input: WriteEventsInput!) { writeEvents(input: $input) { eventIds } }",
        {"namespace": "events_short",
         "events": [{"seriesId": "s", "items": [{"key": "k", "text": "v"}]}]},
        [{"events": [{"seriesId": "s", "items": [{"key": "k", "text": "w"}]}]},
         {"events": [{"seriesId": "t", "items": [{"key": "k", "text": "v"}]}]},
         {"events": [{"seriesId": "s", "eventId": "e", "items": [{"key": "k", "text": "v"}]}]},
         {"mode": "FIRE_AND_FORGET"}],
    ),
    "addCount": (
        "mutation ($input: AddCountInput!) { addCount(input: $input) { count } }",
        {"namespace": "profile_plays", "name": "c", "delta": 1},
        [{"delta": 100}, {"delta": "2"}, {"name": "d"}, {"namespace": "page_views"}],
    ),
    "clearCount": (
        "mutation ($input: ClearCountInput!) { clearCount(input: $input) { count } }",
        {"namespace": "profile_plays", "name": "c"},
        [{"name": "d"}, {"namespace": "page_views"}],
    ),
}


@pytest.mark.parametrize("operation", MUTATIONS)
async def test_every_mutation_refuses_its_key_with_another_input_and_answers_a_retry(
    client: GraphQLClient, operation: str
) -> None:
    document, first, changes = MUTATIONS[operation]
    request = {**first, "idempotencyKey": "once"}
    answer = await client.data(document, {"input": request})
    for change in changes:
        errors = await client.errors(document, {"input": {**request, **change}})
        assert [e["extensions"]["code"] for e in errors] == ["IDEMPOTENCY_KEY_REUSED"], change
    assert await client.data(document, {"input": request}) == answer
    # The key is per mutation: another mutation may use it.
    other = "clearCount" if operation != "clearCount" else "addCount"
    document, first, _ = MUTATIONS[other]
    await client.data(document, {"input": {**first, "idempotencyKey": "once"}})


async def test_a_retry_is_recognised_whatever_the_offset_its_time_is_written_in(
    client: GraphQLClient,
) -> None:
    document, first, _ = MUTATIONS["recordPlayback"]
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    request = {**first, "idempotencyKey": "t", "startedAt": at.isoformat()}
    answer = await client.data(document, {"input": request})
    for written in (at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    at.astimezone(timezone(timedelta(hours=2))).isoformat()):
        retry = await client.data(document, {"input": {**request, "startedAt": written}})
        assert retry == answer


async def test_an_attempt_stored_without_a_digest_is_honoured_as_before(
    client: GraphQLClient,
) -> None:
    # What an attempt looked like before digests were kept: its facts are replayed.
    token = IdempotencyToken.new()
    legacy = {"t": token.generation_time, "n": token.nonce, "d": False,
              "f": {"namespace": "profile_plays", "name": "p1", "delta": 3}}
    await client.gateway.system_kv.put_items(
        NAMESPACE, "addCount:old", [Item(b"attempt", json.dumps(legacy).encode())],
        IdempotencyToken.new(),
    )
    other = ADD.replace("delta: 1", "delta: 100")
    assert (await client.data(other, {"key": "old"}))["addCount"]["count"] == "3"
    assert (await client.data(ADD, {"key": "old"}))["addCount"]["count"] == "3"
    assert await count(client) == "3"
