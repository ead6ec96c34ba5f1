"""TimeSeries on SQLite: one row per event item, slices as the retention unit, search in SQL;
each event also as one row of packed items (`ts_events`, `packed.py`), which pages are read from.

An event matches a set of conditions when, grouped by `(series, event_time, event_id)`, some item
row satisfies each condition: a `HAVING MAX(cond) = 1` per condition.  Numeric and date values are
read through the `num()` and `epoch()` functions registered in `db.py`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from itertools import groupby
from operator import itemgetter

from backends.base import (
    Condition,
    EventQuery,
    FieldType,
    StoredEvent,
    TimeSeriesLayout,
    stored_event_fast,
)

from .db import SQLiteDB
from .packed import MERGE_FUNCTION, pack, unpack

_OPS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
EventKey = tuple[str, int, str]


def _having(
    equals: Mapping[str, bytes],
    conditions: Sequence[Condition] = (),
    fields: Mapping[str, FieldType] | None = None,
) -> tuple[str, list[object]]:
    """A HAVING clause requiring every equality and condition to hold for some item of an event."""
    parts: list[str] = []
    params: list[object] = []
    for key, value in equals.items():
        parts.append("MAX(item_key = ? AND value = ?) = 1")
        params += [key, value]
    for cond in conditions:
        kind = (fields or {}).get(cond.key, "keyword")
        op = _OPS[cond.op]
        if kind == "keyword":
            expr, arg = f"CAST(value AS TEXT) {op} ?", str(cond.value)
        elif kind == "numeric":
            expr, arg = f"num(value) {op} ?", float(cond.value)
        else:
            expr, arg = f"epoch(value) {op} ?", float(cond.value)
        parts.append(f"MAX(item_key = ? AND {expr}) = 1")
        params += [cond.key, arg]
    return (" HAVING " + " AND ".join(parts) if parts else ""), params


def _window(query: EventQuery, with_series: bool) -> tuple[str, list[object]]:
    sql = " AND event_time >= ? AND event_time < ?"
    before = query.before
    # After a cursor the window ends at its time: one upper bound, which the index seeks to
    # (the row value below only filters).
    end = query.end if before is None else min(query.end, before.event_time + 1)
    params: list[object] = [query.start, end]
    if before is not None:
        if with_series:
            sql += " AND (event_time, event_id, series) < (?, ?, ?)"
            params += [before.event_time, before.event_id, before.series_id]
        else:
            sql += " AND (event_time, event_id) < (?, ?)"
            params += [before.event_time, before.event_id]
    return sql, params


def _with_items(keys_sql: str, order: str) -> str:
    """One statement: the events `keys_sql` selects (series, event_time, event_id) with their
    packed items, ordered by `order`; its parameters are those of `keys_sql`, then the
    namespace."""
    return (
        f"WITH k AS ({keys_sql})"
        " SELECT k.series, k.event_time, k.event_id, e.items"
        " FROM k JOIN ts_events AS e ON e.ns = ? AND e.series = k.series"
        " AND e.event_time = k.event_time AND e.event_id = k.event_id"
        f" ORDER BY {order}"
    )


def _newest(
    conn: sqlite3.Connection, namespace: str, series_id: str, query: EventQuery
) -> list[StoredEvent]:
    """The newest `query.limit` events of a series in its window, when no item filter applies:
    the event rows' primary key read backwards, one row an event, as far as the limit."""
    window, wparams = _window(query, with_series=False)
    rows = conn.execute(
        "SELECT event_time, event_id, items FROM ts_events"
        f" WHERE ns = ? AND series = ?{window}"
        " ORDER BY event_time DESC, event_id DESC LIMIT ?",
        (namespace, series_id, *wparams, query.limit),
    ).fetchall()
    return [stored_event_fast(series_id, t, event_id, unpack(items))
            for t, event_id, items in rows]


# An item's bytes as its column types them (`num`, `epoch`: the store's SQL functions).
_TYPED = {"keyword": "CAST({v} AS TEXT)", "numeric": "num({v})", "date": "epoch({v})"}


def _pivot(columns: Mapping[str, FieldType]) -> str:
    """`, MAX(...)` per column: the event's item of that key, typed (parameters: the keys)."""
    return "".join(
        f", MAX(CASE WHEN item_key = ? THEN {_TYPED[kind].format(v='value')} END)"
        for kind in columns.values()
    )


_series_of = itemgetter(0)


def _events(rows: Iterable[tuple[str, int, str, bytes]]) -> list[StoredEvent]:
    """The events of `_with_items` rows, in their order."""
    return [stored_event_fast(series, t, event_id, unpack(items))
            for series, t, event_id, items in rows]


class SQLiteTimeSeries(SQLiteDB):
    """The `TimeSeriesStore` and `SearchIndex` halves of the SQLite store."""

    async def ts_write(
        self, namespace: str, layout: TimeSeriesLayout, events: Sequence[StoredEvent]
    ) -> None:
        rows = [
            (namespace, e.series_id, e.event_time, e.event_id, key, value,
             layout.slice_of(e.event_time))
            for e in events
            for key, value in e.items.items()
        ]
        packed_events = [
            (namespace, e.series_id, e.event_time, e.event_id, pack(e.items),
             layout.slice_of(e.event_time))
            for e in events
        ]
        slices = {(namespace, layout.slice_of(e.event_time)) for e in events}

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO ts_slices (ns, slice) VALUES (?, ?)", sorted(slices)
            )
            conn.executemany(
                "INSERT OR REPLACE INTO ts_items"
                " (ns, series, event_time, event_id, item_key, value, slice)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            # An event written again keeps the union of its items, as its item rows do.
            conn.executemany(
                "INSERT INTO ts_events (ns, series, event_time, event_id, items, slice)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (ns, series, event_time, event_id)"
                f" DO UPDATE SET items = {MERGE_FUNCTION}(items, excluded.items)",
                packed_events,
            )

        await self.write(write)

    async def ts_read(
        self, namespace: str, layout: TimeSeriesLayout, series_id: str, query: EventQuery
    ) -> list[StoredEvent]:
        if query.limit <= 0:
            return []
        if not query.equals:
            return await self.read(
                lambda conn: _newest(conn, namespace, series_id, query), snapshot=False
            )
        window, wparams = _window(query, with_series=False)
        having, hparams = _having(query.equals)
        sql = _with_items(
            "SELECT series, event_time, event_id FROM ts_items"
            f" WHERE ns = ? AND series = ?{window}"
            f" GROUP BY event_time, event_id{having}"
            " ORDER BY event_time DESC, event_id DESC LIMIT ?",
            "k.event_time DESC, k.event_id DESC",
        )
        params = (namespace, series_id, *wparams, *hparams, query.limit, namespace)
        return await self.select(sql, params, _events)

    async def ts_read_many(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        series_ids: Sequence[str],
        query: EventQuery,
    ) -> dict[str, list[StoredEvent]]:
        if not series_ids:
            return {}
        if query.limit <= 0:
            return {s: [] for s in series_ids}
        if not query.equals:  # one statement a series, all in one snapshot, one hop
            return await self.read(
                lambda conn: {s: _newest(conn, namespace, s, query) for s in series_ids}
            )
        window, wparams = _window(query, with_series=False)
        having, hparams = _having(query.equals)
        marks = ",".join("?" * len(series_ids))

        sql = _with_items(
            "SELECT series, event_time, event_id FROM ("
            " SELECT series, event_time, event_id, ROW_NUMBER() OVER ("
            "  PARTITION BY series ORDER BY event_time DESC, event_id DESC) AS rn"
            f" FROM ts_items WHERE ns = ? AND series IN ({marks}){window}"
            f" GROUP BY series, event_time, event_id{having})"
            " WHERE rn <= ?",
            "k.series, k.event_time DESC, k.event_id DESC",
        )
        params = (namespace, *series_ids, *wparams, *hparams, query.limit, namespace)

        def by_series(rows: list[tuple[str, int, str, bytes]]) -> dict[str, list[StoredEvent]]:
            found: dict[str, list[StoredEvent]] = {s: [] for s in series_ids}
            for series, group in groupby(rows, _series_of):
                found[series] = _events(group)
            return found

        return await self.select(sql, params, by_series)

    async def ts_drop_slices_before(
        self, namespace: str, layout: TimeSeriesLayout, cutoff_seconds: int
    ) -> list[int]:
        def drop(conn: sqlite3.Connection) -> list[int]:
            doomed = [
                r[0]
                for r in conn.execute(
                    "SELECT slice FROM ts_slices WHERE ns = ? AND slice + ? <= ? ORDER BY slice",
                    (namespace, layout.seconds_per_slice, cutoff_seconds),
                )
            ]
            for start in doomed:
                conn.execute("DELETE FROM ts_items WHERE ns = ? AND slice = ?", (namespace, start))
                conn.execute("DELETE FROM ts_events WHERE ns = ? AND slice = ?", (namespace, start))
                conn.execute("DELETE FROM ts_slices WHERE ns = ? AND slice = ?", (namespace, start))
            return doomed

        return await self.write(drop)

    async def ts_slices(self, namespace: str) -> list[int]:
        def slices(conn: sqlite3.Connection) -> list[int]:
            rows = conn.execute(
                "SELECT slice FROM ts_slices WHERE ns = ? ORDER BY slice", (namespace,)
            )
            return [r[0] for r in rows]

        return await self.read(slices)

    async def ts_scan(
        self, namespace: str, layout: TimeSeriesLayout, start: int, end: int, batch: int = 500
    ) -> AsyncIterator[list[StoredEvent]]:
        sql = _with_items(
            "SELECT series, event_time, event_id FROM ts_items"
            " WHERE ns = ? AND event_time >= ? AND event_time < ?"
            " AND (series, event_time, event_id) > (?, ?, ?)"
            " GROUP BY series, event_time, event_id"
            " ORDER BY series, event_time, event_id LIMIT ?",
            "k.series, k.event_time, k.event_id",
        )
        after: EventKey = ("", start - 1, "")
        while True:
            events = await self.select(
                sql, (namespace, start, end, *after, batch, namespace), _events
            )
            if events:
                yield events
            if len(events) < batch:
                return
            last = events[-1]
            after = (last.series_id, last.event_time, last.event_id)

    async def ts_columns(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        start: int,
        end: int,
        columns: Mapping[str, FieldType],
        match: tuple[str, Sequence[str]] | None = None,
    ) -> list[tuple[object, ...]]:
        # One row per event, its items pivoted into typed columns by SQL (`num`, `epoch`): the
        # open slices of an aggregate are read without making an event object each.
        if match is not None and match[0] != "series_id":
            # Events whose item `key` is one of the values, found by the (ns, item_key, value,
            # slice) index (the open slices of a title's stats are a few hundred events, not
            # the day's every row); the key's own value comes with them, and each other column
            # is one seek of the primary key per event.
            key, values = match
            marks = ",".join("?" * len(values))
            params_k: list[object] = [
                namespace, key, *(v.encode() for v in values),
                layout.slice_of(start), layout.slice_of(end - 1), start, end,
            ]
            picks = []
            for column, kind in columns.items():
                if column == key:
                    picks.append(_TYPED[kind].format(v="k.value"))
                    continue
                picks.append(
                    f"(SELECT {_TYPED[kind].format(v='i.value')} FROM ts_items AS i"
                    " WHERE i.ns = ? AND i.series = k.series AND i.event_time = k.event_time"
                    " AND i.event_id = k.event_id AND i.item_key = ?)"
                )
                params_k += [namespace, column]
            sql = (
                "WITH k AS (SELECT series, event_time, event_id, value FROM ts_items"
                " INDEXED BY ts_items_value_slice"
                f" WHERE ns = ? AND item_key = ? AND value IN ({marks})"
                " AND slice >= ? AND slice <= ? AND event_time >= ? AND event_time < ?)"
                f" SELECT k.series, k.event_time, k.event_id{''.join(', ' + p for p in picks)}"
                " FROM k"
            )
            return await self.select(sql, params_k, list)
        params: list[object] = [*columns, namespace, start, end]
        where = ""
        if match is not None:  # series ids: the primary key seeks each
            marks = ",".join("?" * len(match[1]))
            where, params = f" AND series IN ({marks})", [*params, *match[1]]
        # Without a series to seek by, the time index: SQLite would otherwise walk the primary
        # key to get the GROUP BY's order for free, reading every row of the namespace.
        hint = "" if where else " INDEXED BY ts_items_time"
        sql = (
            f"SELECT series, event_time, event_id{_pivot(columns)} FROM ts_items{hint}"
            f" WHERE ns = ? AND event_time >= ? AND event_time < ?{where}"
            " GROUP BY series, event_time, event_id"
        )
        return await self.select(sql, params, list)

    # --- SearchIndex: SQLite searches its own rows, so indexing is a no-op ---------------------

    async def index_events(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        fields: Mapping[str, FieldType],
        events: Sequence[StoredEvent],
        *,
        refresh_seconds: float = 1.0,
    ) -> None:
        return None

    async def drop_slices_before(
        self, namespace: str, layout: TimeSeriesLayout, cutoff_seconds: int
    ) -> list[int]:
        return []  # the rows go with the store's own slices (ts_drop_slices_before)

    async def search(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        fields: Mapping[str, FieldType],
        conditions: Sequence[Condition],
        query: EventQuery,
    ) -> list[StoredEvent]:
        window, wparams = _window(query, with_series=True)
        having, hparams = _having(query.equals, conditions, fields)

        sql = _with_items(
            "SELECT series, event_time, event_id FROM ts_items"
            f" WHERE ns = ?{window} GROUP BY series, event_time, event_id{having}"
            " ORDER BY event_time DESC, event_id DESC, series DESC LIMIT ?",
            "k.event_time DESC, k.event_id DESC, k.series DESC",
        )
        params = (namespace, *wparams, *hparams, query.limit, namespace)
        return await self.select(sql, params, _events)

    async def distinct(
        self,
        namespace: str,
        layout: TimeSeriesLayout,
        fields: Mapping[str, FieldType],
        key: str,
        conditions: Sequence[Condition],
        query: EventQuery,
    ) -> list[tuple[bytes, int]]:
        window, wparams = _window(query, with_series=True)
        having, hparams = _having(query.equals, conditions, fields)

        def distinct(conn: sqlite3.Connection) -> list[tuple[bytes, int]]:
            rows = conn.execute(
                "SELECT value, COUNT(*) AS n FROM ts_items"
                f" WHERE ns = ? AND item_key = ?{window}"
                " AND (series, event_time, event_id) IN ("
                f"  SELECT series, event_time, event_id FROM ts_items WHERE ns = ?{window}"
                f"  GROUP BY series, event_time, event_id{having})"
                " GROUP BY value ORDER BY n DESC, value LIMIT ?",
                (namespace, key, *wparams, namespace, *wparams, *hparams, query.limit),
            ).fetchall()
            return [(bytes(v), n) for v, n in rows]

        return await self.read(distinct)
