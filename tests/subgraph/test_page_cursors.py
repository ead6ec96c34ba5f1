"""Cursors signed with keys kept in the store: good on every gateway over it, across restarts,
and through a key rotation until its grace period ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from abstractions import signing_keys
from abstractions.gateway import DataGateway
from abstractions.kv import Item
from abstractions.namespaces import KVNamespace, NamespaceConfigError
from abstractions.tokens import IdempotencyToken
from backends.clock import advance_clock, reset_clock
from backends.sqlite import SQLiteStore
from subgraph.app import Settings, create_app
from tests.conftest import make_store

from .conftest import GraphQLClient, subgraph_namespaces

ITEMS = """
query ($first: Int!, $after: String) {
  kvRecord(namespace: "profile_settings", id: "r1") {
    items(first: $first, after: $after) {
      edges { node { key } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
KEYS = [f"k{i}" for i in range(6)]


@pytest.fixture(autouse=True)
def store_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No secret in the environment (the keys come from the store); the clock put back after."""
    monkeypatch.delenv("SUBGRAPH_TOKEN_SECRET", raising=False)
    monkeypatch.delenv("SUBGRAPH_TOKEN_SECRET_PREVIOUS", raising=False)
    yield
    reset_clock()


def gateway_over(db: Path) -> DataGateway:
    """A gateway as `serve` makes one: no secret given, so it signs with the store's keys."""
    return DataGateway(SQLiteStore(db), subgraph_namespaces())


@contextlib.asynccontextmanager
async def serving(gateway: DataGateway, db: Path) -> AsyncIterator[GraphQLClient]:
    app = create_app(Settings(store_url=f"sqlite:///{db}"), gateway=gateway)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http,
    ):
        yield GraphQLClient(http, gateway)


async def put_keys(gateway: DataGateway) -> None:
    await gateway.kv.put_items("profile_settings", "r1", [Item(k.encode(), b"v") for k in KEYS],
                               IdempotencyToken.new())


async def page(client: GraphQLClient, after: str | None = None) -> tuple[list[str], str]:
    """Two keys after `after`, and the cursor of the next page."""
    data = await client.data(ITEMS, {"first": 2, "after": after})
    items = data["kvRecord"]["items"]
    return [e["node"]["key"] for e in items["edges"]], items["pageInfo"]["endCursor"]


async def refused(client: GraphQLClient, after: str) -> dict[str, Any]:
    [error] = await client.errors(ITEMS, {"first": 2, "after": after})
    return error


async def stored_keys(gateway: DataGateway) -> list[bytes]:
    found = await gateway.system_kv.get_items(signing_keys.NAMESPACE, signing_keys.RECORD)
    return [item.key for item in found.items]


async def test_gateways_over_one_store_started_together_page_with_each_others_cursors(
    db_path: Path,
) -> None:
    a, b = gateway_over(db_path), gateway_over(db_path)
    async with contextlib.AsyncExitStack() as stack:
        # Started at once: both may find no key and write one; neither's cursors may be lost.
        client_a, client_b = await asyncio.gather(
            stack.enter_async_context(serving(a, db_path)),
            stack.enter_async_context(serving(b, db_path)),
        )
        await put_keys(a)
        first, cursor_a = await page(client_a)
        assert first == ["k0", "k1"]
        second, cursor_b = await page(client_b, cursor_a)
        assert second == ["k2", "k3"]
        assert (await page(client_a, cursor_b))[0] == ["k4", "k5"]
        assert 1 <= len(await stored_keys(a)) <= 2


async def test_a_cursor_survives_a_restart_and_the_restart_makes_no_new_key(
    db_path: Path,
) -> None:
    first = gateway_over(db_path)
    async with serving(first, db_path) as client:
        await put_keys(first)
        _, cursor = await page(client)
        keys = await stored_keys(first)
    assert len(keys) == 1
    again = gateway_over(db_path)
    async with serving(again, db_path) as client:
        assert (await page(client, cursor))[0] == ["k2", "k3"]
        assert await stored_keys(again) == keys


async def test_after_a_rotation_old_cursors_page_until_the_grace_period_ends(
    db_path: Path,
) -> None:
    a, b = gateway_over(db_path), gateway_over(db_path)
    async with serving(a, db_path) as client_a, serving(b, db_path) as client_b:
        await put_keys(a)
        _, old_cursor = await page(client_a)
        assert a.signing_keys is not None and b.signing_keys is not None
        old_key = a.page_tokens.signing_key

        new_key = await a.signing_keys.rotate(grace_seconds=3600)
        assert a.page_tokens.signing_key == new_key != old_key
        # b has not reloaded yet: it still signs with the old key, and a cursor of the new one
        # makes it reload (an unknown key) rather than refuse it.
        assert b.page_tokens.signing_key.secret == old_key.secret
        _, new_cursor = await page(client_a)
        assert (await page(client_b, new_cursor))[0] == ["k2", "k3"]
        assert b.page_tokens.signing_key == new_key
        for client in (client_a, client_b):
            assert (await page(client, old_cursor))[0] == ["k2", "k3"]

        advance_clock(3601)
        for client in (client_a, client_b):
            error = await refused(client, old_cursor)
            assert error["extensions"]["code"] == "BAD_USER_INPUT"
            assert "rotated out" in error["message"]
            assert (await page(client, new_cursor))[0] == ["k2", "k3"]


async def test_every_process_picks_up_a_rotation_within_its_refresh_interval(
    db_path: Path,
) -> None:
    a, b = gateway_over(db_path), gateway_over(db_path)
    async with serving(a, db_path), serving(b, db_path):
        assert b.signing_keys is not None
        await b.signing_keys.stop()
        b.signing_keys = signing_keys.SigningKeys(b.system_kv, b.page_tokens,
                                                  refresh_seconds=0.05)
        await b.signing_keys.start()
        try:
            assert a.signing_keys is not None
            new_key = await a.signing_keys.rotate()
            for _ in range(100):
                if b.page_tokens.signing_key == new_key:
                    break
                await asyncio.sleep(0.02)
            assert b.page_tokens.signing_key == new_key
        finally:
            await b.signing_keys.stop()


async def test_the_secret_from_the_environment_overrides_the_store_keys(
    db_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SUBGRAPH_TOKEN_SECRET", "operator-secret")
    gateway = gateway_over(db_path)
    assert gateway.signing_keys is None
    async with serving(gateway, db_path) as client:
        await put_keys(gateway)
        _, cursor = await page(client)
        assert await stored_keys(gateway) == []
    monkeypatch.delenv("SUBGRAPH_TOKEN_SECRET")
    other = gateway_over(db_path)
    async with serving(other, db_path) as client:
        assert (await refused(client, cursor))["extensions"]["code"] == "BAD_USER_INPUT"


async def test_callers_cannot_name_the_signing_keys_namespace(db_path: Path) -> None:
    gateway = gateway_over(db_path)
    async with serving(gateway, db_path) as client:
        [error] = await client.errors(
            '{ kvRecord(namespace: "signing_keys", id: "page_tokens") { items { edges {'
            " node { key value } } } } }"
        )
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "unknown namespace" in error["message"]
        assert "signing_keys" not in str(await client.data("{ namespaces { name } }"))


def test_a_declared_signing_keys_namespace_must_be_internal(db_path: Path) -> None:
    public = KVNamespace(name="signing_keys")
    with pytest.raises(NamespaceConfigError, match="internal = true"):
        DataGateway(SQLiteStore(db_path), subgraph_namespaces(public))
    declared = KVNamespace(name="signing_keys", internal=True, page_items=50)
    DataGateway(SQLiteStore(db_path), subgraph_namespaces(declared))  # accepted as declared


async def test_two_processes_that_both_found_no_key_keep_both_and_converge_on_the_newest(
    db_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    load = signing_keys.SigningKeys.load
    raced: set[int] = set()

    async def first_load_finds_nothing(self: signing_keys.SigningKeys) -> list[Any]:
        if id(self) not in raced:  # as if both read before either wrote
            raced.add(id(self))
            return []
        return await load(self)

    monkeypatch.setattr(signing_keys.SigningKeys, "load", first_load_finds_nothing)
    a, b = gateway_over(db_path), gateway_over(db_path)
    async with serving(a, db_path) as client_a, serving(b, db_path) as client_b:
        assert len(await stored_keys(a)) == 2
        assert a.page_tokens.signing_key != b.page_tokens.signing_key
        await put_keys(a)
        _, cursor_a = await page(client_a)
        _, cursor_b = await page(client_b)
        assert (await page(client_b, cursor_a))[0] == ["k2", "k3"]
        assert (await page(client_a, cursor_b))[0] == ["k2", "k3"]  # a reloads: b's key is new
        assert a.page_tokens.signing_key == b.page_tokens.signing_key


async def test_gateways_over_one_store_of_any_backend_accept_each_others_cursors(
    backend: str, tmp_path: Path, uid: str,
) -> None:
    a = DataGateway(make_store(backend, tmp_path), subgraph_namespaces())
    b = DataGateway(make_store(backend, tmp_path), subgraph_namespaces())
    await asyncio.gather(a.start(background=False), b.start(background=False))
    try:
        await a.kv.put_items("profile_settings", uid, [Item(k.encode(), b"v") for k in KEYS],
                             IdempotencyToken.new())
        first = await a.kv.get_items("profile_settings", uid, limit=2)
        second = await b.kv.get_items("profile_settings", uid, limit=2,
                                      page_token=first.next_page_token)
        third = await a.kv.get_items("profile_settings", uid, limit=2,
                                     page_token=second.next_page_token)
        assert [i.key for i in second.items + third.items] == [b"k2", b"k3", b"k4", b"k5"]
        assert await stored_keys(a) == await stored_keys(b) != []
    finally:
        await asyncio.gather(a.stop(), b.stop())
