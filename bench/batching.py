"""3. Batching: calls into the abstractions per request, for N = 1, 10, 100 and 1000 entities.

The query of benchmark 1 with N distinct Profile representations, through the real schema and a
real `DataGateway` over a temporary SQLite store holding every profile's history and play count.
`DataGateway.calls` (what /metrics exports) is read before and after each request: the
dataloaders must turn N entities into the same few batch calls whatever N.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from abstractions.gateway import DataGateway
from abstractions.namespaces import load_namespaces
from abstractions.tokens import IdempotencyToken, PageTokens, now_micros
from backends.sqlite import SQLiteStore
from subgraph.context import Context
from subgraph.limits import Limits
from subgraph.schema import build_schema

from . import Options
from .doubles import playback_event, profile_ids
from .graphql_exec import QUERY, representations
from .report import Table, Target, fmt
from .timing import summary, timed

NAME = "batching"
SIZES = (1, 10, 100, 1000)
EVENTS = 3


async def seed(gateway: DataGateway, profiles: list[str]) -> None:
    now = now_micros()
    events = [playback_event(p, n, now=now) for p in profiles for n in range(EVENTS)]
    for start in range(0, len(events), 1000):
        await gateway.timeseries.write_events("viewing_history", events[start:start + 1000])
    for p in profiles:
        await gateway.counters.add("profile_plays", p, EVENTS, IdempotencyToken.new())


def run(options: Options) -> dict[str, Any]:
    return asyncio.run(_run(options))


async def _run(options: Options) -> dict[str, Any]:
    # 1000 profiles x 10 events is over the default cost budget: this measures batching.
    limits = Limits(max_cost=10**9, max_representations=max(SIZES))
    schema = build_schema(limits)
    with tempfile.TemporaryDirectory(prefix="bench-batching-") as tmp:
        gateway = DataGateway(
            SQLiteStore(Path(tmp) / "gateway.db"), load_namespaces(), page_tokens=PageTokens()
        )
        await gateway.start(background=False)
        try:
            await seed(gateway, profile_ids(max(SIZES)))
            rows = [await _measure(gateway, schema, limits, n, options) for n in SIZES]
        finally:
            await gateway.stop()
    totals = {r["calls_per_request"] for r in rows}
    return {"store": "sqlite (temporary file)", "sizes": rows, "flat": len(totals) == 1}


async def _measure(
    gateway: DataGateway, schema: Any, limits: Limits, n: int, options: Options
) -> dict[str, Any]:
    ids = profile_ids(n)

    async def request(i: int) -> None:
        variables = representations(ids)
        result = await schema.execute(
            QUERY, variable_values=variables, context_value=Context.create(gateway, limits)
        )
        if result.errors:
            raise RuntimeError(f"N={n}: {result.errors[0]}")
        edges = sum(len(e["viewingHistory"]["edges"]) for e in result.data["_entities"])
        if edges != n * EVENTS:
            raise RuntimeError(f"N={n}: {edges} events, expected {n * EVENTS}")

    await request(0)
    runs = options.pick(5, 3)
    before = Counter(gateway.calls.snapshot())
    samples = await timed(request, warmup=0, runs=runs)
    delta = Counter(gateway.calls.snapshot())
    delta.subtract(before)
    per_request = {f"{a}.{op}": c / runs for (a, op), c in sorted(delta.items()) if c}
    return {
        "entities": n,
        "calls_per_request": sum(per_request.values()),
        "calls": per_request,
        "request": summary(samples),
    }


def targets(figures: dict[str, Any]) -> list[Target]:
    calls = ", ".join(f"N={r['entities']}: {r['calls_per_request']:g}" for r in figures["sizes"])
    return [Target("abstraction calls per request do not grow with N entities", "flat", calls,
                   figures["flat"])]


def tables(figures: dict[str, Any]) -> list[Table]:
    table = Table(
        "3. Batching: abstraction calls per request (real gateway, SQLite)",
        ["entities", "calls/request", "by operation", "ms/request"],
        left=frozenset({2}),
    )
    for r in figures["sizes"]:
        by_op = ", ".join(f"{k} {v:g}" for k, v in r["calls"].items())
        table.rows.append([
            str(r["entities"]), f"{r['calls_per_request']:g}", by_op,
            fmt(r["request"]["median_ms"], 1),
        ])
    table.notes.append(
        "flat (calls do not grow with N): " + ("yes" if figures["flat"] else "NO")
    )
    return [table]
