"""The Distributed Counter contract: every backend, through the abstraction, behaves like this.

An eventual counter rolls up the events older than its accept window plus the allowed clock skew
(0.2 s + 1 s in the test namespaces), so the tests that need a rollup to cover an add wait for
that lag once (`wait_for_rollup_lag`), then call `rollup` themselves.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping

import pytest

from abstractions.errors import (
    CounterOverflow,
    InvalidArgument,
    InvalidIdempotencyToken,
    TooLarge,
)
from abstractions.gateway import DataGateway
from abstractions.namespaces import CounterNamespace
from abstractions.tokens import IdempotencyToken, now_micros
from backends.base import CounterEvent, Fold, StoreUnavailable

from .conftest import Reopen, StoreCalls

BEST = "page_views"
EVENTUAL = "counter_eventual_fast"  # accept window 0.2 s
ACCURATE = "counter_accurate_fast"  # accept window 0.2 s
SEC = 1_000_000
INT64_MAX = 2**63 - 1


def token(at: int | None = None) -> IdempotencyToken:
    fresh = IdempotencyToken.new()
    return fresh if at is None else IdempotencyToken(at, fresh.nonce)


async def wait_for_rollup_lag(gw: DataGateway, ns: str) -> None:
    """Sleep until every add made so far is old enough for a rollup to fold it."""
    config = gw.namespaces.get(ns, CounterNamespace)
    await asyncio.sleep(
        config.accept_window_seconds + gw.namespaces.settings.max_clock_skew_seconds + 0.1
    )


# --- best effort ---------------------------------------------------------------------------


async def test_best_effort_counts_every_add_even_with_the_same_token(
    gateway: DataGateway, uid: str
) -> None:
    name = f"{uid}-c"
    same = token()
    await gateway.counters.add(BEST, name, 5, same)
    await gateway.counters.add(BEST, name, 5, same)  # not idempotent in this mode
    await gateway.counters.add(BEST, name, -3)  # no token needed
    assert await gateway.counters.get(BEST, name) == 7
    assert await gateway.counters.add_and_get(BEST, name, 10) == 17
    assert await gateway.counters.get(BEST, f"{uid}-never") == 0


async def test_best_effort_clear_resets_and_later_adds_count(
    gateway: DataGateway, uid: str
) -> None:
    name = f"{uid}-c"
    await gateway.counters.add(BEST, name, 42)
    await gateway.counters.clear(BEST, name)
    assert await gateway.counters.get(BEST, name) == 0
    await gateway.counters.clear(BEST, name)  # clearing a cleared counter is fine
    assert await gateway.counters.add_and_get(BEST, name, -2) == -2
    assert await gateway.counters.get(BEST, name) == -2


async def test_best_effort_counts_are_64_bit(gateway: DataGateway, uid: str) -> None:
    up, down = f"{uid}-up", f"{uid}-down"
    await gateway.counters.add(BEST, up, 2**62)
    assert await gateway.counters.add_and_get(BEST, up, 2**62 - 1) == INT64_MAX
    await gateway.counters.add(BEST, down, -(2**62))
    assert await gateway.counters.add_and_get(BEST, down, -(2**62)) == -(2**63)


async def test_best_effort_concurrent_adds_all_count(gateway: DataGateway, uid: str) -> None:
    name = f"{uid}-c"
    await asyncio.gather(*(gateway.counters.add(BEST, name, i) for i in range(1, 51)))
    assert await gateway.counters.get(BEST, name) == sum(range(1, 51))


# --- eventual ------------------------------------------------------------------------------


async def test_eventual_adds_are_invisible_until_a_rollup_then_exact(
    gateway: DataGateway, uid: str
) -> None:
    plain, retried, big, never = (f"{uid}-{n}" for n in ("plain", "retried", "big", "never"))
    for delta in (5, 7, -2):
        await gateway.counters.add(EVENTUAL, plain, delta, token())
    same = token()
    for _ in range(3):
        await gateway.counters.add(EVENTUAL, retried, 4, same)  # a retry counts once
    await gateway.counters.add(EVENTUAL, big, 2**62, token())
    await gateway.counters.add(EVENTUAL, big, 2**62 - 1, token())
    assert await gateway.counters.get(EVENTUAL, plain) == 0
    assert await gateway.counters.add_and_get(EVENTUAL, plain, 0, token()) == 0
    await gateway.counters.rollup(EVENTUAL)  # too soon: the adds are still mutable
    assert await gateway.counters.get(EVENTUAL, plain) == 0

    await wait_for_rollup_lag(gateway, EVENTUAL)
    await gateway.counters.rollup(EVENTUAL)  # the counters the adds and gets queued
    want = {plain: 10, retried: 4, big: INT64_MAX, never: 0}
    assert await gateway.counters.get_many(EVENTUAL, list(want)) == want
    assert await gateway.counters.get(EVENTUAL, plain) == 10
    await gateway.counters.rollup(EVENTUAL, list(want))  # a rollup again changes nothing
    assert await gateway.counters.get_many(EVENTUAL, list(want)) == want


async def test_eventual_clear_resets_and_later_adds_count(
    gateway: DataGateway, uid: str
) -> None:
    name = f"{uid}-c"
    await gateway.counters.add(EVENTUAL, name, 5, token())
    await gateway.counters.add(EVENTUAL, name, 3, token())
    clear = token()
    await gateway.counters.clear(EVENTUAL, name, clear)
    await gateway.counters.add(EVENTUAL, name, 2, token())
    await gateway.counters.clear(EVENTUAL, name, clear)  # a retried clear changes nothing
    await wait_for_rollup_lag(gateway, EVENTUAL)
    await gateway.counters.rollup(EVENTUAL, [name])
    assert await gateway.counters.get(EVENTUAL, name) == 2


async def test_eventual_concurrent_adds_and_concurrent_rollups_converge(
    gateway: DataGateway, uid: str, reopen: Reopen
) -> None:
    name, other = f"{uid}-c", f"{uid}-other"
    await asyncio.gather(
        *(gateway.counters.add(EVENTUAL, name, i, token()) for i in range(1, 51)),
        *(gateway.counters.add(EVENTUAL, other, -1, token()) for _ in range(10)),
    )
    replica = await reopen()  # another process rolling up the same counters
    await wait_for_rollup_lag(gateway, EVENTUAL)
    await asyncio.gather(
        *(gateway.counters.rollup(EVENTUAL, [name, other]) for _ in range(4)),
        *(replica.counters.rollup(EVENTUAL, [other, name]) for _ in range(4)),
    )
    want = {name: sum(range(1, 51)), other: -10}
    assert await gateway.counters.get_many(EVENTUAL, [name, other]) == want
    assert await replica.counters.get_many(EVENTUAL, [name, other]) == want


async def test_background_rollup_converges_eventual_counters(
    gateway: DataGateway, uid: str
) -> None:
    name = f"{uid}-c"
    await gateway.counters.start()
    await gateway.counters.add(EVENTUAL, name, 11, token())
    await gateway.counters.add(EVENTUAL, name, 4, token())
    deadline = asyncio.get_running_loop().time() + 3.0
    while await gateway.counters.get(EVENTUAL, name) != 15:
        assert asyncio.get_running_loop().time() < deadline, "the background rollup did not run"
        await asyncio.sleep(0.05)
    await gateway.counters.stop()
    await gateway.counters.stop()  # stopping twice is harmless


# --- accurate ------------------------------------------------------------------------------


async def test_accurate_count_equals_the_exact_sum_at_every_moment(
    gateway: DataGateway, uid: str
) -> None:
    name = f"{uid}-c"
    rng = random.Random(3)
    expected = 0
    for step in range(40):
        if step % 9 == 8:
            await gateway.counters.clear(ACCURATE, name, token())
            expected = 0
        elif step % 2:
            delta = rng.randint(-1000, 1000)
            expected += delta
            assert await gateway.counters.add_and_get(ACCURATE, name, delta, token()) == expected
            continue
        else:
            delta = rng.randint(-50, 100)
            expected += delta
            await gateway.counters.add(ACCURATE, name, delta, token())
        assert await gateway.counters.get(ACCURATE, name) == expected, f"at step {step}"


async def test_accurate_count_stays_exact_across_rollups(
    gateway: DataGateway, uid: str, reopen: Reopen
) -> None:
    name = f"{uid}-c"
    expected = 0
    for delta in (10, -4, 25):
        await gateway.counters.add(ACCURATE, name, delta, token())
        expected += delta
    await gateway.counters.rollup(ACCURATE, [name])  # folds nothing yet: still exact
    assert await gateway.counters.get(ACCURATE, name) == expected
    await wait_for_rollup_lag(gateway, ACCURATE)
    replica = await reopen()
    await asyncio.gather(
        *(gateway.counters.rollup(ACCURATE, [name]) for _ in range(3)),
        *(replica.counters.rollup(ACCURATE, [name]) for _ in range(3)),
    )
    assert await gateway.counters.get(ACCURATE, name) == expected
    await gateway.counters.add(ACCURATE, name, 100, token())
    expected += 100
    assert await gateway.counters.get(ACCURATE, name) == expected
    await gateway.counters.clear(ACCURATE, name, token())
    assert await gateway.counters.get(ACCURATE, name) == 0
    assert await gateway.counters.add_and_get(ACCURATE, name, 6, token()) == 6
    # A rollup over the clear must not keep the count rolled up before it.
    await wait_for_rollup_lag(gateway, ACCURATE)
    await replica.counters.rollup(ACCURATE, [name])
    assert await gateway.counters.get(ACCURATE, name) == 6
    await gateway.counters.add(ACCURATE, name, -1, token())
    assert await replica.counters.get(ACCURATE, name) == 5


async def test_accurate_retried_add_counts_once(gateway: DataGateway, uid: str) -> None:
    name = f"{uid}-c"
    same = token()
    assert await gateway.counters.add_and_get(ACCURATE, name, 5, same) == 5
    assert await gateway.counters.add_and_get(ACCURATE, name, 5, same) == 5
    await asyncio.gather(*(gateway.counters.add(ACCURATE, name, 5, same) for _ in range(5)))
    assert await gateway.counters.get(ACCURATE, name) == 5


async def test_clear_is_ordered_with_adds_by_token_time(gateway: DataGateway, uid: str) -> None:
    name = f"{uid}-c"
    await gateway.counters.add(ACCURATE, name, 7, token())
    made_before_the_clear = token()
    clear = token()
    await gateway.counters.clear(ACCURATE, name, clear)
    await gateway.counters.add(ACCURATE, name, 3, token())
    await gateway.counters.add(ACCURATE, name, 100, made_before_the_clear)  # arrives late
    assert await gateway.counters.get(ACCURATE, name) == 3
    await gateway.counters.clear(ACCURATE, name, clear)  # a retried clear keeps later adds
    assert await gateway.counters.get(ACCURATE, name) == 3


async def test_accurate_counts_are_64_bit_and_signed(gateway: DataGateway, uid: str) -> None:
    up, down = f"{uid}-up", f"{uid}-down"
    await gateway.counters.add(ACCURATE, up, 2**62, token())
    assert await gateway.counters.add_and_get(ACCURATE, up, 2**62 - 1, token()) == INT64_MAX
    assert await gateway.counters.add_and_get(ACCURATE, up, -INT64_MAX, token()) == 0
    await gateway.counters.add(ACCURATE, down, -(2**62), token())
    assert await gateway.counters.add_and_get(ACCURATE, down, -(2**62), token()) == -(2**63)


async def test_accurate_concurrent_adds_give_the_exact_total(
    gateway: DataGateway, uid: str
) -> None:
    name = f"{uid}-c"
    deltas = [i if i % 3 else -i for i in range(1, 51)]
    seen = await asyncio.gather(
        *(gateway.counters.add_and_get(ACCURATE, name, d, token()) for d in deltas)
    )
    assert await gateway.counters.get(ACCURATE, name) == sum(deltas)
    assert sum(deltas) in seen  # the last add to land saw every add


# --- batch get -----------------------------------------------------------------------------


@pytest.mark.parametrize("ns", [BEST, ACCURATE])
async def test_get_many_returns_every_count_in_one_batch(
    gateway: DataGateway, uid: str, ns: str, store_calls: Callable[..., StoreCalls]
) -> None:
    names = [f"{uid}-{i:02d}" for i in range(20)]
    for i, name in enumerate(names):
        await gateway.counters.add(ns, name, i * 3 - 7, token())
    calls = store_calls("counter_values", "counter_rollups", "counter_fold")
    got = await gateway.counters.get_many(ns, [*names, f"{uid}-never", names[0]])
    assert got == {**{n: i * 3 - 7 for i, n in enumerate(names)}, f"{uid}-never": 0}
    assert list(got) == [*names, f"{uid}-never"]
    assert all(n <= 1 for n in calls.counts.values()), calls.counts
    assert sum(calls.counts.values()) == (1 if ns == BEST else 2)
    assert await gateway.counters.get_many(ns, []) == {}


# --- tokens and bad input ------------------------------------------------------------------


@pytest.mark.parametrize("ns", [EVENTUAL, ACCURATE, "title_plays"])
async def test_token_older_than_the_accept_window_is_rejected(
    gateway: DataGateway, uid: str, ns: str
) -> None:
    name = f"{uid}-c"
    window = gateway.namespaces.get(ns, CounterNamespace).accept_window_seconds
    stale = token(now_micros() - int((window + 1) * SEC))
    with pytest.raises(InvalidIdempotencyToken, match="accept window"):
        await gateway.counters.add(ns, name, 1, stale)
    with pytest.raises(InvalidIdempotencyToken, match="accept window"):
        await gateway.counters.clear(ns, name, stale)
    with pytest.raises(InvalidIdempotencyToken):
        await gateway.counters.add(ns, name, 1, token(now_micros() + 5 * SEC))
    with pytest.raises(InvalidArgument):
        await gateway.counters.add(ns, name, 1)  # a token is required outside best_effort
    with pytest.raises(InvalidArgument):
        await gateway.counters.clear(ns, name)
    await gateway.counters.add(ns, name, 1, token(now_micros() + SEC // 2))  # within skew
    if ns == ACCURATE:
        assert await gateway.counters.get(ns, name) == 1


async def test_bad_counter_requests_get_typed_errors(gateway: DataGateway, uid: str) -> None:
    c = gateway.counters
    invalid: list[Callable[[], Awaitable[object]]] = []
    for ns in (BEST, EVENTUAL, ACCURATE):
        invalid += [
            lambda ns=ns: c.add(ns, "", 1, token()),
            lambda ns=ns: c.add(ns, "n" * 257, 1, token()),
            lambda ns=ns: c.add(ns, f"{uid}-c", 1.5, token()),  # type: ignore[arg-type]
            lambda ns=ns: c.add(ns, f"{uid}-c", True, token()),
            lambda ns=ns: c.add(ns, f"{uid}-c", INT64_MAX + 1, token()),
            lambda ns=ns: c.add_and_get(ns, f"{uid}-c", "1", token()),  # type: ignore[arg-type]
            lambda ns=ns: c.get(ns, ""),
            lambda ns=ns: c.get_many(ns, [f"{uid}-c", ""]),
            lambda ns=ns: c.clear(ns, ""),
        ]
    for call in invalid:
        with pytest.raises(InvalidArgument) as caught:
            await call()
        assert caught.value.code == "BAD_USER_INPUT"
    with pytest.raises(TooLarge):
        await c.get_many(ACCURATE, [f"{uid}-{i}" for i in range(1001)])
    assert await c.get_many(ACCURATE, [f"{uid}-c"]) == {f"{uid}-c": 0}
    assert await c.get(BEST, f"{uid}-c") == 0


# --- past 64 bits --------------------------------------------------------------------------


def logged_event(t: IdempotencyToken, name: str, delta: int, reset: bool = False) -> CounterEvent:
    return CounterEvent(name, t.generation_time, t.nonce, delta, reset)


async def racing_add(gw: DataGateway, ns: str, name: str, delta: int) -> None:
    """An add that reached the log unchecked, as one racing another replica's check would."""
    await gw.store.counter_append(ns, [logged_event(token(), name, delta)])


async def test_a_fold_past_64_bits_is_exact(gateway: DataGateway, uid: str) -> None:
    up, down, reset, cleared, small = (
        f"{uid}-{n}" for n in ("up", "down", "reset", "cleared", "small")
    )
    start = now_micros() - 10 * SEC
    events = [
        *(CounterEvent(up, start + i, f"u{i}", INT64_MAX) for i in range(3)),
        CounterEvent(up, start + 3, "u3", -5),
        CounterEvent(down, start, "d0", -(2**63)),
        CounterEvent(down, start + 1, "d1", -(2**63)),
        CounterEvent(down, start + 2, "d2", -1),
        CounterEvent(reset, start, "r0", INT64_MAX),
        CounterEvent(reset, start + 1, "r1", INT64_MAX),
        CounterEvent(reset, start + 2, "r2", reset=True),
        CounterEvent(reset, start + 3, "r3", INT64_MAX),
        CounterEvent(reset, start + 4, "r4", 2),
        CounterEvent(cleared, start, "c0", INT64_MAX),
        CounterEvent(cleared, start + 1, "c1", INT64_MAX),
        CounterEvent(cleared, start + 2, "c2", reset=True),
        CounterEvent(small, start, "s0", 3),
        CounterEvent(small, start + 1, "s1", -1),
    ]
    await gateway.store.counter_append(EVENTUAL, events)
    windows = {n: (0, now_micros()) for n in (up, down, reset, cleared, small)}
    folds = await gateway.store.counter_fold(EVENTUAL, windows)
    assert folds == {
        up: Fold(3 * INT64_MAX - 5, False, start + 3),
        down: Fold(-(2**64) - 1, False, start + 2),
        reset: Fold(INT64_MAX + 2, True, start + 4),
        cleared: Fold(0, True, start + 2),
        small: Fold(2, False, start + 1),
    }
    # A window after the large deltas folds only what is in it.
    later = await gateway.store.counter_fold(EVENTUAL, {up: (start + 2, now_micros())})
    assert later == {up: Fold(-5, False, start + 3)}


async def test_an_add_known_to_leave_64_bits_is_refused_in_each_mode(
    gateway: DataGateway, uid: str
) -> None:
    for ns in (EVENTUAL, ACCURATE):
        up, down = f"{uid}-{ns}-up", f"{uid}-{ns}-down"
        await gateway.counters.add(ns, up, INT64_MAX, token())
        with pytest.raises(InvalidArgument, match=up) as caught:
            await gateway.counters.add(ns, up, INT64_MAX, token())  # the second add
        assert caught.value.code == "BAD_USER_INPUT"
        await gateway.counters.get(ns, up)  # eventual: 0, the large add is not rolled up yet
        with pytest.raises(InvalidArgument, match=up):
            await gateway.counters.add(ns, up, 1, token())  # small, after an unrolled large add
        await gateway.counters.add(ns, down, -(2**62), token())
        await gateway.counters.add(ns, down, -(2**62), token())
        with pytest.raises(InvalidArgument, match=down):
            await gateway.counters.add_and_get(ns, down, -1, token())
        await gateway.counters.add(ns, up, -1, token())  # back towards zero is fine
    assert await gateway.counters.get(ACCURATE, f"{uid}-{ACCURATE}-up") == INT64_MAX - 1
    await wait_for_rollup_lag(gateway, EVENTUAL)
    await gateway.counters.rollup(EVENTUAL)
    assert await gateway.counters.get_many(
        EVENTUAL, [f"{uid}-{EVENTUAL}-up", f"{uid}-{EVENTUAL}-down"]
    ) == {f"{uid}-{EVENTUAL}-up": INT64_MAX - 1, f"{uid}-{EVENTUAL}-down": -(2**63)}


async def test_an_eventual_counter_past_64_bits_reads_as_an_error_and_the_others_roll_up(
    gateway: DataGateway, uid: str, reopen: Reopen, caplog: pytest.LogCaptureFixture
) -> None:
    bad, good, never = f"{uid}-bad", f"{uid}-good", f"{uid}-never"
    await gateway.counters.add(EVENTUAL, bad, INT64_MAX, token())
    await racing_add(gateway, EVENTUAL, bad, INT64_MAX)
    await gateway.counters.add(EVENTUAL, good, 7, token())
    await wait_for_rollup_lag(gateway, EVENTUAL)
    with caplog.at_level(logging.WARNING, logger="abstractions.counter"):
        await gateway.counters.rollup(EVENTUAL)  # bad and good are queued by their adds
        for _ in range(2):
            await gateway.counters.rollup(EVENTUAL, [bad, good])  # no second log, no count
    assert await gateway.counters.get(EVENTUAL, good) == 7
    with pytest.raises(CounterOverflow, match=bad) as caught:
        await gateway.counters.get(EVENTUAL, bad)
    assert caught.value.code == "COUNTER_OVERFLOW"
    with pytest.raises(CounterOverflow):
        await gateway.counters.add_and_get(EVENTUAL, bad, 0, token())
    got = await gateway.counters.get_many(EVENTUAL, [good, bad, never])
    assert got[good] == 7 and got[never] == 0
    assert isinstance(got[bad], CounterOverflow)
    logged = [r for r in caplog.records if r.name == "abstractions.counter"]
    assert [(r.levelno, bad in r.getMessage()) for r in logged] == [(logging.WARNING, True)]
    assert gateway.events.get(f"rollup_overflow:{EVENTUAL}") == 1

    # Another process learns it from its own rollup, never reading a number that is wrong.
    replica = await reopen()
    assert await replica.counters.get_many(EVENTUAL, [good]) == {good: 7}
    await replica.counters.rollup(EVENTUAL, [bad])
    with pytest.raises(CounterOverflow):
        await replica.counters.get(EVENTUAL, bad)

    # A clear brings it back, in every process, once rolled up.
    await gateway.counters.clear(EVENTUAL, bad, token())
    await gateway.counters.add(EVENTUAL, bad, 3, token())
    await wait_for_rollup_lag(gateway, EVENTUAL)
    await gateway.counters.rollup(EVENTUAL)
    assert await gateway.counters.get(EVENTUAL, bad) == 3
    assert await replica.counters.get(EVENTUAL, bad) == 3


async def test_an_accurate_counter_past_64_bits_reads_as_an_error_until_back_in_range(
    gateway: DataGateway, uid: str
) -> None:
    bad, good = f"{uid}-bad", f"{uid}-good"
    await gateway.counters.add(ACCURATE, bad, INT64_MAX, token())
    await racing_add(gateway, ACCURATE, bad, 2)
    await gateway.counters.add(ACCURATE, good, -4, token())
    with pytest.raises(CounterOverflow, match=bad):
        await gateway.counters.get(ACCURATE, bad)
    got = await gateway.counters.get_many(ACCURATE, [bad, good])
    assert isinstance(got[bad], CounterOverflow) and got[good] == -4
    await wait_for_rollup_lag(gateway, ACCURATE)
    await gateway.counters.rollup(ACCURATE, [bad, good])
    with pytest.raises(CounterOverflow):
        await gateway.counters.get(ACCURATE, bad)
    assert await gateway.counters.add_and_get(ACCURATE, bad, -3, token()) == INT64_MAX - 1
    assert await gateway.counters.get_many(ACCURATE, [bad, good]) == {
        bad: INT64_MAX - 1, good: -4
    }


async def test_one_counter_whose_rollup_fails_does_not_stop_the_others(
    gateway: DataGateway, uid: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    poison, names = f"{uid}-poison", [f"{uid}-{i}" for i in range(5)]
    for i, name in enumerate([poison, *names]):
        await gateway.counters.add(EVENTUAL, name, i + 1, token())
    fold = gateway.store.counter_fold

    async def failing_fold(namespace: str, windows: Mapping[str, tuple[int, int]]) -> object:
        if poison in windows:
            raise StoreUnavailable("this counter's rows cannot be read")
        return await fold(namespace, windows)

    monkeypatch.setattr(gateway.store, "counter_fold", failing_fold)
    await wait_for_rollup_lag(gateway, EVENTUAL)
    with caplog.at_level(logging.WARNING, logger="abstractions.counter"):
        for _ in range(3):
            await gateway.counters.rollup(EVENTUAL)  # failing counters stay queued
    assert await gateway.counters.get_many(EVENTUAL, names) == {
        name: i + 2 for i, name in enumerate(names)
    }
    assert await gateway.counters.get(EVENTUAL, poison) == 0  # its last good rollup: none yet
    logged = [r for r in caplog.records if r.name == "abstractions.counter"]
    assert [(r.levelno, poison in r.getMessage()) for r in logged] == [(logging.WARNING, True)]
    assert gateway.events.get(f"rollup_failed:{EVENTUAL}") == 3

    monkeypatch.setattr(gateway.store, "counter_fold", fold)
    await gateway.counters.rollup(EVENTUAL)
    assert await gateway.counters.get(EVENTUAL, poison) == 1
