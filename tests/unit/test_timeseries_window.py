"""An open-ended TimeSeries read ends where a write could still land, not a day ahead."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from abstractions.gateway import DataGateway
from abstractions.namespaces import load_namespaces
from abstractions.timeseries import Event
from backends.clock import advance_clock, now_micros, reset_clock
from backends.sqlite import SQLiteStore
from tests.conftest import TEST_NAMESPACES

NS = "viewing_history"


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[DataGateway]:
    gateway = DataGateway(SQLiteStore(tmp_path / "gateway.db"), load_namespaces(TEST_NAMESPACES))
    await gateway.start(background=False)
    yield gateway
    await gateway.stop()
    reset_clock()


async def test_the_newest_event_a_writer_may_make_is_read_by_a_reader_behind_it(
    gateway: DataGateway,
) -> None:
    """A writer's clock up to the allowed skew ahead, and its event as far past it as a write
    may be: a reader with the slower clock still reads it."""
    settings = gateway.namespaces.settings
    newest = now_micros() + settings.max_future_micros
    await gateway.timeseries.write_events(NS, [Event("p", newest, "e", {"k": b"v"})])
    advance_clock(-settings.max_clock_skew_seconds)
    page = await gateway.timeseries.read_events(NS, "p")
    assert [e.event_id for e in page.events] == ["e"]


async def test_the_store_is_asked_for_no_more_than_a_write_could_reach(
    gateway: DataGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    read_many = gateway.store.ts_read_many

    async def spy(namespace: str, layout: Any, ids: Any, query: Any) -> Any:
        asked.append(query.end)
        return await read_many(namespace, layout, ids, query)

    monkeypatch.setattr(gateway.store, "ts_read_many", spy)
    before = now_micros()
    await gateway.timeseries.read_events_many(NS, ["p"])
    settings = gateway.namespaces.settings
    reach = settings.max_future_micros + int(settings.max_clock_skew_seconds * 1e6)
    assert before + reach < asked[0] <= now_micros() + reach + 1
