"""Aggregates over the archive plus the open slices equal a brute force over the primary store.

Random events over two days of hour slices, a random part of them exported; random intervals
that start and end inside slices and across the exported/open boundary; every aggregate is
checked against a count made in Python from every event the primary store holds.
"""

from __future__ import annotations

import math
import operator
import random
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, timedelta
from pathlib import Path

import pytest

from abstractions.analytics import Aggregate, Group
from abstractions.errors import InvalidArgument, TooLarge
from abstractions.gateway import DataGateway
from abstractions.namespaces import Namespaces, TimeSeriesNamespace
from abstractions.tokens import PageTokens
from backends.base import Condition, StoredEvent
from backends.iceberg import IcebergArchive
from tests.conftest import make_store

HOUR = 3600 * 1_000_000
NS = "play_analytics"
# Five days ago, at midnight UTC: within the primary's retention (a Cassandra store has no
# slice older than that).
BASE = (time.time_ns() // 1000 // (86400 * 1_000_000) - 5) * 86400 * 1_000_000
SPAN = 48 * HOUR
DEVICES = [b"tv", b"phone", b"web"]
TITLES = [f"t{i}".encode() for i in range(6)]
PROFILES = [f"p{i}" for i in range(5)]


def _random_events(rng: random.Random, n: int, prefix: str) -> list[StoredEvent]:
    out = []
    for i in range(n):
        items: dict[str, bytes] = {}
        if rng.random() < 0.95:
            items["device"] = rng.choice(DEVICES)
        if rng.random() < 0.97:
            items["title_id"] = rng.choice(TITLES)
        roll = rng.random()
        if roll < 0.9:
            items["position_seconds"] = str(rng.randrange(0, 7200)).encode()
        elif roll < 0.95:
            items["position_seconds"] = b"not a number"
        out.append(StoredEvent(
            prefix + rng.choice(PROFILES), BASE + rng.randrange(SPAN), f"e{i}", items
        ))
    return out


def _number(value: bytes | None) -> float | None:
    try:
        n = float(value) if value is not None else None
    except ValueError:
        return None
    return None if n is None or math.isnan(n) else n


def _value(e: StoredEvent, key: str) -> object:
    if key == "series_id":
        return e.series_id
    if key == "day":
        return date(1970, 1, 1) + timedelta(days=e.event_time // (86400 * 1_000_000))
    raw = e.items.get(key)
    return None if raw is None else raw.decode()


def brute(
    events: Sequence[StoredEvent], q: Aggregate, by: str | None, keys: Sequence[str]
) -> dict[str, list[Group]]:
    """The aggregate, counted in Python."""
    ops = {"eq": operator.eq, "gt": operator.gt, "gte": operator.ge, "lt": operator.lt,
           "lte": operator.le}

    def holds(e: StoredEvent) -> bool:
        for c in q.conditions:
            v = _value(e, c.key)
            if c.key == "position_seconds":
                v = _number(e.items.get(c.key))
                if v is None or not ops[c.op](v, float(c.value)):
                    return False
            elif v is None or not ops[c.op](v, c.value):
                return False
        return True

    chosen = [e for e in events if q.since <= e.event_time < q.until and holds(e)]
    out: dict[str, list[Group]] = {}
    for key in (keys if by else [""]):
        mine = [e for e in chosen if by is None or _value(e, by) == key]
        groups: dict[tuple[object, ...], list[StoredEvent]] = defaultdict(list)
        for e in mine:
            groups[tuple(_value(e, g) for g in q.group_by)].append(e)
        found = [
            Group(
                k, len(es),
                tuple(sum(_number(e.items.get(s)) or 0.0 for e in es) for s in q.sums),
                tuple(len({_value(e, d) for e in es} - {None}) for d in q.distinct),
            )
            for k, es in groups.items()
        ]
        found.sort(key=lambda g: (-g.count, *[(v is None, v or "") for v in g.keys]))
        out[key] = found[: q.top] if q.top else found
    return out


def normal(found: dict[str, list[Group]], *, ordered: bool) -> dict[str, list[tuple]]:
    def row(g: Group) -> tuple:
        return (g.keys, g.count, tuple(round(s, 6) for s in g.sums), g.distinct)

    return {
        k: [row(g) for g in v] if ordered else sorted((row(g) for g in v), key=repr)
        for k, v in found.items()
    }


@pytest.fixture
async def gw(
    backend: str, tmp_path: Path, namespaces: Namespaces
) -> AsyncIterator[DataGateway]:
    gateway = DataGateway(
        make_store(backend, tmp_path), namespaces, page_tokens=PageTokens(b"test"),
        archive=IcebergArchive.in_directory(tmp_path / "analytics"),  # this test's own
    )
    await gateway.start(background=False)
    try:
        yield gateway
    finally:
        await gateway.stop()


SHAPES: list[Callable[[random.Random, str], tuple[Aggregate, str | None, list[str]]]] = []


def shape(fn: Callable[[random.Random, str], tuple[Aggregate, str | None, list[str]]]) -> None:
    SHAPES.append(fn)


def _mine(p: str) -> tuple[Condition, ...]:
    """This test's series only (a Cassandra keyspace is shared by the session)."""
    return Condition("series_id", "gte", p), Condition("series_id", "lt", p + "~")


def _interval(rng: random.Random) -> tuple[int, int]:
    a, b = sorted(rng.randrange(-HOUR, SPAN + HOUR) for _ in range(2))
    return BASE + a, BASE + b + 1


@shape
def _profile_totals(rng: random.Random, p: str) -> tuple[Aggregate, str | None, list[str]]:
    since, until = _interval(rng)
    q = Aggregate(since, until, sums=("position_seconds",), distinct=("title_id",))
    return q, "series_id", [p + x for x in rng.sample(PROFILES, 3)] + [p + "nobody"]


@shape
def _profile_by_device(rng: random.Random, p: str) -> tuple[Aggregate, str | None, list[str]]:
    since, until = _interval(rng)
    q = Aggregate(since, until, group_by=("device",), sums=("position_seconds",))
    return q, "series_id", [p + x for x in PROFILES]


@shape
def _title_by_day(rng: random.Random, p: str) -> tuple[Aggregate, str | None, list[str]]:
    since, until = _interval(rng)
    q = Aggregate(since, until, group_by=("day",), sums=("position_seconds",),
                  distinct=("series_id",), conditions=_mine(p))
    return q, "title_id", [t.decode() for t in rng.sample(TITLES, 2)]


@shape
def _top_titles(rng: random.Random, p: str) -> tuple[Aggregate, str | None, list[str]]:
    since, until = _interval(rng)
    q = Aggregate(since, until, group_by=("title_id",), top=rng.randrange(1, 4))
    return q, "series_id", [p + x for x in PROFILES]


@shape
def _generic_grouped(rng: random.Random, p: str) -> tuple[Aggregate, str | None, list[str]]:
    since, until = _interval(rng)
    device = rng.choice(DEVICES).decode()
    q = Aggregate(since, until, group_by=("title_id", "device"), sums=("position_seconds",),
                  conditions=(Condition("device", "eq", device), *_mine(p),
                              Condition("position_seconds", "gte", "100")))
    return q, None, []


@pytest.mark.parametrize("seed", range(4))
async def test_aggregates_equal_a_brute_force_over_the_primary_store(
    gw: DataGateway, seed: int, uid: str
) -> None:
    rng = random.Random(seed)
    ns = gw.namespaces.get(NS, TimeSeriesNamespace)
    events = _random_events(rng, 600, uid)
    await gw.store.ts_write(ns.name, ns.layout, events)
    # Export the slices that end before a random hour: those are read from Parquet, the rest
    # from the primary store.
    boundary = BASE + rng.randrange(2, 46) * HOUR
    result = await gw.analytics.export_slices(NS, until=boundary, now=BASE + 400 * HOUR)
    assert result.exported
    counted = 0
    for _ in range(12):
        make = rng.choice(SHAPES)
        q, by, keys = make(rng, uid)
        found = await gw.analytics.aggregate(NS, q, by=by, keys=keys)
        expected = brute(events, q, by, keys)
        ordered = q.top is not None
        assert normal(found, ordered=ordered) == normal(expected, ordered=ordered), (q, by)
        counted += sum(g.count for groups in found.values() for g in groups)
    assert counted > 0


async def test_each_event_is_counted_once_across_the_boundary(gw: DataGateway, uid: str) -> None:
    ns = gw.namespaces.get(NS, TimeSeriesNamespace)
    evs = [StoredEvent(uid, BASE + h * HOUR + 1, f"e{h}", {"device": b"tv"}) for h in range(6)]
    await gw.store.ts_write(ns.name, ns.layout, evs)
    q = Aggregate(BASE, BASE + 6 * HOUR)
    before = await gw.analytics.aggregate(NS, q, by="series_id", keys=[uid])
    await gw.analytics.export_slices(NS, until=BASE + 3 * HOUR, now=BASE + 400 * HOUR)
    middle = await gw.analytics.aggregate(NS, q, by="series_id", keys=[uid])
    await gw.analytics.export_slices(NS, now=BASE + 400 * HOUR)
    after = await gw.analytics.aggregate(NS, q, by="series_id", keys=[uid])
    assert [g.count for g in before[uid]] == [g.count for g in middle[uid]] == [
        g.count for g in after[uid]] == [6]


async def test_one_duckdb_query_answers_a_batch(gw: DataGateway, uid: str) -> None:
    ns = gw.namespaces.get(NS, TimeSeriesNamespace)
    await gw.store.ts_write(ns.name, ns.layout, _random_events(random.Random(7), 100, uid))
    calls = gw.calls.snapshot().get(("analytics", "aggregate"), 0)
    await gw.analytics.aggregate(
        NS, Aggregate(BASE, BASE + SPAN), by="series_id", keys=[uid + p for p in PROFILES]
    )
    assert gw.calls.snapshot()[("analytics", "aggregate")] == calls + 1


@pytest.mark.parametrize(("query", "message"), [
    (Aggregate(BASE, BASE + HOUR, sums=("device",)), "sum key 'device' is keyword, not numeric"),
    (Aggregate(BASE, BASE + HOUR, sums=("nope",)), "sum key 'nope' is not a typed field"),
    (Aggregate(BASE, BASE + HOUR, group_by=("nope",)), "groupBy key 'nope' is not a typed"),
    (Aggregate(BASE, BASE + HOUR, conditions=(Condition("x", "eq", "1"),)), "where key 'x'"),
    (Aggregate(BASE, BASE + HOUR, conditions=(Condition("position_seconds", "gt", "abc"),)),
     "is not a numeric value"),
    (Aggregate(BASE + HOUR, BASE), "`since` must be before `until`"),
])
async def test_unknown_or_mistyped_keys_are_refused(
    gw: DataGateway, query: Aggregate, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(")):
        await gw.analytics.aggregate(NS, query)


async def test_interval_and_group_limits(gw: DataGateway, uid: str) -> None:
    with pytest.raises(TooLarge, match="at most 400 days"):
        await gw.analytics.aggregate(NS, Aggregate(BASE, BASE + 401 * 24 * HOUR))
    ns = gw.namespaces.get(NS, TimeSeriesNamespace)
    evs = [StoredEvent(uid, BASE + i, f"e{i}", {"title_id": f"t{i}".encode()})
           for i in range(ns.analytics_max_groups + 1)]
    await gw.store.ts_write(ns.name, ns.layout, evs)
    with pytest.raises(TooLarge, match="more than 10000 groups"):
        await gw.analytics.aggregate(
            NS, Aggregate(BASE, BASE + HOUR, group_by=("title_id",)), by="series_id", keys=[uid]
        )
