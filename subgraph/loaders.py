"""Per-request dataloaders: the only way resolvers read, one batch per loader per tick.

Each loader groups its keys by everything but the entity id, so N entities asking the same
question become one call into the abstraction's batch API, whatever N.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

from aiodataloader import DataLoader

from abstractions.access import CallerGateway
from abstractions.analytics import Aggregate, Group
from abstractions.counter import Count
from abstractions.errors import Forbidden, InvalidArgument
from abstractions.kv import ItemPage
from abstractions.relational import RowPage
from abstractions.timeseries import EventPage
from abstractions.tokens import now_micros

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    """A read of one time series, minus the series id: the shape a batch shares."""

    namespace: str
    first: int
    after: str | None = None
    start: int | None = None
    end: int | None = None
    equals: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class ItemsQuery:
    """A read of one KV record's items, minus the record id."""

    namespace: str
    first: int
    after: str | None = None
    keys: tuple[bytes, ...] | None = None
    start: bytes | None = None
    end: bytes | None = None
    descending: bool = False
    page_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class AggregateShape:
    """An aggregate of one entity, minus the entity's id: `by` is the column the id is a
    value of (`series_id` for a profile, `title_id` for a title)."""

    namespace: str
    by: str
    query: Aggregate


@dataclass(frozen=True, slots=True)
class InvoicesQuery:
    """A page of one account's invoices, minus the account id and its cursor."""

    status: str | None
    first: int


BILLING = "billing"


def _grouped(keys: Sequence[tuple[str, K]]) -> dict[K, list[str]]:
    groups: dict[K, list[str]] = defaultdict(list)
    for entity_id, shape in keys:
        groups[shape].append(entity_id)
    return groups


async def _settle(
    keys: Sequence[tuple[str, K]],
    groups: dict[K, list[str]],
    fetch: Callable[[K, list[str]], Any],
) -> list[Any]:
    """Run one fetch per group; a failed group fails only its own keys."""
    shapes = list(groups)
    results = await asyncio.gather(
        *(fetch(shape, groups[shape]) for shape in shapes), return_exceptions=True
    )
    by_shape = dict(zip(shapes, results, strict=True))
    out: list[Any] = []
    for entity_id, shape in keys:
        found = by_shape[shape]
        out.append(found if isinstance(found, BaseException) else found[entity_id])
    return out


BatchObserver = Callable[[str, int], AbstractContextManager[object]]
"""Told of each batch (the loader's name, its number of keys), around it: metrics, a span."""


def _unobserved(loader: str, size: int) -> AbstractContextManager[object]:
    return nullcontext()


class Loaders:
    """The dataloaders of one request."""

    def __init__(self, gateway: CallerGateway, observe: BatchObserver | None = None) -> None:
        self._gateway = gateway
        self._observe = observe or _unobserved
        # aiodataloader runs each batch in a task of its own, outside the request's task: they
        # are tracked so that a request past its deadline can cancel them (`cancel`).
        self._batches: set[asyncio.Task[Any]] = set()
        # The batch functions hold the gateway, never this object: a loader that pointed back
        # here would make a reference cycle, and every page of the request (its cache's
        # futures) would wait for the garbage collector instead of going when the request
        # does (tests/subgraph/test_loaders_free.py).
        self.series = self._loader("series", _load_series)
        self.counts = self._loader("counts", _load_counts)
        self.items = self._loader("items", _load_items)
        self.aggregates = self._loader("aggregates", _load_aggregates)
        # One "now" per request: every default interval ending now is the same interval, so
        # the same shape (one batch) whichever entity asks.
        self.now = now_micros()
        self.invoices = self._loader("invoices", _load_invoices)
        self.balances = self._loader("balances", _load_balances)

    def _loader(
        self, name: str, load: Callable[[CallerGateway, Sequence[Any]], Awaitable[list[Any]]]
    ) -> DataLoader:
        return DataLoader(_tracked(name, load, self._gateway, self._observe, self._batches))

    def cancel(self) -> None:
        """Cancel the batches still running (the request gave up on them)."""
        for task in list(self._batches):
            task.cancel()


def _tracked(
    name: str,
    load: Callable[[CallerGateway, Sequence[Any]], Awaitable[list[Any]]],
    gateway: CallerGateway,
    observe: BatchObserver,
    batches: set[asyncio.Task[Any]],
) -> Callable[[Sequence[Any]], Awaitable[list[Any]]]:
    """`load` as a loader's batch function: observed, and its task kept in `batches` while it
    runs (see `Loaders.cancel`)."""

    async def batch(keys: Sequence[Any]) -> list[Any]:
        task = asyncio.current_task()
        if task is not None:
            batches.add(task)
        try:
            with observe(name, len(keys)):
                return await load(gateway, keys)
        finally:
            batches.discard(task)  # type: ignore[arg-type]

    return batch


async def _load_series(
    gateway: CallerGateway, keys: Sequence[tuple[str, SeriesQuery]]
) -> list[Any]:
    ts = gateway.timeseries

    async def fetch(q: SeriesQuery, ids: list[str]) -> dict[str, EventPage]:
        if q.after is None:
            return await ts.read_events_many(
                q.namespace, ids, start=q.start, end=q.end, limit=q.first,
                equals=dict(q.equals),
            )
        # A cursor continues one series' own page; it cannot be shared across series.
        pages = await asyncio.gather(*(
            ts.read_events(q.namespace, i, start=q.start, end=q.end, limit=q.first,
                           page_token=q.after, equals=dict(q.equals))
            for i in ids
        ))
        return dict(zip(ids, pages, strict=True))

    return await _settle(keys, _grouped(keys), fetch)


async def _load_counts(gateway: CallerGateway, keys: Sequence[tuple[str, str]]) -> list[Any]:
    # A counter past 64 bits comes back as its CounterOverflow instance: aiodataloader
    # rejects that key alone, and the rest of the batch keeps its counts.
    async def fetch(namespace: str, names: list[str]) -> dict[str, Count]:
        return await gateway.counters.get_many(namespace, names)

    return await _settle(keys, _grouped(keys), fetch)


async def _load_items(gateway: CallerGateway, keys: Sequence[tuple[str, ItemsQuery]]) -> list[Any]:
    kv = gateway.kv

    async def fetch(q: ItemsQuery, ids: list[str]) -> dict[str, ItemPage]:
        if q.after is None:
            return await kv.get_items_many(
                q.namespace, ids, keys=q.keys, start=q.start, end=q.end,
                descending=q.descending, limit=q.first, page_bytes=q.page_bytes,
            )
        pages = await asyncio.gather(*(
            kv.get_items(q.namespace, i, keys=q.keys, start=q.start, end=q.end,
                         descending=q.descending, limit=q.first, page_bytes=q.page_bytes,
                         page_token=q.after)
            for i in ids
        ))
        return dict(zip(ids, pages, strict=True))

    return await _settle(keys, _grouped(keys), fetch)


async def _load_aggregates(
    gateway: CallerGateway, keys: Sequence[tuple[str, AggregateShape]]
) -> list[Any]:
    analytics = gateway.analytics
    if analytics is None:
        raise InvalidArgument("analytics is not configured")

    async def fetch(shape: AggregateShape, ids: list[str]) -> dict[str, list[Group]
                                                                     | Forbidden]:
        if shape.by == "series_id":  # each series' read is decided on its own
            return await analytics.aggregate_series(shape.namespace, shape.query, ids)
        found = await analytics.aggregate(
            shape.namespace, shape.query, by=shape.by, keys=ids
        )
        return dict(found)

    return await _settle(keys, _grouped(keys), fetch)


async def _load_invoices(
    gateway: CallerGateway, keys: Sequence[tuple[str, InvoicesQuery, str | None]]
) -> list[Any]:
    """(account id, query, cursor): one store call per (status, first), cursors and all."""
    from abstractions.relational import Condition

    rel = gateway.relational
    assert rel is not None
    groups: dict[InvoicesQuery, list[int]] = defaultdict(list)
    for at, (_, query, _) in enumerate(keys):
        groups[query].append(at)

    async def fetch(q: InvoicesQuery, members: list[int]) -> dict[int, RowPage]:
        wheres = [
            [Condition("account_id", "eq", keys[at][0])]
            + ([Condition("status", "eq", q.status)] if q.status else [])
            for at in members
        ]
        pages = await rel.query_many(
            BILLING, "invoices", wheres, order_by="issued_at", descending=True,
            first=q.first, after=[keys[at][2] for at in members],
        )
        return dict(zip(members, pages, strict=True))

    shapes = list(groups)
    results = await asyncio.gather(*(fetch(q, groups[q]) for q in shapes),
                                   return_exceptions=True)
    out: list[Any] = [None] * len(keys)
    for q, found in zip(shapes, results, strict=True):
        for at in groups[q]:
            out[at] = found if isinstance(found, BaseException) else found[at]
    return out


async def _load_balances(gateway: CallerGateway, keys: Sequence[str]) -> list[Any]:
    """Open invoices' amounts still to pay, per account: one store call."""
    rel = gateway.relational
    assert rel is not None
    sums = await rel.sums(BILLING, "invoices", "account_id", list(dict.fromkeys(keys)),
                          ["amount_cents", "paid_cents"], {"status": "open"})
    return [sums[k][0] - sums[k][1] for k in keys]
