"""The TimeSeries contract: every backend, through the abstraction, behaves like this."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from abstractions.errors import (
    InvalidArgument,
    InvalidPageToken,
    Overloaded,
    TooLarge,
)
from abstractions.gateway import DataGateway
from abstractions.namespaces import TimeSeriesNamespace
from abstractions.timeseries import EventPage
from abstractions.tokens import now_micros
from backends.base import (
    Condition,
    EventQuery,
    SearchIndex,
    StoredEvent,
    StoreUnavailable,
    TimeSeriesLayout,
)

from .conftest import Reopen, StoreCalls

VH = "viewing_history"  # accept window of a week, 90 days of retention
SHORT = "events_short"  # 60 s slices, ~2 min retention, 30 s accept window, buffer of 100
SEC = 1_000_000
REJECTED = f"timeseries_buffer_rejected_events:{SHORT}"
FLUSHED = f"timeseries_flushed_events:{SHORT}"


def ev(series: str, t: int, eid: str, **items: str) -> StoredEvent:
    return StoredEvent(series, t, eid, {k: v.encode() for k, v in items.items()})


def ids(page: EventPage) -> list[str]:
    return [e.event_id for e in page.events]


def layout_of(gw: DataGateway, ns: str) -> TimeSeriesLayout:
    return gw.namespaces.get(ns, TimeSeriesNamespace).layout


async def read_all(gw: DataGateway, ns: str, series: str, **query: object) -> list[EventPage]:
    """Follow next-page tokens to the end."""
    pages = [await gw.timeseries.read_events(ns, series, **query)]
    while pages[-1].next_page_token is not None:
        assert len(pages) < 1000, "pagination does not end"
        pages.append(
            await gw.timeseries.read_events(
                ns, series, page_token=pages[-1].next_page_token, **query
            )
        )
    return pages


async def read_when(gw: DataGateway, ns: str, series: str, count: int) -> list[StoredEvent]:
    """Events of a series once `count` of them are readable (or what is there after 3 s)."""
    deadline = asyncio.get_running_loop().time() + 3.0
    while True:
        events = (await gw.timeseries.read_events(ns, series, limit=1000)).events
        if len(events) >= count or asyncio.get_running_loop().time() > deadline:
            return events
        await asyncio.sleep(0.02)


# --- writes and reads ----------------------------------------------------------------------


async def test_sync_write_then_read_returns_events_newest_first(
    gateway: DataGateway, uid: str
) -> None:
    now = now_micros()
    events = [ev(uid, now - (5 - i) * SEC, f"e{i}", title_id=f"t{i}", device="tv")
              for i in range(5)]
    await gateway.timeseries.write_events(VH, events)
    page = await gateway.timeseries.read_events(VH, uid)
    assert page.events == events[::-1]
    assert page.next_page_token is None


async def test_event_items_round_trip_exactly(gateway: DataGateway, uid: str) -> None:
    now = now_micros()
    event = StoredEvent(uid, now - SEC, "e", {"a": b"", "b": bytes(range(256)), "c": b"x" * 5000})
    await gateway.timeseries.write_events(VH, [event])
    assert (await gateway.timeseries.read_events(VH, uid)).events == [event]


async def test_read_of_unknown_series_is_an_empty_page(gateway: DataGateway, uid: str) -> None:
    assert await gateway.timeseries.read_events(VH, uid) == EventPage([], None)


async def test_read_interval_includes_start_and_excludes_end(
    gateway: DataGateway, uid: str
) -> None:
    t0 = now_micros() - 100 * SEC
    await gateway.timeseries.write_events(
        VH, [ev(uid, t0 + i * SEC, f"e{i}", n=str(i)) for i in range(6)]
    )
    page = await gateway.timeseries.read_events(VH, uid, start=t0 + SEC, end=t0 + 4 * SEC)
    assert ids(page) == ["e3", "e2", "e1"]
    assert ids(await gateway.timeseries.read_events(VH, uid, start=t0 + 4 * SEC)) == ["e5", "e4"]
    assert ids(await gateway.timeseries.read_events(VH, uid, end=t0 + SEC)) == ["e0"]


async def test_series_are_separate(gateway: DataGateway, uid: str) -> None:
    now = now_micros()
    await gateway.timeseries.write_events(
        VH, [ev(f"{uid}-a", now - SEC, "x", v="a"), ev(f"{uid}-b", now - SEC, "x", v="b")]
    )
    a = (await gateway.timeseries.read_events(VH, f"{uid}-a")).events
    assert [(e.series_id, e.items) for e in a] == [(f"{uid}-a", {"v": b"a"})]


async def test_pages_by_count_cover_every_event_once(gateway: DataGateway, uid: str) -> None:
    now = now_micros()
    events = [ev(uid, now - (i + 1) * SEC, f"e{i:02d}", n=str(i)) for i in range(23)]
    await gateway.timeseries.write_events(VH, events)
    pages = await read_all(gateway, VH, uid, limit=5)
    assert [len(p.events) for p in pages] == [5, 5, 5, 5, 3]
    assert [e for p in pages for e in p.events] == events


async def test_pages_over_events_sharing_a_time_neither_skip_nor_repeat(
    gateway: DataGateway, uid: str
) -> None:
    now = now_micros()
    same = now - 10 * SEC
    events = [ev(uid, same, f"e{i}", n=str(i)) for i in range(7)]
    events += [ev(uid, same + SEC, "later", n="l"), ev(uid, same - SEC, "earlier", n="e")]
    await gateway.timeseries.write_events(VH, events)
    pages = await read_all(gateway, VH, uid, limit=3)
    got = [e for p in pages for e in p.events]
    assert len(got) == 9
    assert sorted(got, key=lambda e: e.event_id) == sorted(events, key=lambda e: e.event_id)
    assert [e.event_time for e in got] == sorted((e.event_time for e in got), reverse=True)
    assert got[0].event_id == "later"
    assert got[-1].event_id == "earlier"


async def test_equality_filter_keeps_events_with_every_pair(
    gateway: DataGateway, uid: str
) -> None:
    now = now_micros()
    events = [
        ev(uid, now - (i + 1) * SEC, f"e{i:02d}",
           kind="play" if i % 3 else "pause", device="tv" if i % 2 else "phone")
        for i in range(15)
    ]
    await gateway.timeseries.write_events(VH, events)
    plays = await read_all(gateway, VH, uid, equals={"kind": b"play"}, limit=4)
    assert [e for p in plays for e in p.events] == [e for e in events if e.items["kind"] == b"play"]
    both = await gateway.timeseries.read_events(
        VH, uid, equals={"kind": b"play", "device": b"tv"}, limit=100
    )
    assert both.events == [
        e for e in events if e.items["kind"] == b"play" and e.items["device"] == b"tv"
    ]
    none = await gateway.timeseries.read_events(VH, uid, equals={"kind": b"stop"})
    assert none == EventPage([], None)
    missing_key = await gateway.timeseries.read_events(VH, uid, equals={"absent": b"play"})
    assert missing_key.events == []


async def test_modified_page_token_is_invalid(gateway: DataGateway, uid: str) -> None:
    now = now_micros()
    await gateway.timeseries.write_events(
        VH, [ev(uid, now - (i + 1) * SEC, f"e{i}", n="x") for i in range(6)]
    )
    tok = (await gateway.timeseries.read_events(VH, uid, limit=2)).next_page_token
    assert tok is not None
    for position in (0, len(tok) // 2, len(tok) - 2):
        modified = tok[:position] + ("A" if tok[position] != "A" else "B") + tok[position + 1:]
        with pytest.raises(InvalidPageToken):
            await gateway.timeseries.read_events(VH, uid, limit=2, page_token=modified)
    for garbage in ("", "garbage", tok[:-5]):
        with pytest.raises(InvalidPageToken):
            await gateway.timeseries.read_events(VH, uid, limit=2, page_token=garbage)


async def test_page_token_of_another_query_is_rejected(gateway: DataGateway, uid: str) -> None:
    now = now_micros()
    for series in (uid, f"{uid}-other"):
        await gateway.timeseries.write_events(
            VH, [ev(series, now - (i + 1) * SEC, f"e{i}", kind="play") for i in range(6)]
        )
    tok = (await gateway.timeseries.read_events(VH, uid, limit=2)).next_page_token
    assert tok is not None
    others: list[Callable[[], Awaitable[object]]] = [
        lambda: gateway.timeseries.read_events(VH, f"{uid}-other", limit=2, page_token=tok),
        lambda: gateway.timeseries.read_events(
            VH, uid, limit=2, page_token=tok, equals={"kind": b"play"}
        ),
        lambda: gateway.timeseries.read_events(
            VH, uid, limit=2, page_token=tok, start=now - 100 * SEC
        ),
        lambda: gateway.timeseries.read_events(SHORT, uid, limit=2, page_token=tok),
        lambda: gateway.kv.get_items("kv_small", uid, page_token=tok),
    ]
    for call in others:
        with pytest.raises(InvalidPageToken):
            await call()


async def test_read_events_many_reads_many_series_in_one_backend_call(
    gateway: DataGateway, uid: str, store_calls: Callable[..., StoreCalls]
) -> None:
    now = now_micros()
    series = [f"{uid}-{i:02d}" for i in range(25)]
    events = {
        s: [ev(s, now - (j + 1) * SEC, f"e{j}", n=f"{s}:{j}") for j in range(n % 5 + 1)]
        for n, s in enumerate(series)
    }
    await gateway.timeseries.write_events(VH, [e for evs in events.values() for e in evs])
    calls = store_calls("ts_read_many")
    before = gateway.calls.snapshot()
    pages = await gateway.timeseries.read_events_many(
        VH, [*series, f"{uid}-missing", series[0]], limit=3
    )
    after = gateway.calls.snapshot()
    assert calls.counts == {"ts_read_many": 1}
    key = ("timeseries", "read_events_many")
    assert after.get(key, 0) - before.get(key, 0) == 1
    assert after.get(("timeseries", "read_events"), 0) == before.get(
        ("timeseries", "read_events"), 0
    )
    assert list(pages) == [*series, f"{uid}-missing"]
    assert pages[f"{uid}-missing"] == EventPage([], None)
    for s in series:
        assert pages[s].events == events[s][:3]
        assert (pages[s].next_page_token is not None) == (len(events[s]) > 3)
    longest = series[4]
    rest = await gateway.timeseries.read_events(
        VH, longest, limit=3, page_token=pages[longest].next_page_token
    )
    assert rest.events == events[longest][3:]


async def test_read_events_many_applies_interval_and_filter(
    gateway: DataGateway, uid: str
) -> None:
    now = now_micros()
    a, b = f"{uid}-a", f"{uid}-b"
    await gateway.timeseries.write_events(VH, [
        ev(a, now - 1 * SEC, "a1", kind="play"), ev(a, now - 2 * SEC, "a2", kind="pause"),
        ev(a, now - 30 * SEC, "a3", kind="play"), ev(b, now - 3 * SEC, "b1", kind="play"),
    ])
    pages = await gateway.timeseries.read_events_many(
        VH, [a, b], start=now - 10 * SEC, equals={"kind": b"play"}
    )
    assert {s: ids(p) for s, p in pages.items()} == {a: ["a1"], b: ["b1"]}


# --- idempotency ---------------------------------------------------------------------------


async def test_same_event_written_twice_is_stored_once(gateway: DataGateway, uid: str) -> None:
    now = now_micros()
    event = ev(uid, now - SEC, "e1", title_id="t1")
    await gateway.timeseries.write_events(VH, [event])
    await gateway.timeseries.write_events(VH, [event, event])
    await gateway.timeseries.write_events_async(VH, [event])
    await gateway.timeseries.stop()  # flush the buffer
    assert (await gateway.timeseries.read_events(VH, uid)).events == [event]


async def test_rewrite_of_the_same_time_id_and_item_key_overwrites_the_value(
    gateway: DataGateway, uid: str
) -> None:
    now = now_micros()
    await gateway.timeseries.write_events(VH, [ev(uid, now - SEC, "e1", pos="10", dev="tv")])
    await gateway.timeseries.write_events(VH, [ev(uid, now - SEC, "e1", pos="20")])
    await gateway.timeseries.write_events(VH, [ev(uid, now - SEC, "e2", pos="30")])
    page = await gateway.timeseries.read_events(VH, uid)
    assert [(e.event_id, dict(e.items)) for e in page.events] == [
        ("e2", {"pos": b"30"}),
        ("e1", {"pos": b"20", "dev": b"tv"}),
    ]


# --- accept window -------------------------------------------------------------------------


async def test_event_older_than_the_accept_window_is_rejected(
    gateway: DataGateway, uid: str
) -> None:
    now = now_micros()
    stale = ev(uid, now - 40 * SEC, "stale", n="1")
    fresh = ev(uid, now - 20 * SEC, "fresh", n="2")
    with pytest.raises(InvalidArgument, match="accept window"):
        await gateway.timeseries.write_events(SHORT, [fresh, stale])
    with pytest.raises(InvalidArgument, match="accept window"):
        await gateway.timeseries.write_events_async(SHORT, [stale])
    assert (await gateway.timeseries.read_events(SHORT, uid)).events == []
    await gateway.timeseries.write_events(SHORT, [fresh])
    assert ids(await gateway.timeseries.read_events(SHORT, uid)) == ["fresh"]


async def test_event_in_the_future_beyond_the_clock_skew_is_rejected(
    gateway: DataGateway, uid: str
) -> None:
    now = now_micros()
    with pytest.raises(InvalidArgument, match="future"):
        await gateway.timeseries.write_events(SHORT, [ev(uid, now + 5 * SEC, "late", n="1")])
    with pytest.raises(InvalidArgument, match="future"):
        await gateway.timeseries.write_events_async(SHORT, [ev(uid, now + 5 * SEC, "x", n="1")])
    ahead = ev(uid, now + SEC // 2, "ahead", n="2")  # within the 1 s allowed skew
    await gateway.timeseries.write_events(SHORT, [ahead])
    assert (await gateway.timeseries.read_events(SHORT, uid)).events == [ahead]


@pytest.mark.parametrize("mode", ["sync", "fire_and_forget"])
async def test_a_replay_writes_behind_the_accept_window_and_skips_what_retention_dropped(
    gateway: DataGateway, uid: str, mode: str
) -> None:
    now = now_micros()
    late = ev(uid, now - 40 * SEC, "late", n="1")  # behind the 30 s window, within ~2 min
    gone = ev(uid, now - 200 * SEC, "gone", n="2")  # past the retention
    expired = f"timeseries_replay_expired_events:{SHORT}"
    before = gateway.events.get(expired)
    write = (gateway.timeseries.write_events if mode == "sync"
             else gateway.timeseries.write_events_async)
    for _ in range(2):  # a replay of a replay writes the same rows
        await write(SHORT, [late, gone], replay=True)
    assert await read_when(gateway, SHORT, uid, 1) == [late]
    assert gateway.events.get(expired) - before == 2
    with pytest.raises(InvalidArgument, match="future"):
        await write(SHORT, [ev(uid, now + 5 * SEC, "ahead", n="3")], replay=True)


# --- fire and forget -----------------------------------------------------------------------


async def test_fire_and_forget_calls_back_once_every_event_of_a_write_is_durable(
    gateway: DataGateway, uid: str
) -> None:
    now = now_micros()
    events = [ev(uid, now - i * 1000, f"e{i:02d}", n=str(i)) for i in range(25)]  # 3 batches
    seen: list[int] = []

    async def durable() -> None:
        seen.append(len((await gateway.timeseries.read_events(SHORT, uid, limit=100)).events))

    await gateway.timeseries.write_events_async(SHORT, events, on_durable=durable)
    assert await read_when(gateway, SHORT, uid, 25) == events
    await gateway.timeseries.stop()
    assert seen == [25]


async def test_fire_and_forget_never_calls_back_a_write_that_was_lost(
    gateway: DataGateway, uid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("injected")

    monkeypatch.setattr(gateway.store, "ts_write", down)
    called: list[bool] = []

    async def durable() -> None:
        called.append(True)

    dropped = gateway.events.get(f"timeseries_dropped_events:{SHORT}")
    await gateway.timeseries.write_events_async(SHORT, [ev(uid, now_micros(), "e", n="1")],
                                                on_durable=durable)
    await gateway.timeseries.stop()  # the flush gives up after its retries
    assert gateway.events.get(f"timeseries_dropped_events:{SHORT}") - dropped == 1
    assert called == []


async def test_fire_and_forget_events_become_readable_soon(
    gateway: DataGateway, uid: str
) -> None:
    now = now_micros()
    events = [ev(uid, now - i * 1000, f"e{i:02d}", n=str(i)) for i in range(30)]
    flushed = gateway.events.get(FLUSHED)
    await gateway.timeseries.write_events_async(SHORT, events[:15])
    await gateway.timeseries.write_events_async(SHORT, events[15:])
    assert await read_when(gateway, SHORT, uid, 30) == events
    assert gateway.events.get(FLUSHED) - flushed == 30


async def test_stop_flushes_buffered_events_and_refuses_new_ones(
    gateway: DataGateway, uid: str
) -> None:
    now = now_micros()
    events = [ev(uid, now - i * 1000, f"e{i:02d}", n=str(i)) for i in range(50)]
    await gateway.timeseries.write_events_async(SHORT, events)
    await gateway.timeseries.stop()
    assert (await gateway.timeseries.read_events(SHORT, uid, limit=100)).events == events
    with pytest.raises(Overloaded):
        await gateway.timeseries.write_events_async(SHORT, [ev(uid, now, "after", n="x")])
    await gateway.timeseries.stop()  # a second stop is harmless


async def test_gateway_stop_twice_is_harmless_and_flushed_events_survive_a_restart(
    gateway: DataGateway, uid: str, reopen: Reopen
) -> None:
    now = now_micros()
    events = [ev(uid, now - i * 1000, f"e{i:02d}", n=str(i)) for i in range(40)]
    await gateway.timeseries.write_events_async(SHORT, events)
    await gateway.stop()
    await gateway.stop()
    again = await reopen()
    assert (await again.timeseries.read_events(SHORT, uid, limit=100)).events == events


async def test_full_buffer_raises_overloaded_and_counts_the_drop(
    gateway: DataGateway, uid: str
) -> None:
    now = now_micros()
    events = [ev(uid, now - i * 1000, f"e{i:03d}", n=str(i)) for i in range(100)]
    rejected = gateway.events.get(REJECTED)
    await gateway.timeseries.write_events_async(SHORT, events)  # fills the buffer of 100
    with pytest.raises(Overloaded) as caught:
        await gateway.timeseries.write_events_async(SHORT, [ev(uid, now, "extra", n="x")])
    assert caught.value.code == "UNAVAILABLE"
    assert gateway.events.get(REJECTED) - rejected == 1
    assert await read_when(gateway, SHORT, uid, 100) == events
    await gateway.timeseries.write_events_async(SHORT, [ev(uid, now, "room-again", n="y")])
    landed = await read_when(gateway, SHORT, uid, 101)
    assert [e.event_id for e in landed] == ["room-again", *(e.event_id for e in events)]


async def test_write_larger_than_the_free_buffer_is_refused_whole(
    gateway: DataGateway, uid: str
) -> None:
    now = now_micros()
    events = [ev(uid, now - i * 1000, f"e{i:03d}", n=str(i)) for i in range(101)]
    rejected = gateway.events.get(REJECTED)
    with pytest.raises(Overloaded):
        await gateway.timeseries.write_events_async(SHORT, events)
    assert gateway.events.get(REJECTED) - rejected == 101
    await gateway.timeseries.stop()
    assert (await gateway.timeseries.read_events(SHORT, uid)).events == []


# --- search --------------------------------------------------------------------------------


@pytest.fixture
def searchable(gateway: DataGateway) -> DataGateway:
    """The gateway, when its store also serves search (a separate index is tested elsewhere)."""
    if not isinstance(gateway.store, SearchIndex):
        pytest.skip("this store does not search itself; the search index has its own suite")
    return gateway


def scored(uid: str, now: int) -> list[StoredEvent]:
    """Events in three series; scores chosen so text order and number order differ."""
    rows = [("a", "play", 5), ("a", "play", 9), ("b", "play", 10), ("c", "pause", 50),
            ("b", "play", 50), ("c", "play", 100), ("a", "pause", 250), ("b", "stop", 99)]
    return [
        ev(f"{uid}-{s}", now - (i + 1) * SEC, f"e{i}", run=uid, kind=kind, score=str(score))
        for i, (s, kind, score) in enumerate(rows)
    ]


async def test_search_ands_equality_and_numeric_range_across_series(
    searchable: DataGateway, uid: str
) -> None:
    now = now_micros()
    events = scored(uid, now)
    await searchable.timeseries.write_events(SHORT, events)
    conditions = [
        Condition("run", "eq", uid), Condition("kind", "eq", "play"),
        Condition("score", "gte", 9), Condition("score", "lt", 100),
    ]
    page = await searchable.timeseries.search_events(SHORT, conditions, limit=100)
    assert page.events == [e for e in events if e.event_id in ("e1", "e2", "e4")]
    assert page.next_page_token is None
    above = await searchable.timeseries.search_events(
        SHORT, [Condition("run", "eq", uid), Condition("score", "gt", 50)]
    )
    assert ids(above) == ["e5", "e6", "e7"]
    at_most = await searchable.timeseries.search_events(
        SHORT, [Condition("run", "eq", uid), Condition("score", "lte", "9")]
    )
    assert ids(at_most) == ["e0", "e1"]
    nothing = await searchable.timeseries.search_events(
        SHORT, [Condition("run", "eq", uid), Condition("kind", "eq", "rewind")]
    )
    assert nothing == EventPage([], None)


async def test_search_respects_the_interval(searchable: DataGateway, uid: str) -> None:
    now = now_micros()
    events = scored(uid, now)
    await searchable.timeseries.write_events(SHORT, events)
    page = await searchable.timeseries.search_events(
        SHORT, [Condition("run", "eq", uid)], start=now - 5 * SEC, end=now - 2 * SEC
    )
    assert ids(page) == ["e2", "e3", "e4"]  # e1 at now-2s is the end: out; e4 at -5s: in


async def test_search_pages_cover_every_match_once(searchable: DataGateway, uid: str) -> None:
    now = now_micros()
    # Three series with the same times and event ids: the cursor must tell them apart.
    events = [
        ev(f"{uid}-{s}", now - (j + 1) * SEC, f"e{j}", run=uid, kind="play", score=str(j))
        for s in "abc" for j in range(5)
    ]
    await searchable.timeseries.write_events(SHORT, events)
    conditions = [Condition("run", "eq", uid), Condition("kind", "eq", "play")]
    pages = [await searchable.timeseries.search_events(SHORT, conditions, limit=4)]
    while pages[-1].next_page_token is not None:
        assert len(pages) < 20
        pages.append(await searchable.timeseries.search_events(
            SHORT, conditions, limit=4, page_token=pages[-1].next_page_token
        ))
    assert [len(p.events) for p in pages] == [4, 4, 4, 3]
    got = [e for p in pages for e in p.events]
    key = lambda e: (e.series_id, e.event_id)  # noqa: E731
    assert sorted(got, key=key) == sorted(events, key=key)
    assert [e.event_time for e in got] == sorted((e.event_time for e in got), reverse=True)
    with pytest.raises(InvalidPageToken):
        await searchable.timeseries.search_events(
            SHORT, conditions[:1], limit=4, page_token=pages[0].next_page_token
        )
    with pytest.raises(InvalidPageToken):
        await searchable.timeseries.read_events(
            SHORT, f"{uid}-a", limit=4, page_token=pages[0].next_page_token
        )
    read_token = (await searchable.timeseries.read_events(SHORT, f"{uid}-a", limit=4))
    with pytest.raises(InvalidPageToken):
        await searchable.timeseries.search_events(
            SHORT, conditions, limit=4, page_token=read_token.next_page_token
        )


async def test_search_on_a_date_field(searchable: DataGateway, uid: str) -> None:
    now = now_micros()
    await searchable.timeseries.write_events(VH, [
        ev(uid, now - 3 * SEC, "jan", run=uid, started_at="2024-01-15T10:00:00Z"),
        ev(uid, now - 2 * SEC, "mar", run=uid, started_at="2024-03-01T00:00:00+00:00"),
        ev(uid, now - 1 * SEC, "jun", run=uid, started_at="2024-06-30T23:59:59Z"),
    ])
    page = await searchable.timeseries.search_events(VH, [
        Condition("run", "eq", uid),
        Condition("started_at", "gte", "2024-02-01T00:00:00Z"),
        Condition("started_at", "lt", "2024-06-30T23:59:59Z"),
    ])
    assert ids(page) == ["mar"]


async def test_distinct_values_with_counts_most_common_first(
    searchable: DataGateway, uid: str
) -> None:
    now = now_micros()
    await searchable.timeseries.write_events(SHORT, scored(uid, now))
    everything = await searchable.timeseries.aggregate_distinct(
        SHORT, "kind", [Condition("run", "eq", uid)]
    )
    assert everything == [(b"play", 5), (b"pause", 2), (b"stop", 1)]
    high = await searchable.timeseries.aggregate_distinct(
        SHORT, "kind", [Condition("run", "eq", uid), Condition("score", "gte", 50)]
    )
    assert high == [(b"pause", 2), (b"play", 2), (b"stop", 1)]
    series = await searchable.timeseries.aggregate_distinct(
        SHORT, "kind", [Condition("run", "eq", uid)], limit=1
    )
    assert series == [(b"play", 5)]


async def test_bad_search_requests_are_client_errors(searchable: DataGateway) -> None:
    ts = searchable.timeseries
    with pytest.raises(InvalidArgument):
        await ts.search_events(SHORT, [Condition("kind", "like", "p")])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        await ts.search_events(SHORT, [Condition("score", "gt", "not a number")])
    with pytest.raises(InvalidArgument):
        await ts.search_events(SHORT, [Condition("", "eq", "x")])
    with pytest.raises(TooLarge):
        await ts.search_events(SHORT, [Condition("kind", "eq", str(i)) for i in range(17)])
    with pytest.raises(InvalidArgument):
        await ts.search_events(SHORT, [], limit=0)
    with pytest.raises(InvalidArgument):
        await ts.aggregate_distinct(SHORT, "kind", limit=0)
    with pytest.raises(InvalidArgument):
        await ts.aggregate_distinct(SHORT, "")


# --- retention -----------------------------------------------------------------------------


async def test_retention_drops_slices_older_than_retention_and_keeps_newer(
    gateway: DataGateway, uid: str
) -> None:
    layout = layout_of(gateway, SHORT)
    now = now_micros()
    old_slice = layout.slice_of(now - 600 * SEC)
    old = [ev(uid, old_slice * SEC, "old-first", n="1"),
           ev(uid, (old_slice + 59) * SEC, "old-last", n="2")]
    recent = ev(uid, now - 5 * SEC, "recent", n="3")
    # Old events cannot come in through the abstraction (accept window): write to the store.
    await gateway.store.ts_write(SHORT, layout, [*old, recent])
    assert {old_slice, layout.slice_of(recent.event_time)} <= set(
        await gateway.store.ts_slices(SHORT)
    )
    raw = EventQuery(0, now + SEC, 10)
    assert [e.event_id for e in await gateway.store.ts_read(SHORT, layout, uid, raw)] == [
        "recent", "old-last", "old-first"
    ]
    dropped = await gateway.timeseries.apply_retention(SHORT)
    assert list(dropped) == [SHORT]
    assert old_slice in dropped[SHORT]
    assert layout.slice_of(recent.event_time) not in dropped[SHORT]
    slices = await gateway.store.ts_slices(SHORT)
    assert old_slice not in slices
    assert layout.slice_of(recent.event_time) in slices
    assert await gateway.store.ts_read(SHORT, layout, uid, raw) == [recent]
    assert (await gateway.timeseries.read_events(SHORT, uid)).events == [recent]
    again = await gateway.timeseries.apply_retention(SHORT)
    assert old_slice not in again[SHORT]


async def test_store_drops_whole_slices_that_end_at_or_before_the_cutoff(
    gateway: DataGateway, uid: str
) -> None:
    layout = layout_of(gateway, SHORT)
    base = 1_700_000_040  # a slice start (a multiple of 60 s), long ago
    events = [ev(uid, (base + s) * SEC, f"at{s}", n=str(s)) for s in (1, 59, 60, 61, 130)]
    await gateway.store.ts_write(SHORT, layout, events)
    assert {base, base + 60, base + 120} <= set(await gateway.store.ts_slices(SHORT))
    raw = EventQuery(0, now_micros(), 10)

    dropped = await gateway.store.ts_drop_slices_before(SHORT, layout, base + 119)
    assert base in dropped and base + 60 not in dropped and base + 120 not in dropped
    left = await gateway.store.ts_read(SHORT, layout, uid, raw)
    assert [e.event_id for e in left] == ["at130", "at61", "at60"]

    dropped = await gateway.store.ts_drop_slices_before(SHORT, layout, base + 120)
    assert base + 60 in dropped and base + 120 not in dropped
    assert [e.event_id for e in await gateway.store.ts_read(SHORT, layout, uid, raw)] == ["at130"]
    slices = await gateway.store.ts_slices(SHORT)
    assert base not in slices and base + 60 not in slices and base + 120 in slices
    again = await gateway.store.ts_drop_slices_before(SHORT, layout, base + 120)
    assert base not in again and base + 60 not in again
    assert base + 120 in await gateway.store.ts_drop_slices_before(SHORT, layout, base + 180)
    assert await gateway.store.ts_read(SHORT, layout, uid, raw) == []


# --- concurrency ---------------------------------------------------------------------------


async def test_many_concurrent_writers_all_land(gateway: DataGateway, uid: str) -> None:
    now = now_micros()

    async def writer(w: int) -> None:
        for i in range(25):
            t = now - (w * 25 + i + 1) * 1000
            await gateway.timeseries.write_events(VH, [ev(uid, t, f"w{w:02d}-{i:02d}", w=str(w))])

    await asyncio.gather(*(writer(w) for w in range(20)))
    page = await gateway.timeseries.read_events(VH, uid, limit=1000)
    assert len(page.events) == 500
    assert [e.event_id for e in page.events] == [
        f"w{w:02d}-{i:02d}" for w in range(20) for i in range(25)
    ]


async def test_concurrent_fire_and_forget_writers_all_land(
    gateway: DataGateway, uid: str
) -> None:
    now = now_micros()

    async def writer(w: int) -> None:
        for i in range(4):
            t = now - (w * 4 + i + 1) * 1000
            await gateway.timeseries.write_events_async(SHORT, [ev(uid, t, f"w{w}-{i}", n="1")])
            await asyncio.sleep(0)

    await asyncio.gather(*(writer(w) for w in range(20)))
    await gateway.timeseries.stop()
    page = await gateway.timeseries.read_events(SHORT, uid, limit=1000)
    assert len({e.event_id for e in page.events}) == 80


# --- bad input -----------------------------------------------------------------------------


async def test_bad_writes_and_reads_get_typed_errors(gateway: DataGateway, uid: str) -> None:
    now = now_micros()
    ts = gateway.timeseries
    invalid: list[Callable[[], Awaitable[object]]] = [
        lambda: ts.write_events(VH, []),
        lambda: ts.write_events(VH, [StoredEvent(uid, now, "e", {})]),
        lambda: ts.write_events(VH, [ev("", now, "e", n="1")]),
        lambda: ts.write_events(VH, [ev("s" * 257, now, "e", n="1")]),
        lambda: ts.write_events(VH, [ev(uid, now, "", n="1")]),
        lambda: ts.write_events(VH, [ev(uid, now, "e" * 129, n="1")]),
        lambda: ts.write_events(VH, [StoredEvent(uid, now, "e", {"": b"v"})]),
        lambda: ts.write_events(VH, [StoredEvent(uid, now, "e", {"k": "text"})]),  # type: ignore[dict-item]
        lambda: ts.write_events_async(VH, [StoredEvent(uid, now, "e", {})]),
        lambda: ts.write_events(VH, [StoredEvent(uid, "now", "e", {"k": b"v"})]),  # type: ignore[arg-type]
        lambda: ts.write_events(VH, [StoredEvent(uid, now / 1, "e", {"k": b"v"})]),  # type: ignore[arg-type]
        lambda: ts.write_events(VH, [StoredEvent(uid, None, "e", {"k": b"v"})]),  # type: ignore[arg-type]
        lambda: ts.write_events(VH, [StoredEvent(uid, now, "e", [("k", b"v")])]),  # type: ignore[arg-type]
        lambda: ts.read_events(VH, ""),
        lambda: ts.read_events(VH, uid, limit=0),
        lambda: ts.read_events(VH, uid, limit=1001),
        lambda: ts.read_events(VH, uid, start=now, end=now),
        lambda: ts.read_events(VH, uid, start=now, end=now - 1),
        lambda: ts.read_events(VH, uid, equals={"k": "text"}),  # type: ignore[dict-item]
        lambda: ts.read_events_many(VH, [uid, ""]),
    ]
    for call in invalid:
        with pytest.raises(InvalidArgument) as caught:
            await call()
        assert caught.value.code == "BAD_USER_INPUT"
    too_large: list[Callable[[], Awaitable[object]]] = [
        lambda: ts.write_events(VH, [StoredEvent(uid, now, "e", {"k": b"x" * 65537})]),
        lambda: ts.write_events(
            VH, [StoredEvent(uid, now, "e", {f"k{i}": b"" for i in range(65)})]
        ),
        lambda: ts.write_events(VH, [ev(uid, now - i, f"e{i}", n="1") for i in range(1001)]),
        lambda: ts.read_events_many(VH, [f"{uid}-{i}" for i in range(1001)]),
    ]
    for call in too_large:
        with pytest.raises(TooLarge):
            await call()
    assert (await ts.read_events(VH, uid)).events == []
