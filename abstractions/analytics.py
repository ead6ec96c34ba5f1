"""Columnar analytics over TimeSeries namespaces: closed slices in Iceberg, aggregates in DuckDB.

Export.  A slice is closed once its end plus the accept window (and a minute's grace) has
passed: no write can add to it any more.  A background job (and `export-slices`) copies each
closed slice from the primary store into the namespace's Iceberg table, one partition per
slice, one commit per slice (backends/iceberg/archive.py: idempotent, crash-safe).

Aggregates.  An interval is split by slice: slices the archive holds (as of one snapshot) are
read from its Parquet files, every other slice from the primary store (in SQL where the store
can, `EventColumns`), and one DuckDB query aggregates the union; so each event is counted once,
whether or not its slice was exported, and an export committing meanwhile changes nothing.
DuckDB and pyiceberg block: they run in a thread, off the event loop.

Batches.  `aggregate` takes the values of a batch key (profiles: `series_id`; titles:
`title_id`) and answers all of them with one DuckDB query, grouped by that key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from backends.base import (
    Condition,
    EventColumns,
    EventScan,
    FieldType,
    StoreError,
    TimeSeriesStore,
)

from .background import wait_for_event
from .errors import InvalidArgument, TooLarge
from .metrics import CallCounter, EventCounter, StoreCalls
from .namespaces import RESERVED_COLUMNS, Namespaces, TimeSeriesNamespace
from .tokens import now_micros

if TYPE_CHECKING:
    import pyarrow as pa

    from backends.iceberg import IcebergArchive

log = logging.getLogger(__name__)

SECOND = 1_000_000
DAY = 86_400 * SECOND
GRACE_SECONDS = 60.0
MAX_GROUP_BY = 4
MAX_SUMS = 8
MAX_BATCH_KEYS = 1000
_OPS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One aggregate's shape over `[since, until)` (microseconds): events matching every
    condition, grouped by `group_by` (item keys, `series_id`, or `day`), counted, with the sum
    of each `sums` key and the distinct count of each `distinct` key.  `top`: keep only the
    groups with the most events (per batch key)."""

    since: int
    until: int
    conditions: tuple[Condition, ...] = ()
    group_by: tuple[str, ...] = ()
    sums: tuple[str, ...] = ()
    distinct: tuple[str, ...] = ()
    top: int | None = None


@dataclass(frozen=True, slots=True)
class Group:
    """One group: its `group_by` values in order (a `day` as a date), the number of events,
    the sums and the distinct counts in the order asked."""

    keys: tuple[Any, ...]
    count: int
    sums: tuple[float, ...]
    distinct: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ExportResult:
    namespace: str
    exported: list[int]
    skipped: list[int]
    events: int


class Analytics:
    """Exports and aggregates of the namespaces with `analytics = true`."""

    def __init__(
        self,
        store: TimeSeriesStore,
        namespaces: Namespaces,
        archive: IcebergArchive | None,
        calls: CallCounter | None = None,
        events: EventCounter | None = None,
        store_calls: StoreCalls | None = None,
    ) -> None:
        self._store = store
        self._namespaces = namespaces
        self.archive = archive
        self._calls = calls or CallCounter()
        self.events = events or EventCounter()
        store_calls = store_calls or StoreCalls()
        self._call = store_calls.bind("analytics", store)
        self._archive_call = store_calls.bind("analytics", archive or store)
        self._duckdb: Any = None
        self._duckdb_lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # --- lifecycle --------------------------------------------------------------------------

    def namespaces(self) -> list[TimeSeriesNamespace]:
        return [
            ns for ns in self._namespaces
            if isinstance(ns, TimeSeriesNamespace) and ns.analytics
        ]

    async def start(self) -> None:
        """Start the export loop (when any namespace has analytics and there is an archive)."""
        if self.archive is not None and self.namespaces():
            self._task = asyncio.create_task(self._export_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _export_loop(self) -> None:
        interval = min(ns.analytics_export_interval_seconds for ns in self.namespaces())
        await wait_for_event(self._wake, min(interval, 5.0))
        while True:
            for ns in self.namespaces():
                try:
                    await self.export_slices(ns.name)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.events.add(f"analytics_export_failures:{ns.name}")
                    log.exception("analytics export of %s failed; retried next round", ns.name)
            await wait_for_event(self._wake, interval)

    # --- export -----------------------------------------------------------------------------

    def namespace(self, name: str) -> TimeSeriesNamespace:
        """The analytics namespace `name`; any other is the caller's mistake."""
        ns = self._namespaces.get(name, TimeSeriesNamespace)
        if not ns.analytics:
            raise InvalidArgument(f"namespace {name!r} does not have analytics enabled")
        return ns

    def _archive(self) -> IcebergArchive:
        if self.archive is None:
            raise InvalidArgument("analytics needs an archive; none is configured")
        return self.archive

    def closed_before(self, ns: TimeSeriesNamespace, now: int | None = None) -> int:
        """Slices ending at or before this time (microseconds) take no more writes."""
        now = now_micros() if now is None else now
        return now - int((ns.accept_window_seconds + GRACE_SECONDS) * SECOND)

    async def export_slices(
        self, namespace: str, *, until: int | None = None, now: int | None = None
    ) -> ExportResult:
        """Copy every closed slice (ending at or before `until`, if given) not yet in the
        archive into it, one commit each; then apply the archive's retention."""
        ns = self.namespace(namespace)
        archive = self._archive()
        now = now_micros() if now is None else now
        limit = self.closed_before(ns, now)
        if until is not None:
            limit = min(limit, until)
        sps = ns.seconds_per_slice
        cutoff = self._retention_cutoff(ns, now)
        with self._call("ts_slices"):
            slices = await self._store.ts_slices(ns.name)
        with self._archive_call("exported"):
            table = await asyncio.to_thread(archive.table, ns.name, ns.search_fields)
            done = await asyncio.to_thread(archive.exported, table)
        exported: list[int] = []
        skipped: list[int] = []
        total = 0
        for start in slices:
            if (start + sps) * SECOND > limit or start + sps <= cutoff:
                continue
            if start in done:
                skipped.append(start)
                continue
            rows = await self._rows(ns, start * SECOND, (start + sps) * SECOND, None)
            with self._archive_call("export"):
                table_rows = _arrow(ns.search_fields, rows, slice_start=start)
                committed = await asyncio.to_thread(
                    archive.export, ns.name, ns.search_fields, start, table_rows
                )
            (exported if committed else skipped).append(start)
            if committed:
                total += len(rows)
                self.events.add(f"analytics_exported_slices:{ns.name}")
        with self._archive_call("retention"):
            await asyncio.to_thread(
                archive.drop_before, ns.name, ns.search_fields, cutoff - sps + 1
            )
        return ExportResult(ns.name, exported, skipped, total)

    @staticmethod
    def _retention_cutoff(ns: TimeSeriesNamespace, now: int) -> int:
        """Slices ending at or before this (seconds) leave the archive."""
        return now // SECOND - int(ns.analytics_retention_days * 86400)

    async def _rows(
        self,
        ns: TimeSeriesNamespace,
        start: int,
        end: int,
        match: tuple[str, Sequence[str]] | None,
        columns: Mapping[str, FieldType] | None = None,
    ) -> list[tuple[object, ...]]:
        """Events of `[start, end)` from the primary store, one typed row each: the identity,
        then `columns` (by default every typed key)."""
        columns = ns.search_fields if columns is None else columns
        if isinstance(self._store, EventColumns):
            with self._call("ts_columns"):
                return await self._store.ts_columns(
                    ns.name, ns.layout, start, end, columns, match
                )
        if not isinstance(self._store, EventScan):
            raise InvalidArgument(
                f"the {type(self._store).__name__} store cannot list events for analytics"
            )
        wanted = set(match[1]) if match is not None else None
        rows: list[tuple[object, ...]] = []
        with self._call("ts_scan"):
            async for events in self._store.ts_scan(ns.name, ns.layout, start, end, 1000):
                for e in events:
                    if wanted is not None:
                        key = e.series_id if match[0] == "series_id" else _text(
                            e.items.get(match[0]))
                        if key not in wanted:
                            continue
                    rows.append((e.series_id, e.event_time, e.event_id, *(
                        _typed(kind, e.items.get(k)) for k, kind in columns.items()
                    )))
        return rows

    # --- aggregates -------------------------------------------------------------------------

    def check(self, namespace: str, query: Aggregate, by: str | None = None) -> None:
        """Refuse, before any work, a query naming unknown or mistyped keys, or too long."""
        ns = self.namespace(namespace)
        fields = ns.search_fields
        if query.since >= query.until:
            raise InvalidArgument("`since` must be before `until`")
        days = (query.until - query.since) / DAY
        if days > ns.analytics_max_interval_days:
            raise TooLarge(
                f"the interval is {days:.0f} days; at most {ns.analytics_max_interval_days:g} "
                f"days per aggregate of {ns.name!r}"
            )
        if len(query.group_by) > MAX_GROUP_BY or len(query.sums) > MAX_SUMS:
            raise TooLarge(f"at most {MAX_GROUP_BY} groupBy keys and {MAX_SUMS} sums")

        def known(key: str, what: str, *, extra: frozenset[str] = frozenset()) -> None:
            if key not in fields and key not in extra:
                typed = ", ".join(sorted(fields)) or "none"
                raise InvalidArgument(
                    f"{what} key {key!r} is not a typed field of {ns.name!r} (typed: {typed})"
                )

        for key in query.group_by:
            known(key, "groupBy", extra=frozenset({"series_id", "day"}))
        for key in query.sums:
            known(key, "sum")
            if fields[key] != "numeric":
                raise InvalidArgument(f"sum key {key!r} is {fields[key]}, not numeric")
        for key in query.distinct:
            known(key, "distinct", extra=frozenset({"series_id"}))
        for cond in query.conditions:
            known(cond.key, "where", extra=frozenset({"series_id"}))
            if cond.op not in _OPS:
                raise InvalidArgument(f"unknown operator {cond.op!r}")
            _condition_value(fields.get(cond.key, "keyword"), cond)
        if by is not None:
            known(by, "batch", extra=frozenset({"series_id"}))
        if query.top is not None and not 0 < query.top <= ns.analytics_max_groups:
            raise TooLarge(f"`first` must be 1 to {ns.analytics_max_groups}")

    async def aggregate(
        self,
        namespace: str,
        query: Aggregate,
        *,
        by: str | None = None,
        keys: Sequence[str] = (),
    ) -> dict[str, list[Group]]:
        """The groups of `query`; with `by`, for each of `keys` (one DuckDB query for all),
        else under the key "".  Fails with `TooLarge` past the namespace's group limit."""
        self._calls.record("analytics", "aggregate")
        self.check(namespace, query, by)
        ns = self.namespace(namespace)
        archive = self._archive()
        keys = list(dict.fromkeys(keys))
        if by is not None and len(keys) > MAX_BATCH_KEYS:
            raise TooLarge(f"at most {MAX_BATCH_KEYS} entities per aggregate")
        layout = ns.layout
        first, last = layout.slice_of(query.since), layout.slice_of(query.until - 1)
        with self._archive_call("plan"):
            plan = await asyncio.to_thread(
                archive.plan, ns.name, ns.search_fields, first, last
            )
        match = (by, keys) if by is not None else None
        # The open slices' rows carry only the keys this query reads.
        used = _used(query, by)
        columns = {k: kind for k, kind in ns.search_fields.items() if k in used}
        rows: list[tuple[object, ...]] = []
        for start, end in _open_ranges(ns, query, plan.exported):
            rows += await self._rows(ns, start, end, match, columns)
        live = _arrow(columns, rows)
        with self._archive_call("duckdb"):
            found = await asyncio.to_thread(
                self._run, ns, query, by, keys, plan.files, live
            )
        if by is None:
            return {"": found.get("", [])}
        return {k: found.get(k, []) for k in keys}

    def _connection(self) -> Any:
        with self._duckdb_lock:
            if self._duckdb is None:
                import duckdb

                self._duckdb = duckdb.connect(":memory:")
                # Files of a snapshot never change: their footers are read once (DuckDB 1.2+;
                # older ones read them each time).
                with contextlib.suppress(duckdb.Error):
                    self._duckdb.execute("SET parquet_metadata_cache = true")
            return self._duckdb.cursor()

    def _run(
        self,
        ns: TimeSeriesNamespace,
        query: Aggregate,
        by: str | None,
        keys: Sequence[str],
        files: Sequence[str],
        live: pa.Table,
    ) -> dict[str, list[Group]]:
        import duckdb

        sql, params = _sql(ns, query, by, keys, files)
        try:
            cursor = self._connection()
            try:
                cursor.register("live", live)
                result = cursor.execute(sql, params).fetchall()
            finally:
                cursor.close()
        except duckdb.Error as exc:
            raise StoreError(f"the analytics query failed: {type(exc).__name__}") from exc
        limit = ns.analytics_max_groups
        found: dict[str, list[Group]] = {}
        width = len(query.group_by)
        for row in result:
            at = 1 if by is not None else 0
            key = str(row[0]) if by is not None else ""
            values = tuple(
                _EPOCH + timedelta(days=int(v)) if name == "day" and v is not None else v
                for name, v in zip(query.group_by, row[at:at + width], strict=True)
            )
            at += width
            count = int(row[at])
            sums = tuple(float(v or 0.0) for v in row[at + 1:at + 1 + len(query.sums)])
            distinct = tuple(int(v) for v in row[at + 1 + len(query.sums):])
            groups = found.setdefault(key, [])
            if len(groups) >= limit:
                raise TooLarge(
                    f"more than {limit} groups; narrow the interval or group by fewer keys"
                )
            groups.append(Group(values, count, sums, distinct))
        return found


def _open_ranges(
    ns: TimeSeriesNamespace, query: Aggregate, exported: frozenset[int]
) -> list[tuple[int, int]]:
    """The parts of `[since, until)` in slices the archive does not hold, merged."""
    sps = ns.seconds_per_slice
    layout = ns.layout
    ranges: list[tuple[int, int]] = []
    start = layout.slice_of(query.since)
    while start * SECOND < query.until:
        if start not in exported:
            lo = max(query.since, start * SECOND)
            hi = min(query.until, (start + sps) * SECOND)
            if ranges and ranges[-1][1] == lo:
                ranges[-1] = (ranges[-1][0], hi)
            else:
                ranges.append((lo, hi))
        start += sps
    return ranges


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _used(query: Aggregate, by: str | None) -> dict[str, None]:
    """The keys `query` reads (batch key, groups, sums, distinct counts, conditions), in order."""
    return dict.fromkeys(
        [*([by] if by else []), *query.group_by, *query.sums, *query.distinct,
         *(c.key for c in query.conditions)]
    )


def _sql(
    ns: TimeSeriesNamespace,
    query: Aggregate,
    by: str | None,
    keys: Sequence[str],
    files: Sequence[str],
) -> tuple[str, list[object]]:
    """One statement: the archive's files and the live rows, filtered, grouped, counted."""
    fields = ns.search_fields
    needed = _used(query, by)
    cols = ["event_time", *(k for k in needed if k not in ("day",) and k != "event_time")]
    projection = ", ".join(_quote(c) for c in cols)
    where = ["event_time >= ?", "event_time < ?"]
    params: list[object] = []
    cond_params: list[object] = [query.since, query.until]
    for cond in query.conditions:
        kind = fields.get(cond.key, "keyword")
        value = _condition_value(kind, cond)
        if kind == "date":
            where.append(f"{_quote(cond.key)} {_OPS[cond.op]} to_timestamp(?)")
            cond_params.append(value)
        else:
            where.append(f"{_quote(cond.key)} {_OPS[cond.op]} ?")
            cond_params.append(value)
    if by is not None:
        where.append(f"{_quote(by)} IN ({','.join('?' * len(keys))})")
        cond_params += list(keys)
    filters = " AND ".join(where)
    sources = [f"SELECT {projection} FROM live WHERE {filters}"]
    params += cond_params
    if files:
        listed = ", ".join(_literal(f) for f in files)
        sources.insert(0, (
            f"SELECT {projection} FROM read_parquet([{listed}], union_by_name = true)"
            f" WHERE {filters}"
        ))
        params = cond_params + params
    group_exprs = [
        f"(event_time // {DAY}) AS day" if g == "day" else _quote(g) for g in query.group_by
    ]
    select = [*([_quote(by)] if by else []), *group_exprs, "COUNT(*) AS n"]
    select += [f"SUM({_quote(k)})" for k in query.sums]
    select += [f"COUNT(DISTINCT {_quote(k)})" for k in query.distinct]
    group_names = [*([_quote(by)] if by else []),
                   *("day" if g == "day" else _quote(g) for g in query.group_by)]
    sql = (
        f"SELECT {', '.join(select)} FROM ({' UNION ALL BY NAME '.join(sources)}) AS ev"
        + (f" GROUP BY {', '.join(group_names)}" if group_names else "")
    )
    order = [*([_quote(by)] if by else []), "n DESC",
             *("day" if g == "day" else _quote(g) for g in query.group_by)]
    if query.top is not None:
        partition = f"PARTITION BY {_quote(by)} " if by else ""
        sql += (
            f" QUALIFY ROW_NUMBER() OVER ({partition}ORDER BY COUNT(*) DESC"
            + "".join(f", {g}" for g in group_names[1 if by else 0:])
            + f") <= {int(query.top)}"
        )
    sql += f" ORDER BY {', '.join(order)} LIMIT {ns.analytics_max_groups * max(1, len(keys)) + 1}"
    return sql, params


def _condition_value(kind: FieldType, cond: Condition) -> object:
    if kind == "keyword":
        return str(cond.value)
    number = _typed(kind, str(cond.value).encode())
    if number is None:
        raise InvalidArgument(f"where {cond.key!r}: {cond.value!r} is not a {kind} value")
    return number


def _text(value: bytes | None) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", errors="replace")


def _typed(kind: FieldType, value: bytes | None) -> object:
    """An item's bytes as its column holds it (as SQLite's `num` / `epoch` read them)."""
    if value is None:
        return None
    text = value.decode("utf-8", errors="replace")
    if kind == "keyword":
        return text
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        return None if math.isnan(number) else number
    if kind == "numeric":
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _arrow(
    columns: Mapping[str, FieldType],
    rows: Sequence[tuple[object, ...]],
    *,
    slice_start: int | None = None,
) -> pa.Table:
    """Typed rows `(series_id, event_time, event_id, *values)` as an Arrow table of the
    archive's columns (with `slice` when `slice_start` is given)."""
    import pyarrow as pa

    from backends.iceberg.archive import arrow_schema

    schema = arrow_schema(columns)
    if slice_start is None:
        schema = schema.remove(0)
    by_column = list(zip(*rows, strict=True)) if rows else [()] * (3 + len(columns))
    arrays: list[Any] = []
    if slice_start is not None:
        arrays.append(pa.array([slice_start] * len(rows), pa.int64()))
    arrays += [pa.array(by_column[0], pa.string()), pa.array(by_column[1], pa.int64()),
               pa.array(by_column[2], pa.string())]
    for i, kind in enumerate(columns.values()):
        values = by_column[3 + i]
        if kind == "date":
            arrays.append(pa.array(
                [None if v is None else int(v * SECOND) for v in values],  # type: ignore[operator]
                pa.int64(),
            ).cast(pa.timestamp("us", tz="UTC")))
        else:
            arrays.append(pa.array(values, schema.field(len(arrays)).type))
    return pa.Table.from_arrays(arrays, schema=schema)


__all__ = [
    "RESERVED_COLUMNS", "Aggregate", "Analytics", "ExportResult", "Group",
]
