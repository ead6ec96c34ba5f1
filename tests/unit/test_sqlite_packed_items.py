"""An event's packed items (SQLite `ts_events`) give back every byte string exactly, and an event
written again keeps the union of its items, the newer value of a key winning."""

from __future__ import annotations

import random

from backends.sqlite.packed import merge, pack, unpack


def test_every_byte_string_comes_back_exactly() -> None:
    rng = random.Random(14)
    for _ in range(2_000):
        items = {
            f"k{i}-\u00e9\u4e2d": rng.randbytes(rng.choice((0, 1, 7, 300)))
            for i in range(rng.randint(1, 6))
        }
        items["every byte"] = bytes(range(256))
        assert unpack(pack(items)) == items


def test_a_merge_keeps_the_union_and_the_newer_value() -> None:
    old = pack({"a": b"1", "b": b"\xff\x00old"})
    new = pack({"b": b"\x00new", "c": b""})
    assert unpack(merge(old, new)) == {"a": b"1", "b": b"\x00new", "c": b""}
