"""`stored_event_fast` makes the same event as `StoredEvent(...)`, still frozen."""

from __future__ import annotations

import dataclasses

import pytest

from backends.base import StoredEvent, stored_event_fast


def test_the_fast_event_is_the_event_the_constructor_makes() -> None:
    items = {"title_id": b"t1", "position_seconds": b"30"}
    fast = stored_event_fast("p1", 1_700_000_000_000_001, "e1", items)
    made = StoredEvent("p1", 1_700_000_000_000_001, "e1", items)
    assert type(fast) is StoredEvent
    assert fast == made and repr(fast) == repr(made)
    assert dataclasses.astuple(fast) == dataclasses.astuple(made)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.event_id = "e2"  # type: ignore[misc]
