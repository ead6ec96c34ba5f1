"""Many processes (here: stores) opening one new SQLite file at once all open it.

Switching the journal to WAL can fail with "database is locked" at once, without SQLite's busy
handler waiting; before `_use_wal` retried it, about 1 open in 60 of this test failed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from backends.sqlite import SQLiteStore


async def test_stores_opening_one_new_file_together_all_open(tmp_path: Path) -> None:
    failures: list[BaseException] = []
    for round in range(40):
        stores = [SQLiteStore(tmp_path / f"{round}.db") for _ in range(12)]
        opened = await asyncio.gather(*(s.open() for s in stores), return_exceptions=True)
        failures += [r for r in opened if isinstance(r, BaseException)]
        for store, result in zip(stores, opened, strict=True):
            if not isinstance(result, BaseException):
                await store.close()
    assert failures == []
