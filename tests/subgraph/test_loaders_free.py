"""What a request read goes when the request does, not when the garbage collector next runs.

graphql-core's executor is a reference cycle that holds the request's context, whose loaders
hold every page the request read: until a collection found it, all of it stayed, and made each
collection long (issue 14's latency spikes). `FastExecutor.build_response` breaks that cycle
once the response is built, and the loaders' batch functions do not point back at them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from abstractions.timeseries import EventPage, TimeSeries

from .conftest import SchemaRunner
from .test_loaders import HISTORY_AND_COUNTS, seed_profiles


@pytest.fixture
def gc_off() -> Iterator[None]:
    """Only reference counts free anything while the test runs."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def test_the_pages_a_request_read_are_freed_when_it_ends(
    execute: SchemaRunner, monkeypatch: pytest.MonkeyPatch, gc_off: None
) -> None:
    await seed_profiles(execute.gateway, 20)
    pages: set[int] = set()  # ids only: a reference kept here would keep them alive
    read = TimeSeries.read_events_many

    async def watched(self: TimeSeries, *args: Any, **kwargs: Any) -> Any:
        found = await read(self, *args, **kwargs)
        pages.update(id(page) for page in found.values())
        return found

    monkeypatch.setattr(TimeSeries, "read_events_many", watched)
    result = await execute.execute(
        HISTORY_AND_COUNTS, {"reps": [{"__typename": "Profile", "id": f"p{i}"} for i in range(20)]}
    )
    assert result.errors is None and len(result.data["_entities"]) == 20
    assert len(pages) == 20
    del result
    alive = [o for o in gc.get_objects() if type(o) is EventPage and id(o) in pages]
    assert alive == []


async def test_a_request_leaves_no_reference_cycle_behind(
    execute: SchemaRunner, gc_off: None
) -> None:
    """Nothing of a request needs the collector: not the executor, not its context."""
    await seed_profiles(execute.gateway, 20)

    def reps() -> dict[str, Any]:  # fresh each time: resolving one takes its __typename
        return {"reps": [{"__typename": "Profile", "id": f"p{i}"} for i in range(20)]}

    await execute.execute(HISTORY_AND_COUNTS, reps())  # warm: caches filled, plans compiled
    gc.collect()
    result = await execute.execute(HISTORY_AND_COUNTS, reps())
    assert result.errors is None
    del result
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        left = [type(o).__qualname__ for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == []
