"""Distributed Counter on SQLite: an event log, rollup rows, checkpoints, fast counters."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

from backends.base import Checkpoint, CounterEvent, CountOutOfRange, Fold, Rollup

from .db import SQLiteDB

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class SQLiteCounter(SQLiteDB):
    """The `CounterStore` part of the SQLite store."""

    async def counter_append(self, namespace: str, events: Sequence[CounterEvent]) -> None:
        rows = [(namespace, e.name, e.event_time, e.event_id, e.delta, int(e.reset))
                for e in events]

        def append(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO counter_log"
                " (ns, name, event_time, event_id, delta, reset) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

        await self.write(append)

    async def counter_fold(
        self, namespace: str, windows: Mapping[str, tuple[int, int]]
    ) -> dict[str, Fold]:
        """Exact folds: SQLite's SUM() raises on a 64-bit overflow, so deltas are summed as
        their high and low 32-bit halves (exact up to 2^31 events of a counter in one window)
        and joined here, where a total may leave 64 bits.  One pass over the window finds the
        sums and the last reset; only counters with a reset in their window are read again,
        from that reset on."""
        if not windows:
            return {}

        def fold(conn: sqlite3.Connection) -> dict[str, Fold]:
            folds = dict.fromkeys(windows, Fold(0, False, None))
            again: dict[str, tuple[int, int]] = {}
            for name, total, reset_at, last in _fold_pass(conn, namespace, windows):
                if reset_at is None:
                    folds[name] = Fold(total, False, last)
                else:  # nothing after the reset yet counts 0
                    folds[name] = Fold(0, True, last)
                    again[name] = (reset_at, windows[name][1])
            for name, total, _, _ in _fold_pass(conn, namespace, again):
                folds[name] = Fold(total, True, folds[name].last_event_time)
            return folds

        return await self.read(fold)

    async def counter_rollups(self, namespace: str, names: Sequence[str]) -> dict[str, Rollup]:
        if not names:
            return {}

        return await self.select(
            "SELECT name, count, as_of FROM counter_rollups"
            f" WHERE ns = ? AND name IN ({','.join('?' * len(names))})",
            (namespace, *names),
            lambda rows: {name: Rollup(count, as_of) for name, count, as_of in rows},
        )

    async def counter_put_rollup(
        self, namespace: str, name: str, rollup: Rollup, *, replace: bool = False
    ) -> None:
        newer = "" if replace else " WHERE excluded.as_of > counter_rollups.as_of"

        def put(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO counter_rollups (ns, name, count, as_of) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (ns, name) DO UPDATE SET count = excluded.count,"
                f" as_of = excluded.as_of{newer}",
                (namespace, name, rollup.count, rollup.as_of),
            )

        await self.write(put)

    async def counter_checkpoints(
        self, namespace: str, names: Sequence[str]
    ) -> dict[str, Checkpoint]:
        if not names:
            return {}

        def get(conn: sqlite3.Connection) -> dict[str, Checkpoint]:
            rows = conn.execute(
                "SELECT name, base_count, base_as_of, late FROM counter_checkpoints"
                f" WHERE ns = ? AND name IN ({','.join('?' * len(names))})",
                (namespace, *names),
            ).fetchall()
            return {
                name: Checkpoint(None if as_of is None else Rollup(count, as_of), late)
                for name, count, as_of, late in rows
            }

        return await self.read(get)

    async def counter_put_base(self, namespace: str, name: str, base: Rollup) -> None:
        def put(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO counter_checkpoints (ns, name, base_count, base_as_of)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (ns, name) DO UPDATE SET"
                " base_count = excluded.base_count, base_as_of = excluded.base_as_of"
                " WHERE counter_checkpoints.base_as_of IS NULL"
                " OR excluded.base_as_of > counter_checkpoints.base_as_of",
                (namespace, name, base.count, base.as_of),
            )

        await self.write(put)

    async def counter_mark_late(self, namespace: str, name: str, arrival: int) -> None:
        def mark(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO counter_checkpoints (ns, name, late) VALUES (?, ?, ?)"
                " ON CONFLICT (ns, name) DO UPDATE SET"
                " late = MAX(counter_checkpoints.late, excluded.late)",
                (namespace, name, arrival),
            )

        await self.write(mark)

    async def counter_truncate(self, namespace: str, until: Mapping[str, int]) -> None:
        if not until:
            return

        def truncate(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "DELETE FROM counter_log WHERE ns = ? AND name = ? AND event_time <= ?",
                [(namespace, name, last) for name, last in until.items()],
            )

        await self.write(truncate)

    async def counter_names(
        self, namespace: str, after: str | None, limit: int, *, logged: bool = False
    ) -> list[str]:
        def names(conn: sqlite3.Connection) -> list[str]:
            found: list[str] = []
            last = after or ""
            # One seek per name: the log holds many rows per name, so DISTINCT would read them.
            while len(found) < limit:
                row = conn.execute(
                    "SELECT name FROM counter_log WHERE ns = ? AND name > ?"
                    " ORDER BY name LIMIT 1",
                    (namespace, last),
                ).fetchone()
                if row is None:
                    break
                last = row[0]
                found.append(last)
            if not logged:
                for table in ("counter_rollups", "counter_checkpoints"):
                    found += [n for (n,) in conn.execute(
                        f"SELECT name FROM {table} WHERE ns = ? AND name > ?"
                        " ORDER BY name LIMIT ?",
                        (namespace, after or "", limit),
                    )]
            return sorted(set(found))[:limit]

        return await self.read(names)

    async def counter_incr(self, namespace: str, name: str, delta: int) -> int:
        def incr(conn: sqlite3.Connection) -> int:
            # One writer thread: reading, checking and writing here is atomic.
            row = conn.execute(
                "SELECT value FROM counter_fast WHERE ns = ? AND name = ?", (namespace, name)
            ).fetchone()
            value = (row[0] if row else 0) + delta
            if not INT64_MIN <= value <= INT64_MAX:
                raise CountOutOfRange(f"counter {name!r} would leave the 64-bit range")
            conn.execute(
                "INSERT OR REPLACE INTO counter_fast (ns, name, value) VALUES (?, ?, ?)",
                (namespace, name, value),
            )
            return value

        return await self.write(incr)

    async def counter_values(self, namespace: str, names: Sequence[str]) -> dict[str, int]:
        if not names:
            return {}

        return await self.select(
            "SELECT name, value FROM counter_fast"
            f" WHERE ns = ? AND name IN ({','.join('?' * len(names))})",
            (namespace, *names),
            dict,
        )

    async def counter_zero(self, namespace: str, name: str) -> None:
        def zero(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM counter_fast WHERE ns = ? AND name = ?", (namespace, name))

        await self.write(zero)


def _fold_pass(
    conn: sqlite3.Connection, namespace: str, windows: Mapping[str, tuple[int, int]]
) -> list[tuple[str, int, int | None, int]]:
    """`(name, sum of deltas, last reset time, last event time)` of each counter with events in
    its window `(after, until]`; the sum is exact, in Python, however far it leaves 64 bits."""
    if not windows:
        return []
    values = ",".join("(?, ?, ?)" for _ in windows)
    params = [v for name, (after, until) in windows.items() for v in (name, after, until)]
    rows = conn.execute(
        f"WITH w(name, after, until) AS (VALUES {values})"
        " SELECT w.name,"
        "  SUM(CASE WHEN l.reset THEN 0 ELSE l.delta >> 32 END),"
        "  SUM(CASE WHEN l.reset THEN 0 ELSE l.delta & 0xFFFFFFFF END),"
        "  MAX(CASE WHEN l.reset THEN l.event_time END), MAX(l.event_time)"
        " FROM w JOIN counter_log l ON l.ns = ? AND l.name = w.name"
        "  AND l.event_time > w.after AND l.event_time <= w.until"
        " GROUP BY w.name",
        (*params, namespace),
    ).fetchall()
    return [(name, (high << 32) + low, reset_at, last)
            for name, high, low, reset_at, last in rows]
