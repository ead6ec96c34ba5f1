"""Closed slices into the Iceberg table: only closed ones, once, and never half (a real crash)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from abstractions.analytics import Aggregate
from abstractions.errors import InvalidArgument, NamespaceError, Unavailable
from abstractions.gateway import DataGateway
from abstractions.namespaces import Namespaces, TimeSeriesNamespace
from abstractions.tokens import PageTokens
from backends.base import StoredEvent
from backends.iceberg.archive import SLICE_PROPERTY
from backends.sqlite import SQLiteStore
from tests.conftest import TEST_NAMESPACES, environ_without_settings

HOUR = 3600 * 1_000_000
NS = "play_analytics"
ROOT = Path(__file__).resolve().parents[2]
# A fixed "now": 10:00 on a day; slices are hours and close 10 minutes (+1 of grace) after.
NOW = 1_767_261_600 * 1_000_000 + 10 * HOUR
AFTER = NOW + 12 * 60 * 1_000_000  # the slice that ended at NOW is closed


def events(hours_back: range, per_hour: int = 7) -> list[StoredEvent]:
    out = []
    for h in hours_back:
        for i in range(per_hour):
            t = NOW - h * HOUR + i * 1000
            out.append(StoredEvent(
                f"p{i % 3}", t, f"e{h}-{i}",
                {"title_id": f"t{i % 2}".encode(), "device": b"tv",
                 "position_seconds": str(10 * i).encode()},
            ))
    return out


@pytest.fixture
async def gw(tmp_path: Path, namespaces: Namespaces) -> AsyncIterator[DataGateway]:
    gateway = DataGateway(
        SQLiteStore(tmp_path / "gateway.db"), namespaces, page_tokens=PageTokens(b"test")
    )
    await gateway.start(background=False)
    try:
        yield gateway
    finally:
        await gateway.stop()


def ns_of(gw: DataGateway) -> TimeSeriesNamespace:
    return gw.namespaces.get(NS, TimeSeriesNamespace)


async def write(gw: DataGateway, evs: list[StoredEvent]) -> None:
    ns = ns_of(gw)
    await gw.store.ts_write(ns.name, ns.layout, evs)


def table_rows(gw: DataGateway) -> int:
    ns = ns_of(gw)
    assert gw.analytics.archive is not None
    table = gw.analytics.archive.table(ns.name, ns.search_fields)
    return 0 if table.current_snapshot() is None else table.scan().to_arrow().num_rows


def slice_marks(gw: DataGateway) -> list[str]:
    ns = ns_of(gw)
    assert gw.analytics.archive is not None
    table = gw.analytics.archive.table(ns.name, ns.search_fields)
    return [
        s.summary.additional_properties[SLICE_PROPERTY]
        for s in table.metadata.snapshots
        if s.summary and SLICE_PROPERTY in s.summary.additional_properties
    ]


async def test_export_copies_closed_slices_only(gw: DataGateway) -> None:
    # Hours 1..4 back are closed at NOW; the current hour (0 back: its slice started at NOW)
    # is open.
    await write(gw, events(range(0, 5)))
    result = await gw.analytics.export_slices(NS, now=AFTER)
    slices = sorted((NOW - h * HOUR) // 1_000_000 for h in range(1, 5))
    assert result.exported == slices
    assert result.events == 4 * 7
    assert table_rows(gw) == 4 * 7
    assert sorted(int(s) for s in slice_marks(gw)) == slices


async def test_an_open_slice_waits_for_its_accept_window(gw: DataGateway) -> None:
    await write(gw, events(range(1, 2)))
    # The slice ended at NOW; 10 minutes of accept window and a minute of grace not yet past.
    early = await gw.analytics.export_slices(NS, now=NOW + 10 * 60 * 1_000_000)
    assert early.exported == []
    late = await gw.analytics.export_slices(NS, now=NOW + 12 * 60 * 1_000_000)
    assert late.exported == [(NOW - HOUR) // 1_000_000]


async def test_export_twice_leaves_one_copy(gw: DataGateway) -> None:
    await write(gw, events(range(1, 4)))
    first = await gw.analytics.export_slices(NS, now=AFTER)
    second = await gw.analytics.export_slices(NS, now=AFTER)
    assert len(first.exported) == 3 and second.exported == []
    assert sorted(second.skipped) == sorted(first.exported)
    assert table_rows(gw) == 3 * 7
    assert len(slice_marks(gw)) == 3


async def test_export_files_are_sorted_by_series_and_time(gw: DataGateway) -> None:
    await write(gw, events(range(1, 2), per_hour=30))
    await gw.analytics.export_slices(NS, now=AFTER)
    ns = ns_of(gw)
    assert gw.analytics.archive is not None
    plan = gw.analytics.archive.plan(ns.name, ns.search_fields, 0, 2**40)
    assert len(plan.files) == 1
    rows = pq.ParquetFile(plan.files[0]).read().select(["series_id", "event_time"]).to_pylist()
    keys = [(r["series_id"], r["event_time"]) for r in rows]
    assert keys == sorted(keys)


async def test_until_bounds_the_export(gw: DataGateway) -> None:
    await write(gw, events(range(1, 4)))
    result = await gw.analytics.export_slices(NS, until=NOW - 2 * HOUR, now=AFTER)
    assert result.exported == [(NOW - 3 * HOUR) // 1_000_000]


async def test_archive_retention_drops_old_partitions(gw: DataGateway) -> None:
    await write(gw, events(range(1, 3)))
    await gw.analytics.export_slices(NS, now=AFTER)
    assert table_rows(gw) == 14
    later = NOW + 61 * 24 * HOUR  # past the 60 days of analytics_retention_days
    await gw.analytics.export_slices(NS, now=later)
    assert table_rows(gw) == 0
    ns = ns_of(gw)
    assert gw.analytics.archive is not None
    table = gw.analytics.archive.table(ns.name, ns.search_fields)
    assert gw.analytics.archive.exported(table) == frozenset()


async def test_a_namespace_without_analytics_is_refused(gw: DataGateway) -> None:
    with pytest.raises(InvalidArgument, match="does not have analytics enabled"):
        await gw.analytics.export_slices("events_short")
    with pytest.raises(NamespaceError):
        await gw.analytics.export_slices("page_views")


async def test_a_lost_parquet_file_is_an_error_not_zero(gw: DataGateway) -> None:
    await write(gw, events(range(1, 3)))
    await gw.analytics.export_slices(NS, now=AFTER)
    ns = ns_of(gw)
    assert gw.analytics.archive is not None
    plan = gw.analytics.archive.plan(ns.name, ns.search_fields, 0, 2**40)
    os.remove(plan.files[0])
    with pytest.raises(Unavailable):
        await gw.analytics.aggregate(NS, Aggregate(NOW - 3 * HOUR, NOW))


CRASHING_EXPORT = textwrap.dedent("""
    import os, sys
    from pyiceberg.catalog.sql import SqlCatalog

    commits = 0
    real = SqlCatalog.commit_table

    def commit_then_die(self, *args, **kwargs):
        # The second slice's files and manifests are written; die before its commit.
        global commits
        commits += 1
        if commits == 2:
            os._exit(9)
        return real(self, *args, **kwargs)

    SqlCatalog.commit_table = commit_then_die
    from subgraph.__main__ import main
    sys.exit(main(sys.argv[1:]))
""")


def export_process(
    store_url: str, *, crash: bool, namespaces: Path = TEST_NAMESPACES, ns: str = NS,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m subgraph export-slices` in a process of its own; with `crash`, one that
    kills itself with the second slice's files written and its commit not made."""
    code = CRASHING_EXPORT if crash else "import sys\nfrom subgraph.__main__ import main\n" \
        "sys.exit(main(sys.argv[1:]))"
    environ = environ_without_settings()
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", code, "export-slices", ns, "--store", store_url,
         "--namespaces", str(namespaces)],
        check=False, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=180,
    )


async def test_a_crash_between_file_write_and_commit_leaves_the_table_unchanged(
    tmp_path: Path, namespaces: Namespaces
) -> None:
    db = tmp_path / "gateway.db"
    gateway = DataGateway(SQLiteStore(db), namespaces, page_tokens=PageTokens(b"test"))
    await gateway.start(background=False)
    try:
        # Real time here: the subprocess exports what is closed now, 3 and 4 hours back.
        ns = ns_of(gateway)
        now = (time.time_ns() // 1000) // HOUR * HOUR
        evs = [
            StoredEvent("p1", now - h * HOUR + i, f"e{h}-{i}",
                        {"title_id": b"t1", "device": b"tv", "position_seconds": b"5"})
            for h in (3, 4) for i in range(10)
        ]
        await gateway.store.ts_write(ns.name, ns.layout, evs)
    finally:
        await gateway.stop()

    crashed = export_process(f"sqlite:///{db}", crash=True)
    assert crashed.returncode == 9, crashed.stderr
    warehouse = tmp_path / "analytics" / "warehouse"
    orphans = list(warehouse.rglob("*.parquet"))
    assert len(orphans) == 2  # both slices' files were written; one was committed

    gateway = DataGateway(SQLiteStore(db), namespaces, page_tokens=PageTokens(b"test"))
    await gateway.start(background=False)
    try:
        assert len(slice_marks(gateway)) == 1
        assert table_rows(gateway) == 10
        done = export_process(f"sqlite:///{db}", crash=False)
        assert done.returncode == 0, done.stderr
        assert "exported 1 slices (10 events)" in done.stdout
        assert sorted(slice_marks(gateway)) == sorted(
            str((now - h * HOUR) // 1_000_000) for h in (3, 4)
        )
        assert table_rows(gateway) == 20
        again = export_process(f"sqlite:///{db}", crash=False)
        assert "exported 0 slices" in again.stdout and table_rows(gateway) == 20
    finally:
        await gateway.stop()
