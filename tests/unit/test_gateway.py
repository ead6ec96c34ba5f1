"""The data gateway's own wiring: which namespaces each part sees."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from abstractions.gateway import DataGateway
from abstractions.namespaces import load_namespaces
from backends.sqlite import SQLiteStore
from tests.conftest import TEST_NAMESPACES


async def test_start_makes_the_tables_of_internal_namespaces_too(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "gateway.db")
    made: list[str] = []

    async def create_namespace_tables(namespaces: Iterable[Any]) -> None:
        made.extend(ns.name for ns in namespaces)

    store.create_namespace_tables = create_namespace_tables  # type: ignore[attr-defined]
    gateway = DataGateway(store, load_namespaces(TEST_NAMESPACES))
    await gateway.start(background=False)
    await gateway.stop()
    assert {"internal_kv", "internal_events", "internal_counter", "profile_settings"} <= set(made)
    assert "internal_kv" not in {ns.name for ns in gateway.namespaces}


async def test_a_system_view_given_to_the_gateway_still_hides_internal_namespaces(
    tmp_path: Path,
) -> None:
    gateway = DataGateway(SQLiteStore(tmp_path / "gateway.db"),
                          load_namespaces(TEST_NAMESPACES).system())
    assert "internal_kv" not in {ns.name for ns in gateway.namespaces}
