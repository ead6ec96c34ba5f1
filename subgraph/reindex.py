"""`python -m subgraph reindex NAMESPACE [--since T] [--until T]`: rebuild a search index.

Reads every event of the interval from the primary store and indexes it again.  Indexing an
event merges it into its document, so a reindex is safe while the service writes, and can simply
be run again after it stopped half-way.  Use it after the index was lost or dropped, after the
cluster was down longer than the abstraction's retries, or after a key was declared numeric or
date in the namespace's `search_fields` (existing slices then gain the field, and a reindex
fills it).  The interval defaults to the namespace's retention, up to a day ahead of now.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from abstractions.errors import DataGatewayError
from abstractions.gateway import DataGateway
from abstractions.namespaces import TimeSeriesNamespace
from abstractions.tokens import now_micros
from backends.base import EventScan, SearchIndex, StoredEvent, StoreError

BATCH = 500
ATTEMPTS = 5
_DAY = 86_400 * 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
REPORT_EVERY = 10_000


class ReindexError(Exception):
    """The reindex cannot start, or stopped; the message says why and how far it got."""


@dataclass(frozen=True, slots=True)
class ReindexResult:
    namespace: str
    start: int
    end: int
    events: int
    seconds: float


async def reindex(
    gateway: DataGateway,
    namespace: str,
    *,
    start: int | None = None,
    end: int | None = None,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
) -> ReindexResult:
    """Index every event of `namespace` in `[start, end)` (microseconds) again."""
    ns, index, store = check(gateway, namespace)
    now = now_micros()
    lo = now - ns.layout.retention_seconds * 1_000_000 if start is None else start
    hi = now + _DAY if end is None else end
    if lo >= hi:
        raise ReindexError("the interval is empty: --since must be before --until")
    began = time.monotonic()
    count = 0
    async for events in store.ts_scan(ns.name, ns.layout, lo, hi, batch):
        try:
            await _index(index, ns, events)
        except StoreError as exc:
            raise ReindexError(
                f"indexing failed after {count} events of {namespace!r}: {exc}"
            ) from exc
        count += len(events)
        if progress is not None:
            progress(count)
    return ReindexResult(namespace, lo, hi, count, time.monotonic() - began)


def check(
    gateway: DataGateway, namespace: str
) -> tuple[TimeSeriesNamespace, SearchIndex, EventScan]:
    """What a reindex of `namespace` needs, checked before any store is opened: the namespace
    first (a mistyped name is the likeliest mistake), then its search, then the index and a
    store that can list events."""
    try:
        ns = gateway.namespaces.get(namespace, TimeSeriesNamespace)
    except DataGatewayError as exc:
        raise ReindexError(str(exc)) from None
    if not ns.search:
        raise ReindexError(f"namespace {namespace!r} does not have search enabled")
    index = gateway.search_index
    if index is None:
        raise ReindexError("reindex needs a search index: give --search or set SUBGRAPH_SEARCH")
    store = gateway.store
    if not isinstance(store, EventScan):
        raise ReindexError(
            f"the {type(store).__name__} store cannot list events (ts_scan), so it cannot "
            "rebuild an index"
        )
    return ns, index, store


async def _index(
    index: SearchIndex, ns: TimeSeriesNamespace, events: Sequence[StoredEvent]
) -> None:
    for attempt in range(ATTEMPTS):
        try:
            await index.index_events(
                ns.name, ns.layout, ns.search_fields, events,
                refresh_seconds=ns.search_refresh_seconds,
            )
            return
        except StoreError:
            if attempt == ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.2 * 2**attempt)


def parse_time(text: str) -> int:
    """ISO-8601 (UTC when no offset is given) as microseconds since the epoch."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO-8601 time: {text!r} (e.g. 2024-05-01T00:00:00Z)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // timedelta(microseconds=1)


def _reporter() -> Callable[[int], None]:
    reported = 0

    def report(count: int) -> None:
        nonlocal reported
        if count - reported >= REPORT_EVERY:
            print(f"  {count} events indexed", file=sys.stderr, flush=True)
            reported = count

    return report


def _iso(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1e6, UTC).isoformat(timespec="seconds")


async def run(args: argparse.Namespace) -> int:
    """The command: open the gateway on the given store and index, reindex, report."""
    from .app import Settings, open_gateway

    try:
        gateway = open_gateway(Settings(args.store, args.namespaces, search_url=args.search))
        check(gateway, args.namespace)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ReindexError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    await gateway.start(background=False)
    try:
        result = await reindex(
            gateway, args.namespace, start=args.since, end=args.until, progress=_reporter()
        )
    except (ReindexError, DataGatewayError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await gateway.stop()
    print(
        f"reindexed {result.events} events of {result.namespace} from {_iso(result.start)} "
        f"to {_iso(result.end)} in {result.seconds:.1f}s"
    )
    return 0
