"""Analytics and reindex on a Cassandra primary: the slice scan by token range, the export of
closed slices (crash and rerun included) and reindex, which the scan now makes possible."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from abstractions.analytics import Aggregate
from abstractions.gateway import DataGateway
from abstractions.namespaces import TimeSeriesNamespace, load_namespaces
from abstractions.tokens import PageTokens
from backends.base import EventScan, FieldType, StoredEvent, TimeSeriesLayout
from backends.cassandra import CassandraStore
from backends.iceberg import IcebergArchive
from subgraph.reindex import reindex
from tests.conftest import TEST_NAMESPACES
from tests.unit.test_analytics_export import export_process

from .conftest import OpenStore, needs_cassandra, store_url

pytestmark = [pytest.mark.cassandra, needs_cassandra]

HOUR = 3600 * 1_000_000
LAYOUT = TimeSeriesLayout(
    seconds_per_slice=3600, seconds_per_bucket=600, event_buckets=4,
    retention_seconds=400 * 86400,
)


def _events(n: int, base: int, hours: int) -> list[StoredEvent]:
    return [
        StoredEvent(f"s{i % 37}", base + (i * 7919) % (hours * HOUR), f"e{i}",
                    {"title_id": f"t{i % 5}".encode(), "device": b"tv", "pad": bytes([i % 256])})
        for i in range(n)
    ]


async def test_the_scan_yields_every_event_whole_once_in_batches(
    open_store: OpenStore, ns_name: str
) -> None:
    store = await open_store(fetch_size=50)  # many driver pages per token range
    assert isinstance(store, EventScan)
    base = 1_767_225_600 * 1_000_000
    events = _events(1500, base, 3)
    await store.ts_write(ns_name, LAYOUT, events)
    await store.ts_write(ns_name + "x", LAYOUT, [StoredEvent("s0", base, "other", {"a": b"1"})])
    start, end = base + HOUR // 2, base + 5 * HOUR // 2  # inside the first and third slices
    batches = [b async for b in store.ts_scan(ns_name, LAYOUT, start, end, batch=100)]
    assert all(0 < len(b) <= 100 for b in batches)
    seen = [e for b in batches for e in b]
    expected = [e for e in events if start <= e.event_time < end]
    key = lambda e: (e.series_id, e.event_time, e.event_id)  # noqa: E731
    assert sorted(seen, key=key) == sorted(expected, key=key)
    assert len({key(e) for e in seen}) == len(seen)


class RecordingIndex:
    """A SearchIndex that keeps what it is given (the search cluster is not what this test is
    about: tests/search reindexes into OpenSearch and Elasticsearch)."""

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def index_events(
        self, namespace: str, layout: TimeSeriesLayout, fields: Mapping[str, FieldType],
        events: Sequence[StoredEvent], *, refresh_seconds: float = 1.0,
    ) -> None:
        self.events.extend(events)

    async def drop_slices_before(self, *args: object) -> list[int]:
        return []

    async def search(self, *args: object) -> list[StoredEvent]:
        return []

    async def distinct(self, *args: object) -> list[tuple[bytes, int]]:
        return []


async def test_reindex_reads_a_cassandra_primary_by_its_scan(tmp_path: Path) -> None:
    namespaces = load_namespaces(TEST_NAMESPACES)
    index = RecordingIndex()
    store = CassandraStore.from_url(store_url())
    gateway = DataGateway(store, namespaces, search_index=index,  # type: ignore[arg-type]
                          page_tokens=PageTokens(b"test"),
                          archive=IcebergArchive.in_directory(tmp_path / "analytics"))
    await gateway.start(background=False)
    try:
        ns = gateway.namespaces.get("viewing_history", TimeSeriesNamespace)
        uid = uuid.uuid4().hex[:8]
        now = time.time_ns() // 1000
        events = [StoredEvent(f"r{uid}{i % 4}", now - i * 1000, f"e{i}", {"title_id": b"t"})
                  for i in range(40)]
        await gateway.timeseries.write_events(ns.name, events)
        index.events.clear()  # the write indexed them; the reindex must find them again
        result = await reindex(gateway, ns.name, start=now - HOUR, end=now + 1)
        mine = [e for e in index.events if e.series_id.startswith(f"r{uid}")]
        assert sorted(e.event_id for e in mine) == sorted(e.event_id for e in events)
        assert result.events >= 40
    finally:
        await gateway.stop()


async def test_export_from_cassandra_survives_a_crash_and_a_rerun(tmp_path: Path) -> None:
    uid = uuid.uuid4().hex[:8]
    ns_name = f"it_analytics_{uid}"
    toml = tmp_path / "namespaces.toml"
    toml.write_text(TEST_NAMESPACES.read_text() + f"""
[namespaces.{ns_name}]
abstraction = "timeseries"
seconds_per_slice = 3600
seconds_per_bucket = 600
event_buckets = 2
retention_days = 30
accept_window_seconds = 600
analytics = true
analytics_retention_days = 60
search_fields = {{ title_id = "keyword", device = "keyword", position_seconds = "numeric" }}
""")
    namespaces = load_namespaces(toml)
    env = {
        "SUBGRAPH_ANALYTICS_CATALOG": f"sqlite:///{tmp_path / 'catalog.db'}",
        "SUBGRAPH_ANALYTICS_WAREHOUSE": (tmp_path / "warehouse").as_uri(),
    }
    archive = IcebergArchive(env["SUBGRAPH_ANALYTICS_CATALOG"],
                             env["SUBGRAPH_ANALYTICS_WAREHOUSE"])
    gateway = DataGateway(CassandraStore.from_url(store_url()), namespaces,
                          page_tokens=PageTokens(b"test"), archive=archive)
    await gateway.start(background=False)
    try:
        ns = gateway.namespaces.get(ns_name, TimeSeriesNamespace)
        now = (time.time_ns() // 1000) // HOUR * HOUR
        events = [
            StoredEvent(f"p{i % 3}", now - h * HOUR + i, f"e{h}-{i}",
                        {"title_id": f"t{i % 2}".encode(), "device": b"tv",
                         "position_seconds": b"5"})
            for h in (3, 4) for i in range(25)
        ] + [StoredEvent("p0", now + 1, "open", {"device": b"tv"})]  # the open slice
        await gateway.store.ts_write(ns.name, ns.layout, events)

        crashed = export_process(store_url(), crash=True, namespaces=toml, ns=ns_name, env=env)
        assert crashed.returncode == 9, crashed.stderr
        table = archive.table(ns.name, ns.search_fields)
        assert len(archive.exported(table)) == 1  # the second commit never happened

        done = export_process(store_url(), crash=False, namespaces=toml, ns=ns_name, env=env)
        assert done.returncode == 0, done.stderr
        assert "exported 1 slices (25 events)" in done.stdout
        again = export_process(store_url(), crash=False, namespaces=toml, ns=ns_name, env=env)
        assert "exported 0 slices" in again.stdout
        table = archive.table(ns.name, ns.search_fields)
        assert table.scan().to_arrow().num_rows == 50

        found = await gateway.analytics.aggregate(
            ns.name, Aggregate(now - 5 * HOUR, now + HOUR, group_by=("device",),
                               sums=("position_seconds",)),
        )
        assert [(g.keys, g.count, g.sums) for g in found[""]] == [(("tv",), 51, (250.0,))]
    finally:
        await gateway.stop()
