"""Namespaces as every abstraction sees them: named on every call, checked, kept apart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from abstractions.errors import NamespaceError
from abstractions.gateway import DataGateway
from abstractions.kv import Item
from abstractions.namespaces import (
    CounterNamespace,
    KVNamespace,
    RelationalNamespace,
    TimeSeriesNamespace,
)
from abstractions.tokens import IdempotencyToken, now_micros
from backends.base import Condition, StoredEvent

Operation = Callable[[DataGateway, str, str], Awaitable[object]]


def event(series: str) -> StoredEvent:
    return StoredEvent(series, now_micros() - 1_000_000, "e", {"k": b"v"})


async def checked(check: Callable[..., None], *args: object) -> None:
    """A check_* method (synchronous) as an operation."""
    check(*args)


OPERATIONS: dict[str, tuple[str, Operation]] = {
    "kv.put_items": ("kv", lambda gw, ns, uid: gw.kv.put_items(
        ns, uid, [Item(b"k", b"v")], IdempotencyToken.new())),
    "kv.get_items": ("kv", lambda gw, ns, uid: gw.kv.get_items(ns, uid)),
    "kv.get_items_many": ("kv", lambda gw, ns, uid: gw.kv.get_items_many(ns, [uid])),
    "kv.delete_items": ("kv", lambda gw, ns, uid: gw.kv.delete_items(
        ns, uid, IdempotencyToken.new())),
    "kv.scan_ids": ("kv", lambda gw, ns, uid: gw.kv.scan_ids(ns)),
    "ts.write_events": ("timeseries", lambda gw, ns, uid: gw.timeseries.write_events(
        ns, [event(uid)])),
    "ts.write_events_async": ("timeseries", lambda gw, ns, uid: gw.timeseries.write_events_async(
        ns, [event(uid)])),
    "ts.read_events": ("timeseries", lambda gw, ns, uid: gw.timeseries.read_events(ns, uid)),
    "ts.read_events_many": ("timeseries", lambda gw, ns, uid: gw.timeseries.read_events_many(
        ns, [uid])),
    "ts.search_events": ("timeseries", lambda gw, ns, uid: gw.timeseries.search_events(
        ns, [Condition("k", "eq", "v")])),
    "ts.aggregate_distinct": ("timeseries", lambda gw, ns, uid: gw.timeseries.aggregate_distinct(
        ns, "k")),
    "ts.apply_retention": ("timeseries", lambda gw, ns, uid: gw.timeseries.apply_retention(ns)),
    "counter.add": ("counter", lambda gw, ns, uid: gw.counters.add(
        ns, uid, 1, IdempotencyToken.new())),
    "counter.add_and_get": ("counter", lambda gw, ns, uid: gw.counters.add_and_get(
        ns, uid, 1, IdempotencyToken.new())),
    "counter.get": ("counter", lambda gw, ns, uid: gw.counters.get(ns, uid)),
    "counter.get_many": ("counter", lambda gw, ns, uid: gw.counters.get_many(ns, [uid])),
    "counter.clear": ("counter", lambda gw, ns, uid: gw.counters.clear(
        ns, uid, IdempotencyToken.new())),
    "counter.rollup": ("counter", lambda gw, ns, uid: gw.counters.rollup(ns, [uid])),
    "kv.check_put": ("kv", lambda gw, ns, uid: checked(
        gw.kv.check_put, ns, uid, [Item(b"k", b"v")])),
    "kv.check_delete": ("kv", lambda gw, ns, uid: checked(gw.kv.check_delete, ns, uid)),
    "ts.check_events": ("timeseries", lambda gw, ns, uid: checked(
        gw.timeseries.check_events, ns, [event(uid)])),
    "counter.check_add": ("counter", lambda gw, ns, uid: checked(
        gw.counters.check_add, ns, uid, 1)),
    "counter.check_clear": ("counter", lambda gw, ns, uid: checked(
        gw.counters.check_clear, ns, uid)),
}

# For each abstraction, a namespace of another one, and that one's name.
FOREIGN = {
    "kv": ("events_short", "timeseries"),
    "timeseries": ("profile_plays", "counter"),
    "counter": ("kv_small", "kv"),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_unknown_namespace_is_a_namespace_error(
    gateway: DataGateway, uid: str, operation: str
) -> None:
    _, call = OPERATIONS[operation]
    with pytest.raises(NamespaceError, match="'no_such_namespace'") as caught:
        await call(gateway, "no_such_namespace", uid)
    assert caught.value.code == "BAD_USER_INPUT"


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_namespace_of_another_abstraction_is_a_namespace_error(
    gateway: DataGateway, uid: str, operation: str
) -> None:
    kind, call = OPERATIONS[operation]
    foreign, other = FOREIGN[kind]
    with pytest.raises(NamespaceError, match=f"'{foreign}' is a {other} namespace, not {kind}"):
        await call(gateway, foreign, uid)


# For each abstraction, an internal namespace of that abstraction (tests/namespaces.toml).
INTERNAL = {"kv": "internal_kv", "timeseries": "internal_events", "counter": "internal_counter"}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_an_internal_namespace_is_refused_as_unknown(
    gateway: DataGateway, uid: str, operation: str
) -> None:
    kind, call = OPERATIONS[operation]
    with pytest.raises(NamespaceError) as caught:
        await call(gateway, INTERNAL[kind], uid)
    assert str(caught.value) == f"unknown namespace {INTERNAL[kind]!r}"


async def test_the_system_kv_reaches_an_internal_namespace(
    gateway: DataGateway, uid: str
) -> None:
    # Its tables exist (made at start like every other namespace's) and it keeps its records.
    await gateway.system_kv.put_items("internal_kv", uid, [Item(b"k", b"v")],
                                      IdempotencyToken.new())
    page = await gateway.system_kv.get_items("internal_kv", uid)
    assert [(i.key, i.value) for i in page.items] == [(b"k", b"v")]
    with pytest.raises(NamespaceError, match="unknown namespace 'internal_kv'"):
        await gateway.kv.get_items("internal_kv", uid)


async def test_same_ids_in_two_namespaces_are_separate(gateway: DataGateway, uid: str) -> None:
    await gateway.kv.put_items("kv_small", uid, [Item(b"k", b"small")], IdempotencyToken.new())
    await gateway.kv.put_items(
        "profile_settings", uid, [Item(b"k", b"big")], IdempotencyToken.new()
    )
    await gateway.kv.delete_items("kv_small", uid, IdempotencyToken.new())
    assert (await gateway.kv.get_items("kv_small", uid)).items == []
    assert [i.value for i in (await gateway.kv.get_items("profile_settings", uid)).items] == [
        b"big"
    ]

    await gateway.timeseries.write_events("viewing_history", [event(uid)])
    assert (await gateway.timeseries.read_events("events_short", uid)).events == []
    assert len((await gateway.timeseries.read_events("viewing_history", uid)).events) == 1

    await gateway.counters.add("counter_accurate_fast", uid, 3, IdempotencyToken.new())
    await gateway.counters.add("profile_plays", uid, 5, IdempotencyToken.new())
    await gateway.counters.add("page_views", uid, 7)
    assert await gateway.counters.get("counter_accurate_fast", uid) == 3
    assert await gateway.counters.get("profile_plays", uid) == 5
    assert await gateway.counters.get("page_views", uid) == 7


async def test_every_configured_namespace_serves_its_abstraction(
    gateway: DataGateway, uid: str
) -> None:
    names = {ns.name for ns in gateway.namespaces}
    assert {"viewing_history", "title_plays", "profile_plays", "page_views",
            "profile_settings"} <= names
    for ns in gateway.namespaces:
        if isinstance(ns, KVNamespace):
            await gateway.kv.put_items(ns.name, uid, [Item(b"k", b"v")], IdempotencyToken.new())
            page = await gateway.kv.get_items(ns.name, uid)
            assert [(i.key, i.value) for i in page.items] == [(b"k", b"v")], ns.name
        elif isinstance(ns, TimeSeriesNamespace):
            written = event(uid)
            await gateway.timeseries.write_events(ns.name, [written])
            assert (await gateway.timeseries.read_events(ns.name, uid)).events == [written]
        elif isinstance(ns, RelationalNamespace):
            table = next(iter(ns.tables.values()))
            assert await gateway.relational.get_rows(ns.name, table.name, []) == []
        else:
            assert isinstance(ns, CounterNamespace)
            got = await gateway.counters.add_and_get(ns.name, uid, 2, IdempotencyToken.new())
            assert got == (0 if ns.mode == "eventual" else 2), ns.name
