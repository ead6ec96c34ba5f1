"""The TimeSeries abstraction: append-only event series, read newest first, searched by value.

Validation, accept-window and retention rules, page tokens, the fire-and-forget buffers and the
retention loop live here; the backend stores events in time slices and answers queries.

Replays.  A write older than the accept window is refused, except a replay: the retry of a
write that was recorded (by the subgraph's idempotency keys) within the window, which may come
any time later.  `(event_time, event_id, item_key)` is the primary key, so a replay writes the
same rows again; events of it older than the retention are not written (retention would have
dropped them: what is left is what a timely write would have left), only counted.

Fire and forget.  `write_events_async` may be told what to do once its events are durable
(`on_durable`); it is never called for a write that was lost (a batch dropped after its
retries, a process that stopped without flushing), so a caller that marks its write complete
there can tell a lost write from a written one, and write it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from backends.base import (
    Condition,
    EventCursor,
    EventQuery,
    SearchIndex,
    StoredEvent,
    TimeSeriesStore,
)

from .background import wait_for_event
from .cursors import Cursors
from .errors import InvalidArgument, Overloaded, TooLarge, Unavailable
from .metrics import CallCounter, EventCounter, StoreCalls
from .namespaces import Namespaces, TimeSeriesNamespace
from .tokens import PageTokens, now_micros

log = logging.getLogger(__name__)

MAX_SERIES_ID = 256
MAX_EVENT_ID = 128
MAX_ITEM_KEY = 128
MAX_CONDITIONS = 16
MAX_SERIES_PER_BATCH = 1000
INDEX_ATTEMPTS = 3
RETENTION_INTERVAL_SECONDS = 3600.0

Event = StoredEvent


@dataclass(frozen=True, slots=True)
class EventPage:
    """Events newest first, and the token of the next page when more may match.

    `cursors[i]` resumes right after `events[i]` (Relay edge cursors).
    """

    events: list[Event]
    next_page_token: str | None = None
    cursors: Sequence[str] = field(default_factory=list)


@dataclass(slots=True)
class _Ticket:
    """One buffered write's events not yet durable, and what to call once they all are."""

    pending: int
    on_durable: Callable[[], Awaitable[object]]
    lost: bool = False


@dataclass(slots=True)
class _Buffer:
    """A namespace's bounded fire-and-forget buffer and the task that flushes it."""

    queue: asyncio.Queue[tuple[Event, _Ticket | None]]
    task: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class TimeSeries:
    """TimeSeries operations over a `TimeSeriesStore`, with search through a `SearchIndex`."""

    def __init__(
        self,
        store: TimeSeriesStore,
        namespaces: Namespaces,
        page_tokens: PageTokens,
        calls: CallCounter | None = None,
        search_index: SearchIndex | None = None,
        events: EventCounter | None = None,
        store_calls: StoreCalls | None = None,
    ) -> None:
        self._store = store
        self._namespaces = namespaces
        self._tokens = page_tokens
        self._calls = calls or CallCounter()
        self._index = search_index
        store_calls = store_calls or StoreCalls()
        self._call = store_calls.bind("timeseries", store)
        self._index_call = store_calls.bind("timeseries", search_index or store)
        self.events = events or EventCounter()
        self._buffers: dict[str, _Buffer] = {}
        self._retention: asyncio.Task[None] | None = None
        self._stopping = False

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self, retention_interval: float = RETENTION_INTERVAL_SECONDS) -> None:
        """Start the retention loop; fire-and-forget flushers start on first use."""
        self._stopping = False
        self._retention = asyncio.create_task(self._retention_loop(retention_interval))

    async def stop(self) -> None:
        """Flush every fire-and-forget buffer, then stop the background tasks."""
        self._stopping = True
        for buffer in self._buffers.values():
            buffer.wake.set()
        tasks = [b.task for b in self._buffers.values() if b.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        self._buffers.clear()
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
            self._retention = None

    # --- writes -----------------------------------------------------------------------------

    async def write_events(
        self, namespace: str, events: Sequence[Event], *, replay: bool = False
    ) -> None:
        """Write events and return once they are durable in the primary store.

        `replay`: a retry of a write recorded within the accept window (see the module
        docstring); the caller vouches for that.
        """
        self._calls.record("timeseries", "write_events")
        ns = self._namespace(namespace)
        self._check_events(ns, events, replay=replay)
        events = self._retained(ns, events) if replay else events
        if not events:
            return
        with self._call("write_events"):
            await self._store.ts_write(ns.name, ns.layout, events)
        await self._index_events(ns, events)

    async def write_events_async(
        self,
        namespace: str,
        events: Sequence[Event],
        *,
        replay: bool = False,
        on_durable: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """Accept events into the namespace's buffer; they are written in batches, soon.

        All or none: when the buffer cannot take every event, none is taken, the drop is
        counted, and the caller gets `Overloaded`.  `on_durable` is awaited once every one of
        them is in the primary store (at once when a replay has none left to write), never if
        they are lost; its failures are logged.  `replay` as in `write_events`.
        """
        self._calls.record("timeseries", "write_events_async")
        ns = self._namespace(namespace)
        self._check_events(ns, events, replay=replay)
        events = self._retained(ns, events) if replay else events
        if not events:
            if on_durable is not None:
                await on_durable()
            return
        if self._stopping:
            raise Overloaded("the service is shutting down; write synchronously or retry")
        buffer = self._buffer(ns)
        if buffer.queue.maxsize - buffer.queue.qsize() < len(events):
            self.events.add(f"timeseries_buffer_rejected_events:{ns.name}", len(events))
            raise Overloaded(
                f"the write buffer of {ns.name!r} is full ({ns.buffer_capacity} events); retry"
            )
        ticket = _Ticket(len(events), on_durable) if on_durable is not None else None
        for event in events:
            buffer.queue.put_nowait((event, ticket))
        if buffer.queue.qsize() >= ns.flush_batch_size:
            buffer.wake.set()

    def buffered(self) -> dict[str, int]:
        """Events accepted by `write_events_async` and not yet written, per namespace."""
        return {name: b.queue.qsize() for name, b in self._buffers.items()}

    def check_events(
        self, namespace: str, events: Sequence[Event], *, replay: bool = False
    ) -> None:
        """Refuse what a write of these events would refuse (limits, ids, the accept window
        unless `replay`), writing nothing: a caller with several writes checks every one
        before the first."""
        self._check_events(self._namespace(namespace), events, replay=replay)

    # --- reads ------------------------------------------------------------------------------

    async def read_events(
        self,
        namespace: str,
        series_id: str,
        *,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
        page_token: str | None = None,
        equals: Mapping[str, bytes] | None = None,
    ) -> EventPage:
        """Events of one series in `[start, end)` (microseconds), newest first."""
        self._calls.record("timeseries", "read_events")
        ns = self._namespace(namespace)
        _check_series(series_id)
        await self._tokens.prepare(page_token)
        query, _, scope = self._query(
            ns, start, end, limit, equals, f"read:{series_id}", page_token
        )
        with self._call("read_events"):
            rows = await self._store.ts_read(ns.name, ns.layout, series_id, query)
        return self._page(rows, query.limit - 1, scope)

    async def read_events_many(
        self,
        namespace: str,
        series_ids: Sequence[str],
        *,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
        equals: Mapping[str, bytes] | None = None,
    ) -> dict[str, EventPage]:
        """The first page of many series in one backend call (what dataloaders batch into)."""
        self._calls.record("timeseries", "read_events_many")
        ns = self._namespace(namespace)
        unique = list(dict.fromkeys(series_ids))
        if len(unique) > MAX_SERIES_PER_BATCH:
            raise TooLarge(f"at most {MAX_SERIES_PER_BATCH} series per batch")
        for series_id in unique:
            _check_series(series_id)
        query, base, _ = self._query(ns, start, end, limit, equals, "", None)
        with self._call("read_events_many"):
            found = await self._store.ts_read_many(ns.name, ns.layout, unique, query)
        # Each page's scope (a digest) is made only if one of its tokens is signed.
        return {
            s: self._page(found.get(s, []), query.limit - 1,
                          partial(self._scope, ns, base, f"read:{s}"))
            for s in unique
        }

    async def search_events(
        self,
        namespace: str,
        conditions: Sequence[Condition],
        *,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
        page_token: str | None = None,
    ) -> EventPage:
        """Events of any series in the interval matching every condition, newest first."""
        self._calls.record("timeseries", "search_events")
        ns = self._namespace(namespace)
        index = self._search_index(ns)
        conds = self._conditions(ns, conditions)
        await self._tokens.prepare(page_token)
        query, _, scope = self._query(
            ns, start, end, limit, None, f"search:{conds!r}", page_token, with_series=True
        )
        with self._index_call("search_events"):
            rows = await index.search(ns.name, ns.layout, ns.search_fields, conds, query)
        return self._page(rows, query.limit - 1, scope, with_series=True)

    async def aggregate_distinct(
        self,
        namespace: str,
        key: str,
        conditions: Sequence[Condition] = (),
        *,
        start: int | None = None,
        end: int | None = None,
        limit: int = 100,
    ) -> list[tuple[bytes, int]]:
        """Distinct values of item `key` among matching events, with counts, most common first."""
        self._calls.record("timeseries", "aggregate_distinct")
        ns = self._namespace(namespace)
        index = self._search_index(ns)
        _check_item_key(key)
        conds = self._conditions(ns, conditions)
        if not 1 <= limit <= ns.max_page_events:
            raise InvalidArgument(f"limit must be between 1 and {ns.max_page_events}")
        window, _, _ = self._query(ns, start, end, None, None, "", None)
        query = EventQuery(window.start, window.end, limit)
        with self._index_call("aggregate_distinct"):
            return await index.distinct(ns.name, ns.layout, ns.search_fields, key, conds, query)

    async def apply_retention(self, namespace: str | None = None) -> dict[str, list[int]]:
        """Drop the slices that lie wholly before each namespace's retention; returns them."""
        if namespace is not None:
            self._namespace(namespace)  # an unknown name is an error, not an empty sweep
        dropped: dict[str, list[int]] = {}
        for ns in self._namespaces.all():  # internal namespaces age out too
            if isinstance(ns, TimeSeriesNamespace) and namespace in (None, ns.name):
                cutoff = (now_micros() // 1_000_000) - ns.layout.retention_seconds
                with self._call("apply_retention"):
                    dropped[ns.name] = await self._store.ts_drop_slices_before(
                        ns.name, ns.layout, cutoff
                    )
                await self._drop_index_slices(ns, cutoff)
        return dropped

    # --- helpers ----------------------------------------------------------------------------

    def _namespace(self, name: str) -> TimeSeriesNamespace:
        return self._namespaces.get(name, TimeSeriesNamespace)

    def _check_events(
        self, ns: TimeSeriesNamespace, events: Sequence[Event], *, replay: bool = False
    ) -> None:
        if not events:
            raise InvalidArgument("events must not be empty")
        if len(events) > ns.max_events_per_write:
            raise TooLarge(
                f"{len(events)} events in one write; namespace {ns.name!r} allows "
                f"{ns.max_events_per_write}"
            )
        now = now_micros()
        oldest = now - int(ns.accept_window_seconds * 1_000_000) if not replay else None
        newest = now + self._namespaces.settings.max_future_micros
        for event in events:
            _check_series(event.series_id)
            if not isinstance(event.event_id, str) or not 0 < len(event.event_id) <= MAX_EVENT_ID:
                raise InvalidArgument(f"event_id must be 1 to {MAX_EVENT_ID} characters")
            if isinstance(event.event_time, bool) or not isinstance(event.event_time, int):
                raise InvalidArgument("event_time must be an integer (microseconds)")
            if not isinstance(event.items, Mapping):
                raise InvalidArgument("event items must be a map of key to bytes")
            if oldest is not None and event.event_time < oldest:
                raise InvalidArgument(
                    f"event time {_iso(event.event_time)} is older than the accept window of "
                    f"{ns.name!r} ({ns.accept_window_seconds:g}s)"
                )
            if event.event_time > newest:
                raise InvalidArgument(f"event time {_iso(event.event_time)} is in the future")
            if not event.items:
                raise InvalidArgument("an event needs at least one item")
            if len(event.items) > ns.max_items_per_event:
                raise TooLarge(f"at most {ns.max_items_per_event} items per event")
            for key, value in event.items.items():
                _check_item_key(key)
                if not isinstance(value, bytes):
                    raise InvalidArgument("item values must be bytes")
                if len(value) > ns.max_item_bytes:
                    raise TooLarge(
                        f"item {key!r} is {len(value)} bytes; at most {ns.max_item_bytes} allowed"
                    )

    def _retained(self, ns: TimeSeriesNamespace, events: Sequence[Event]) -> Sequence[Event]:
        """The events of a replay that retention keeps; the others are counted, not written."""
        floor = now_micros() - ns.layout.retention_seconds * 1_000_000
        kept = [e for e in events if e.event_time >= floor]
        if len(kept) < len(events):
            self.events.add(f"timeseries_replay_expired_events:{ns.name}", len(events) - len(kept))
        return kept

    def _query(
        self,
        ns: TimeSeriesNamespace,
        start: int | None,
        end: int | None,
        limit: int | None,
        equals: Mapping[str, bytes] | None,
        what: str,
        page_token: str | None,
        *,
        with_series: bool = False,
    ) -> tuple[EventQuery, EventQuery, str]:
        """Validate an interval and page size; resume after the page token's last event.

        Returns the query for the store, the query as the client asked it (what page tokens are
        bound to, not the clock), and the token scope.
        """
        now = now_micros()
        floor = now - ns.layout.retention_seconds * 1_000_000
        lo = floor if start is None else max(start, floor)
        hi = now + self._newest_ahead() if end is None else end
        if start is not None and end is not None and start >= end:
            raise InvalidArgument("the interval is empty: since must be before until")
        count = ns.page_events if limit is None else limit
        if not 1 <= count <= ns.max_page_events:
            raise InvalidArgument(f"first must be between 1 and {ns.max_page_events}")
        for key, value in (equals or {}).items():
            _check_item_key(key)
            if not isinstance(value, bytes):
                raise InvalidArgument("filter values must be bytes")
        base = EventQuery(start or 0, end or 0, count, None, dict(sorted((equals or {}).items())))
        scope = self._scope(ns, base, what)
        before = None
        if page_token is not None:
            state = self._tokens.decode(scope, page_token)
            try:
                before = EventCursor(int(state["t"]), str(state["i"]), str(state.get("s", "")))
            except (KeyError, TypeError, ValueError) as exc:
                raise InvalidArgument("page token is not valid") from exc
            if with_series != ("s" in state):
                raise InvalidArgument("page token is not valid")
        query = EventQuery(lo, max(hi, lo), count + 1, before, dict(equals or {}))
        return query, base, scope

    def _newest_ahead(self) -> int:
        """How far past this process's clock a stored event can be: a write is refused past its
        writer's clock plus `max_future_micros`, and a writer's clock is at most
        `max_clock_skew_seconds` ahead.  An open-ended read ends there (it ended a day ahead:
        on Cassandra, a day of empty partitions read first, before the newest event)."""
        settings = self._namespaces.settings
        return settings.max_future_micros + int(settings.max_clock_skew_seconds * 1e6) + 1

    @staticmethod
    def _scope(ns: TimeSeriesNamespace, query: EventQuery, what: str) -> str:
        return "ts:" + hashlib.sha256(
            repr((ns.name, what, query.start, query.end, query.limit,
                  sorted(query.equals.items()))).encode()
        ).hexdigest()[:24]

    def _page(
        self, rows: list[Event], count: int, scope: str | Callable[[], str], *,
        with_series: bool = False,
    ) -> EventPage:
        events = rows[:count]
        cursors = Cursors(self._tokens, scope, events,
                          _series_state if with_series else _event_state)
        token = cursors[-1] if len(rows) > count and events else None
        return EventPage(events, token, cursors)

    def _search_index(self, ns: TimeSeriesNamespace) -> SearchIndex:
        if not ns.search:
            raise InvalidArgument(f"namespace {ns.name!r} does not have search enabled")
        if self._index is None:
            raise InvalidArgument(
                f"search on {ns.name!r} needs a search index; configure a search URL"
            )
        return self._index

    def _conditions(
        self, ns: TimeSeriesNamespace, conditions: Sequence[Condition]
    ) -> tuple[Condition, ...]:
        """Check conditions and coerce their values to the key's declared type."""
        if len(conditions) > MAX_CONDITIONS:
            raise TooLarge(f"at most {MAX_CONDITIONS} conditions")
        out: list[Condition] = []
        for cond in conditions:
            _check_item_key(cond.key)
            if cond.op not in ("eq", "gt", "gte", "lt", "lte"):
                raise InvalidArgument(f"unknown operator {cond.op!r}")
            kind = ns.search_fields.get(cond.key, "keyword")
            out.append(Condition(cond.key, cond.op, _coerce(kind, cond.key, cond.value)))
        return tuple(out)

    async def _index_events(self, ns: TimeSeriesNamespace, events: Sequence[Event]) -> None:
        """Index after the primary write; a failure is retried and counted, never raised."""
        if not ns.search or self._index is None or self._index is self._store:
            return
        for attempt in range(INDEX_ATTEMPTS):
            try:
                with self._index_call("index_events"):
                    await self._index.index_events(
                        ns.name, ns.layout, ns.search_fields, events,
                        refresh_seconds=ns.search_refresh_seconds,
                    )
                return
            except Unavailable:  # the index's StoreError
                self.events.add(f"search_index_retries:{ns.name}")
                await asyncio.sleep(0.05 * 2**attempt)
        self.events.add(f"search_index_failures:{ns.name}", len(events))
        log.warning("indexing %d events of %s failed; the primary write stands",
                    len(events), ns.name)

    async def _drop_index_slices(self, ns: TimeSeriesNamespace, cutoff: int) -> None:
        """Retention of a separate index: a failure is counted, and the next pass catches up."""
        if not ns.search or self._index is None or self._index is self._store:
            return
        try:
            with self._index_call("apply_retention"):
                await self._index.drop_slices_before(ns.name, ns.layout, cutoff)
        except Unavailable:  # the index's StoreError
            self.events.add(f"search_retention_failures:{ns.name}")
            log.warning("dropping old search slices of %s failed; will retry", ns.name,
                        exc_info=True)

    def _buffer(self, ns: TimeSeriesNamespace) -> _Buffer:
        buffer = self._buffers.get(ns.name)
        if buffer is None:
            buffer = _Buffer(asyncio.Queue(ns.buffer_capacity))
            buffer.task = asyncio.create_task(self._flush_loop(ns, buffer))
            self._buffers[ns.name] = buffer
        return buffer

    async def _flush_loop(self, ns: TimeSeriesNamespace, buffer: _Buffer) -> None:
        """Write buffered events in batches until stopped, then drain what is left."""
        while True:
            await wait_for_event(buffer.wake, ns.flush_interval_seconds)
            buffer.wake.clear()
            while not buffer.queue.empty():
                batch = [
                    buffer.queue.get_nowait()
                    for _ in range(min(ns.flush_batch_size, buffer.queue.qsize()))
                ]
                await self._flush(ns, batch)
            if self._stopping:
                return

    async def _flush(
        self, ns: TimeSeriesNamespace, batch: list[tuple[Event, _Ticket | None]]
    ) -> None:
        events = [event for event, _ in batch]
        for attempt in range(INDEX_ATTEMPTS):
            try:
                with self._call("flush"):
                    await self._store.ts_write(ns.name, ns.layout, events)
            except Unavailable:  # the store's StoreError
                self.events.add(f"timeseries_flush_retries:{ns.name}")
                await asyncio.sleep(0.1 * 2**attempt)
                continue
            self.events.add(f"timeseries_flushed_events:{ns.name}", len(events))
            await self._durable(ns, batch)
            await self._index_events(ns, events)
            return
        for _, ticket in batch:
            if ticket is not None:
                ticket.lost = True
        self.events.add(f"timeseries_dropped_events:{ns.name}", len(events))
        log.error("dropped %d buffered events of %s after %d attempts",
                  len(events), ns.name, INDEX_ATTEMPTS)

    async def _durable(
        self, ns: TimeSeriesNamespace, batch: list[tuple[Event, _Ticket | None]]
    ) -> None:
        """Call back the writes whose last events this batch made durable."""
        complete: list[_Ticket] = []
        for _, ticket in batch:
            if ticket is not None:
                ticket.pending -= 1
                if ticket.pending == 0 and not ticket.lost:
                    complete.append(ticket)
        if not complete:
            return
        results = await asyncio.gather(*(t.on_durable() for t in complete),
                                       return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            self.events.add(f"timeseries_durable_callback_failures:{ns.name}", len(failed))
            log.warning("%d of %s's durable-write callbacks failed: %s",
                        len(failed), ns.name, failed[0])

    async def _retention_loop(self, interval: float) -> None:
        while True:
            try:
                await self.apply_retention()
            except Exception:
                log.exception("retention pass failed; will retry")
            await asyncio.sleep(interval)


def _event_state(event: Event) -> dict[str, object]:
    """What an edge cursor resumes after (`_query` reads it back)."""
    return {"t": event.event_time, "i": event.event_id}


def _series_state(event: Event) -> dict[str, object]:
    return {"t": event.event_time, "i": event.event_id, "s": event.series_id}


def _check_series(series_id: str) -> None:
    if not isinstance(series_id, str) or not 0 < len(series_id) <= MAX_SERIES_ID:
        raise InvalidArgument(f"time_series_id must be 1 to {MAX_SERIES_ID} characters")


def _check_item_key(key: str) -> None:
    if not isinstance(key, str) or not 0 < len(key) <= MAX_ITEM_KEY:
        raise InvalidArgument(f"item keys must be 1 to {MAX_ITEM_KEY} characters")


def _coerce(kind: str, key: str, value: str | float) -> str | float:
    if kind == "keyword":
        return value if isinstance(value, str) else f"{value:g}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except ValueError:
        pass
    if kind == "date":
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise InvalidArgument(f"condition on {key!r} needs a {kind} value, got {value!r}")


def _iso(micros: int) -> str:
    """A time for a message; one outside datetime's years (0001-9999 UTC) as microseconds."""
    from datetime import UTC

    try:
        return datetime.fromtimestamp(micros / 1e6, UTC).isoformat()
    except (ValueError, OverflowError, OSError):
        return f"{micros} microseconds since the epoch"
