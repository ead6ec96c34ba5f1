"""The one-cell encoding of a KV item: round trip, and bytes that order like the nonce."""

from __future__ import annotations

import pytest

from backends.base import StoredItem, WriteStamp
from backends.cassandra.kv import _cell, _item


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
