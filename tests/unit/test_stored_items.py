"""`StoredItems`: a read's items held as columns behave as a sequence of `StoredItem`s."""

from __future__ import annotations

from backends.base import StoredItem, StoredItems

ITEMS = [StoredItem(b"a", b"1"), StoredItem(b"b", b"2", b"m", 5), StoredItem(b"c", b"3")]


def test_columns_read_as_the_items_they_hold() -> None:
    page = StoredItems.of(ITEMS)
    assert len(page) == 3
    assert page[1] == StoredItem(b"b", b"2", b"m", 5)
    assert page[-1].key == b"c"
    assert list(page) == ITEMS
    assert page == ITEMS and page == tuple(ITEMS) and page == StoredItems.of(ITEMS)
    assert page != ITEMS[:2] and page != "abc"
    assert (page.keys, page.values, page.metadata, page.ttls) == (
        [b"a", b"b", b"c"], [b"1", b"2", b"3"], [b"", b"m", b""], [None, 5, None]
    )


def test_a_slice_of_columns_is_columns() -> None:
    page = StoredItems.of(ITEMS)
    head = page[:2]
    assert isinstance(head, StoredItems)
    assert head == ITEMS[:2]
    assert page[5:] == [] and not page[5:]
    assert StoredItems.of([]) == []
