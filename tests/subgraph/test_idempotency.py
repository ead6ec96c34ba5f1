"""Idempotency keys: which keys are accepted, and the namespace their attempts live in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abstractions.gateway import DataGateway
from abstractions.namespaces import KVNamespace, NamespaceConfigError
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


async def test_a_key_with_a_lone_surrogate_is_refused(client: GraphQLClient) -> None:
    # JSON may escape one (\\ud800) although UTF-8 cannot carry it; httpx will not send it.
    body = json.dumps({"query": ADD, "variables": {"key": "lone\ud800"}})
    response = await client.http.post(
        "/graphql", content=body.encode(), headers={"content-type": "application/json"}
    )
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert await count(client) == "0"


@pytest.mark.parametrize("key", [
    "k", "x" * MAX_KEY_LENGTH, " padded ", "3b1f0c52-playback-1", "ключ-ü-🙂",
], ids=repr)
async def test_a_printable_key_of_1_to_128_characters_is_accepted(
    client: GraphQLClient, key: str
) -> None:
    assert (await client.data(ADD, {"key": key}))["addCount"]["count"] == "1"
