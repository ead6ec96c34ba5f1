"""8. Columnar analytics: DuckDB over the Iceberg archive against SQL over the primary SQLite store.

Two million playback events over the 30 days to now (20,000 profiles, 2,000 titles with a
long-tailed popularity, 5 devices; four items each, as `recordPlayback` writes them) are
bulk-loaded into a SQLite store, the closed days exported to the namespace's Iceberg table
(`export_slices`, timed), then two aggregates are timed both ways, interleaved, in the same run:

- `Title.viewingStats(since, until)` over the month (`plays watchedSeconds distinctProfiles`)
  for the most played title, through the GraphQL schema in process: the archive's Parquet files
  plus the open day from the primary store, one DuckDB query;
- `aggregateEvents(groupBy: ["device"], sum: ["position_seconds"])` over the month, the same way.

The other side is the best single SQL statement for each over the primary store's rows (the
title by the `(ns, item_key, value, slice)` index, joined to its position; every device row
joined to its position), run on the store's reader pool.  The namespace is the shipped
`viewing_history` with a one-hour accept window, so only today's slice is still open (the
shipped seven-day window would leave seven days to the primary side of every aggregate).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

from backends.sqlite.packed import backfill

from . import Options
from .report import Table, Target, fmt

NAME = "analytics_columnar"
EVENTS = 2_000_000
PROFILES = 20_000
TITLES = 2_000
DEVICES = ["tv", "phone", "tablet", "web", "console"]
DAYS = 30
NS = "viewing_history"
DAY = 86_400 * 1_000_000
TARGET_RATIO = 10.0
TARGET_SECONDS = 1.0

TITLE_QUERY = """
query ($ids: [_Any!]!, $since: DateTime!, $until: DateTime!) {
  _entities(representations: $ids) {
    ... on Title { viewingStats(since: $since, until: $until) {
      plays watchedSeconds distinctProfiles } }
  }
}"""
DEVICE_QUERY = """
query ($since: DateTime!, $until: DateTime!) {
  aggregateEvents(namespace: "viewing_history", since: $since, until: $until,
                  groupBy: ["device"], sum: ["position_seconds"]) { keys count sums }
}"""


def _load(db: Path, events: int, now: int) -> tuple[int, str]:
    """Bulk-insert the events (sorted by primary key; secondary indexes built afterwards, as
    the store makes them when it opens); returns (events, the most played title)."""
    rng = random.Random(15)
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(TITLES)]
    per_profile = events // PROFILES
    start = now - DAYS * DAY
    seconds_per_slice = 86_400
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous = OFF")
    for index in ("ts_items_time", "ts_items_value_slice", "ts_items_slice"):
        conn.execute(f"DROP INDEX IF EXISTS {index}")
    plays: dict[str, int] = {}

    def rows() -> Any:
        for p in range(PROFILES):
            series = f"profile-{p:05d}"
            times = sorted(rng.randrange(start, now) for _ in range(per_profile))
            titles = rng.choices(range(TITLES), weights, k=per_profile)
            for i, (t, title) in enumerate(zip(times, titles, strict=True)):
                event_id = f"e{p}-{i}"
                slice_start = t // 1_000_000 - (t // 1_000_000) % seconds_per_slice
                duration = rng.randrange(600, 7200)
                title_id = f"title-{title:04d}"
                plays[title_id] = plays.get(title_id, 0) + 1
                # item_key order inside the primary key: device, duration, position, title
                yield (NS, series, t, event_id, "device", rng.choice(DEVICES).encode(),
                       slice_start)
                yield (NS, series, t, event_id, "duration_seconds", str(duration).encode(),
                       slice_start)
                yield (NS, series, t, event_id, "position_seconds",
                       str(rng.randrange(0, duration)).encode(), slice_start)
                yield (NS, series, t, event_id, "title_id", title_id.encode(), slice_start)

    with conn:
        conn.executemany(
            "INSERT INTO ts_items (ns, series, event_time, event_id, item_key, value, slice)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", rows(),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO ts_slices (ns, slice) VALUES (?, ?)",
            [(NS, (start // 1_000_000 - (start // 1_000_000) % seconds_per_slice)
              + d * seconds_per_slice) for d in range(DAYS + 1)],
        )
        backfill(conn)  # each event's row of packed items, as the store writes beside them
    conn.close()
    top = max(plays, key=lambda k: plays[k])
    return per_profile * PROFILES, top


def _sql_title(title: str, since: int, until: int) -> Any:
    def run(conn: sqlite3.Connection) -> tuple[int, float, int]:
        return conn.execute(
            "SELECT COUNT(*), SUM(num(p.value)), COUNT(DISTINCT a.series)"
            " FROM ts_items AS a INDEXED BY ts_items_value_slice"
            " LEFT JOIN ts_items AS p ON p.ns = a.ns AND p.series = a.series"
            " AND p.event_time = a.event_time AND p.event_id = a.event_id"
            " AND p.item_key = 'position_seconds'"
            " WHERE a.ns = ? AND a.item_key = 'title_id' AND a.value = ?"
            " AND a.event_time >= ? AND a.event_time < ?",
            (NS, title.encode(), since, until),
        ).fetchone()

    return run


def _sql_devices(since: int, until: int) -> Any:
    def run(conn: sqlite3.Connection) -> list[tuple[bytes, int, float]]:
        return conn.execute(
            "SELECT CAST(d.value AS TEXT), COUNT(*), SUM(num(p.value)) FROM ts_items AS d"
            " LEFT JOIN ts_items AS p ON p.ns = d.ns AND p.series = d.series"
            " AND p.event_time = d.event_time AND p.event_id = d.event_id"
            " AND p.item_key = 'position_seconds'"
            " WHERE d.ns = ? AND d.item_key = 'device' AND d.event_time >= ? AND d.event_time < ?"
            " GROUP BY d.value",
            (NS, since, until),
        ).fetchall()

    return run


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def run(options: Options) -> dict[str, Any]:
    return asyncio.run(_run(options))


async def _run(options: Options) -> dict[str, Any]:
    from abstractions.gateway import DataGateway
    from abstractions.namespaces import TimeSeriesNamespace, load_namespaces
    from abstractions.tokens import PageTokens, now_micros
    from backends.sqlite import SQLiteStore
    from subgraph.context import Context
    from subgraph.limits import Limits
    from subgraph.schema import build_schema

    events = int(os.environ.get("SUBGRAPH_BENCH_ANALYTICS_EVENTS", EVENTS))
    runs = options.pick(5, 3)
    with tempfile.TemporaryDirectory(prefix="bench-analytics-") as tmp:
        db = Path(tmp) / "gateway.db"
        shipped = load_namespaces()
        history = shipped.get(NS, TimeSeriesNamespace)
        namespaces = shipped.with_overrides(
            dataclasses.replace(history, accept_window_seconds=3600.0)
        )
        # The store makes its tables (and indexes, after the load) when it opens.
        store = SQLiteStore(db)
        await store.open()
        await store.close()
        now = now_micros()
        began = time.perf_counter()
        loaded, title = await asyncio.to_thread(_load, db, events, now)
        gateway = DataGateway(SQLiteStore(db), namespaces, page_tokens=PageTokens(b"bench"))
        await gateway.start(background=False)  # builds the secondary indexes
        seed_seconds = time.perf_counter() - began
        try:
            began = time.perf_counter()
            exported = await gateway.analytics.export_slices(NS)
            export_seconds = time.perf_counter() - began
            assert gateway.analytics.archive is not None
            parquet = gateway.analytics.archive.size_bytes(NS, history.search_fields)
            since, until = now - DAYS * DAY, now + 1
            open_from = max(since, (max(exported.exported) + 86_400) * 1_000_000)
            open_events = len(await gateway.analytics._rows(
                gateway.namespaces.get(NS, TimeSeriesNamespace), open_from, until, None))
            limits = Limits()
            schema = build_schema(limits, namespaces)
            window = {
                "since": _iso(since), "until": _iso(until),
            }

            async def graphql(query: str, variables: dict[str, Any]) -> Any:
                context = Context.create(gateway, limits)
                result = await schema.execute(
                    query, variable_values=variables, context_value=context
                )
                if result.errors:
                    raise RuntimeError(result.errors[0].message)
                return result.data

            sides = {
                "Title.viewingStats, a month, most played title": (
                    lambda: graphql(TITLE_QUERY, {
                        **window, "ids": [{"__typename": "Title", "id": title}]}),
                    lambda: gateway.store.read(_sql_title(title, since, until)),
                ),
                "aggregateEvents by device, a month": (
                    lambda: graphql(DEVICE_QUERY, window),
                    lambda: gateway.store.read(_sql_devices(since, until)),
                ),
            }
            queries: dict[str, Any] = {}
            for name, (ours, primary) in sides.items():
                answer = await ours()
                expected = await primary()
                _check(name, answer, expected)
                mine, theirs = [], []
                for _ in range(runs):  # interleaved: the two sides share the machine's drift
                    mine.append(await _timed(ours))
                    theirs.append(await _timed(primary))
                queries[name] = {
                    "analytics_ms": median(mine) * 1000, "primary_ms": median(theirs) * 1000,
                    "ratio": median(theirs) / median(mine), "runs": runs,
                }
        finally:
            await gateway.stop()
        sqlite_bytes = _size(db)
    return {
        "events": loaded, "open_events": open_events, "seed_seconds": seed_seconds,
        "export_seconds": export_seconds, "exported_slices": len(exported.exported),
        "parquet_bytes": parquet, "sqlite_bytes": sqlite_bytes, "queries": queries,
        "most_played_title": title,
    }


def _iso(micros: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(micros / 1e6, UTC).isoformat()


def _check(name: str, answer: Any, expected: Any) -> None:
    """Both sides must agree before either is timed."""
    if "Title" in name:
        stats = answer["_entities"][0]["viewingStats"]
        got = (int(stats["plays"]), int(stats["watchedSeconds"]), int(stats["distinctProfiles"]))
        want = (expected[0], round(expected[1] or 0), expected[2])
    else:
        got = sorted((g["keys"][0], int(g["count"]), round(g["sums"][0]))
                     for g in answer["aggregateEvents"])
        want = sorted((d, n, round(s or 0)) for d, n, s in expected)
    if got != want:
        raise RuntimeError(f"{name}: analytics {got} != primary {want}")


async def _timed(fn: Any) -> float:
    began = time.perf_counter()
    await fn()
    return time.perf_counter() - began


def tables(figures: dict[str, Any]) -> list[Table]:
    table = Table(
        "8. Columnar analytics: DuckDB over Iceberg vs SQL over the primary SQLite store",
        ["aggregate", "analytics ms", "primary SQL ms", "speed-up", "runs"],
    )
    for name, f in figures["queries"].items():
        table.rows.append([
            name, fmt(f["analytics_ms"], 1), fmt(f["primary_ms"], 1),
            f"{f['ratio']:.1f}x", str(f["runs"]),
        ])
    table.notes += [
        f"{figures['events']:,} events over {DAYS} days; {figures['open_events']:,} in the open "
        f"day read from the primary store",
        f"seeding {figures['seed_seconds']:.0f} s (bulk insert, indexes after); export of "
        f"{figures['exported_slices']} closed slices {figures['export_seconds']:.1f} s",
        f"Parquet (Iceberg data files) {figures['parquet_bytes'] / 2**20:.1f} MiB vs SQLite "
        f"{figures['sqlite_bytes'] / 2**20:.1f} MiB "
        f"({figures['sqlite_bytes'] / max(figures['parquet_bytes'], 1):.0f}x smaller)",
    ]
    return [table]


def targets(figures: dict[str, Any]) -> list[Target]:
    out = []
    for name, f in figures["queries"].items():
        out.append(Target(f"{name}: analytics vs primary SQL", f">= {TARGET_RATIO:.0f}x",
                          f"{f['ratio']:.1f}x", f["ratio"] >= TARGET_RATIO))
        out.append(Target(f"{name}: analytics time", f"< {TARGET_SECONDS:.0f} s",
                          f"{f['analytics_ms']:.0f} ms",
                          f["analytics_ms"] < TARGET_SECONDS * 1000))
    return out

