"""The five store operations of benchmarks 4 and 5, through the abstractions, on any store.

- `kv_get_100`: the first page of 100 items of one record (`KeyValue.get_items`, limit 100);
- `kv_put_100`: 100 items of ~100 bytes into a fresh record (`KeyValue.put_items`);
- `ts_write_1000`: 1,000 events (100 series x 10, three items each, within the last hour) in one
  synchronous `TimeSeries.write_events`;
- `ts_read_day`: one series holding 1,000 events over the last 24 hours, read whole
  (`TimeSeries.read_events` over the day, limit 1,000);
- `counter_add_1000`: 1,000 concurrent `Counters.add` of 1 to one counter, eventual mode, each
  with its own idempotency token.

The namespaces are the benchmark's own (`bench_*`), added to the shipped ones, and every run
writes under fresh ids, so runs do not see each other's data.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from abstractions.gateway import DataGateway
from abstractions.kv import Item
from abstractions.namespaces import (
    CounterNamespace,
    KVNamespace,
    Namespaces,
    TimeSeriesNamespace,
    load_namespaces,
)
from abstractions.timeseries import Event
from abstractions.tokens import IdempotencyToken, PageTokens, now_micros
from backends.base import Store

KV_NS = "bench_kv"
TS_NS = "bench_ts"
COUNTER_NS = "bench_counter"
KV_ITEMS = 100
VALUE = b"v" * 100
TS_SERIES = 100
TS_EVENTS_PER_SERIES = 10
DAY_EVENTS = 1000
DAY = 86_400 * 1_000_000
COUNTER_ADDS = 1000

DESCRIPTIONS = {
    "kv_get_100": "KV get of 100 items of one record",
    "kv_put_100": "KV put of 100 items",
    "ts_write_1000": "TimeSeries sync write of 1,000 events",
    "ts_read_day": "TimeSeries read of one series over a day (1,000 events)",
    "counter_add_1000": "Counter add x 1,000, eventual mode (concurrent)",
}


def bench_namespaces() -> Namespaces:
    return load_namespaces().with_overrides(
        KVNamespace(name=KV_NS),
        TimeSeriesNamespace(
            name=TS_NS, accept_window_seconds=2 * 86400, max_page_events=DAY_EVENTS,
            retention_days=30,
        ),
        CounterNamespace(name=COUNTER_NS, mode="eventual"),
    )


def kv_items(n: int = KV_ITEMS) -> list[Item]:
    return [Item(f"k{j:03d}".encode(), VALUE) for j in range(n)]


def playback_items(n: int) -> dict[str, bytes]:
    return {
        "title_id": f"t{n % 7}".encode(),
        "position_seconds": str(60 * n).encode(),
        "duration_seconds": str(1200 + n).encode(),
    }


def write_batch(run: str, i: int, now: int) -> list[Event]:
    """The events of the i-th `ts_write_1000`: fresh ids, spread over the last hour."""
    return [
        Event(
            f"{run}-w{s:03d}", now - (s * TS_EVENTS_PER_SERIES + e) * 3_000_000 - i,
            f"{run}-{i}-{s}-{e}", playback_items(e),
        )
        for s in range(TS_SERIES) for e in range(TS_EVENTS_PER_SERIES)
    ]


def day_events(series: str, now: int) -> list[Event]:
    step = DAY // DAY_EVENTS
    return [
        Event(series, now - 1_000_000 - n * step, f"d{n:04d}", playback_items(n))
        for n in range(DAY_EVENTS)
    ]


Op = Callable[[int], Awaitable[None]]


@dataclass(slots=True)
class Fixture:
    """What the operations share: the run's id prefix and the data written at setup."""

    run: str
    kv_record: str
    day_series: str
    day_start: int
    day_end: int
    counter: str

    @classmethod
    def new(cls) -> Fixture:
        run = f"b{uuid.uuid4().hex[:10]}"
        now = now_micros()
        return cls(run, f"{run}-get", f"{run}-day", now - DAY, now, f"{run}-hot")


class AbstractionOps:
    """The operations through a started `DataGateway` (background work off)."""

    def __init__(self, gateway: DataGateway, fixture: Fixture) -> None:
        self.gw = gateway
        self.fx = fixture
        self.items = kv_items()  # the client's input, made once (as the raw side's payload is)

    @classmethod
    async def open(cls, store: Store, fixture: Fixture) -> AbstractionOps:
        gateway = DataGateway(store, bench_namespaces(), page_tokens=PageTokens(b"bench"))
        await gateway.start(background=False)
        ops = cls(gateway, fixture)
        await ops.setup()
        return ops

    async def close(self) -> None:
        await self.gw.stop()

    async def setup(self) -> None:
        fx = self.fx
        await self.gw.kv.put_items(KV_NS, fx.kv_record, kv_items(), IdempotencyToken.new())
        await self.gw.timeseries.write_events(TS_NS, day_events(fx.day_series, fx.day_end))
        page = await self.gw.timeseries.read_events(
            TS_NS, fx.day_series, start=fx.day_start, end=fx.day_end, limit=DAY_EVENTS
        )
        if len(page.events) != DAY_EVENTS:
            raise RuntimeError(f"setup: read {len(page.events)} of {DAY_EVENTS} day events")

    def operations(self) -> dict[str, Op]:
        return {
            "kv_get_100": self.kv_get_100,
            "kv_put_100": self.kv_put_100,
            "ts_write_1000": self.ts_write_1000,
            "ts_read_day": self.ts_read_day,
            "counter_add_1000": self.counter_add_1000,
        }

    async def kv_get_100(self, i: int) -> None:
        page = await self.gw.kv.get_items(KV_NS, self.fx.kv_record, limit=KV_ITEMS)
        assert len(page.items) == KV_ITEMS

    async def kv_put_100(self, i: int) -> None:
        record = f"{self.fx.run}-put-a{i}"
        await self.gw.kv.put_items(KV_NS, record, self.items, IdempotencyToken.new())

    async def ts_write_1000(self, i: int) -> None:
        events = write_batch(f"{self.fx.run}a", i, now_micros())
        await self.gw.timeseries.write_events(TS_NS, events)

    async def ts_read_day(self, i: int) -> None:
        fx = self.fx
        page = await self.gw.timeseries.read_events(
            TS_NS, fx.day_series, start=fx.day_start, end=fx.day_end, limit=DAY_EVENTS
        )
        assert len(page.events) == DAY_EVENTS

    async def counter_add_1000(self, i: int) -> None:
        counters = self.gw.counters
        await asyncio.gather(*(
            counters.add(COUNTER_NS, self.fx.counter, 1, IdempotencyToken.new())
            for _ in range(COUNTER_ADDS)
        ))
