"""The abstractions' check_* methods: they refuse exactly what the write would refuse, and write
nothing, so a caller with several writes can check them all before the first."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from abstractions.errors import ClientError
from abstractions.gateway import DataGateway
from abstractions.kv import Item
from abstractions.tokens import IdempotencyToken, now_micros
from backends.base import StoredEvent

KV = "kv_small"  # at most 50 items per request
EVENTS = "events_short"  # accept window of 30 s
COUNTER = "counter_accurate_fast"


def event(series: str, *, seconds_ago: float = 1, **items: bytes) -> StoredEvent:
    return StoredEvent(series, now_micros() - int(seconds_ago * 1e6), "e", items or {"k": b"v"})


# name -> (the check, the write it stands for), each over (gateway, uid, bad input).
Pair = tuple[Callable[[DataGateway, str, Any], None],
             Callable[[DataGateway, str, Any], Awaitable[object]]]
PAIRS: dict[str, Pair] = {
    "put": (lambda gw, uid, items: gw.kv.check_put(KV, uid, items),
            lambda gw, uid, items: gw.kv.put_items(KV, uid, items, IdempotencyToken.new())),
    "delete": (lambda gw, uid, sel: gw.kv.check_delete(KV, uid, **sel),
               lambda gw, uid, sel: gw.kv.delete_items(KV, uid, IdempotencyToken.new(), **sel)),
    "events": (lambda gw, uid, events: gw.timeseries.check_events(EVENTS, events),
               lambda gw, uid, events: gw.timeseries.write_events(EVENTS, events)),
    "add": (lambda gw, uid, args: gw.counters.check_add(COUNTER, *args),
            lambda gw, uid, args: gw.counters.add(COUNTER, *args, IdempotencyToken.new())),
    "clear": (lambda gw, uid, name: gw.counters.check_clear(COUNTER, name),
              lambda gw, uid, name: gw.counters.clear(COUNTER, name, IdempotencyToken.new())),
}
BAD: list[tuple[str, Callable[[str], Any]]] = [
    ("put", lambda uid: []),
    ("put", lambda uid: [Item(b"k", b"v"), Item(b"k", b"w")]),
    ("put", lambda uid: [Item(b"k%d" % i, b"v") for i in range(51)]),
    ("delete", lambda uid: {"keys": [b"a"], "start": b"b"}),
    ("delete", lambda uid: {"start": b"b", "end": b"a"}),
    ("events", lambda uid: [event(uid), event(uid, seconds_ago=60)]),
    ("events", lambda uid: [event(uid), event("")]),
    ("add", lambda uid: ("", 1)),
    ("add", lambda uid: (uid, 2**63)),
    ("clear", lambda uid: "c" * 257),
]


@pytest.mark.parametrize(("pair", "bad"), BAD, ids=[f"{p}-{i}" for i, (p, _) in enumerate(BAD)])
async def test_a_check_refuses_what_the_write_refuses_and_writes_nothing(
    gateway: DataGateway, uid: str, pair: str, bad: Callable[[str], Any]
) -> None:
    check, write = PAIRS[pair]
    given = bad(uid)
    with pytest.raises(ClientError) as checked:
        check(gateway, uid, given)
    with pytest.raises(ClientError) as written:
        await write(gateway, uid, given)
    assert (type(checked.value), str(checked.value)) == (type(written.value), str(written.value))
    assert (await gateway.kv.get_items(KV, uid)).items == []
    assert (await gateway.timeseries.read_events(EVENTS, uid)).events == []
    assert await gateway.counters.get(COUNTER, uid) == 0


async def test_checks_accept_valid_input_without_writing(gateway: DataGateway, uid: str) -> None:
    gateway.kv.check_put(KV, uid, [Item(b"k", b"v")])
    gateway.kv.check_delete(KV, uid, keys=[b"k"])
    gateway.timeseries.check_events(EVENTS, [event(uid)])
    gateway.counters.check_add(COUNTER, uid, 5)
    gateway.counters.check_clear(COUNTER, uid)
    assert (await gateway.kv.get_items(KV, uid)).items == []
    assert (await gateway.timeseries.read_events(EVENTS, uid)).events == []
    assert await gateway.counters.get(COUNTER, uid) == 0
