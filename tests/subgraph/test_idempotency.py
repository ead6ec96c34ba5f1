"""Idempotency keys: which keys are accepted, and the namespace their attempts live in."""

from __future__ import annotations

from pathlib import Path

import pytest

from abstractions.gateway import DataGateway
from abstractions.namespaces import KVNamespace, NamespaceConfigError
from subgraph.app import Settings, open_gateway
from subgraph.idempotency import NAMESPACE

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
