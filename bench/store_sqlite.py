"""5. The embedded store: the operations of benchmark 4 on SQLite through the abstractions.

Absolute times, for the record: there is no raw-SQL twin, since the SQLite backend is the
reference implementation rather than a thin layer over a driver.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from backends.sqlite import SQLiteStore

from . import Options
from .report import Table, fmt
from .storeops import DESCRIPTIONS, AbstractionOps, Fixture
from .timing import summary, timed

NAME = "sqlite"


def run(options: Options) -> dict[str, Any]:
    return asyncio.run(_run(options))


async def _run(options: Options) -> dict[str, Any]:
    warmup, runs = options.pick(3, 2), options.pick(15, 5)
    with tempfile.TemporaryDirectory(prefix="bench-sqlite-") as tmp:
        ops = await AbstractionOps.open(SQLiteStore(Path(tmp) / "gateway.db"), Fixture.new())
        try:
            results = {
                name: summary(await timed(op, warmup=warmup, runs=runs))
                for name, op in ops.operations().items()
            }
        finally:
            await ops.close()
    return {"store": "sqlite (temporary file)", "operations": results}


def tables(figures: dict[str, Any]) -> list[Table]:
    table = Table(
        "5. Embedded store: SQLite through the abstractions",
        ["operation", "ms", "min ms", "runs"],
    )
    for name, s in figures["operations"].items():
        table.rows.append([
            DESCRIPTIONS[name], fmt(s["median_ms"], 2), fmt(s["min_ms"], 2), str(s["runs"]),
        ])
    return [table]
