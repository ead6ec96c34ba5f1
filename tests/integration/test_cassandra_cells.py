"""The one-cell encoding of a KV item: round trip, and bytes that order like the nonce."""

from __future__ import annotations

import pytest

from backends.base import StoredItem, StoredItems, WriteStamp
from backends.cassandra.kv import _cell, _item, _items


@pytest.mark.parametrize("nonce", ["n", "a\x00b", "\x00", "ünï\x00\x00cödé"])
@pytest.mark.parametrize(("value", "metadata"), [(b"", b""), (b"v\x00\xff", b"\x01m\x00"),
                                                 (b"\x00" * 10, b"")])
def test_cell_round_trip(nonce: str, value: bytes, metadata: bytes) -> None:
    cell = _cell(WriteStamp(1, nonce), StoredItem(b"k", value, metadata))
    assert _item(b"k", cell, None) == StoredItem(b"k", value, metadata, None)
    assert _item(b"k", cell, 0).ttl_seconds is None
    assert _item(b"k", cell, 30).ttl_seconds == 30


def test_cells_order_by_nonce_whatever_the_payload() -> None:
    nonces = ["a", "a\x00", "a\x00b", "ab", "b", "ba", "é"]
    assert nonces == sorted(nonces, key=str.encode)
    payloads = [StoredItem(b"k", b"\xff" * 9, b"\xff"), StoredItem(b"k", b"", b"")]
    for big, small in (payloads, payloads[::-1]):
        cells = [_cell(WriteStamp(1, n), big if i % 2 else small) for i, n in enumerate(nonces)]
        assert cells == sorted(cells)


def _rows(cells: list[tuple[str, StoredItem, int | None]]) -> list[tuple[bytes, bytes, int | None]]:
    return [(i.key, _cell(WriteStamp(1, n), i), ttl) for n, i, ttl in cells]


@pytest.mark.parametrize(
    "cells",
    [
        pytest.param([("n" * 32, StoredItem(b"a", b"1"), None),
                      ("m" * 32, StoredItem(b"b", b"\x00\x00"), None)], id="page-of-plain"),
        pytest.param([("n" * 32, StoredItem(b"a", b"1"), None),
                      ("short", StoredItem(b"b", b"2"), 9)], id="nonces-of-two-lengths"),
        pytest.param([("n\x00n", StoredItem(b"a", b"1"), None),
                      ("nxn", StoredItem(b"b", b"2"), None)], id="escaped-nonce"),
        pytest.param([("nnn", StoredItem(b"a", b"\x00" * 5), 0),
                      ("nnn", StoredItem(b"b", b"z", b"\x01\x01"), 7)], id="one-with-metadata"),
        pytest.param([("nnn", StoredItem(b"a", b""), 30)], id="empty-value-with-ttl"),
        pytest.param([], id="no-rows"),
    ],
)
def test_a_page_of_cells_reads_as_each_cell_alone(
    cells: list[tuple[str, StoredItem, int | None]],
) -> None:
    """The whole-page path (`map` over the cells) and the cell-by-cell one agree."""
    rows = _rows(cells)
    page = _items(rows)
    assert isinstance(page, StoredItems)
    assert list(page) == [_item(key, cell, ttl) for key, cell, ttl in rows]
    assert page == [StoredItem(i.key, i.value, i.metadata, ttl or None) for _, i, ttl in cells]
