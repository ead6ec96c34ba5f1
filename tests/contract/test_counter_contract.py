"""The Distributed Counter contract: every backend, through the abstraction, behaves like this.

An eventual counter rolls up the events older than its accept window plus the allowed clock skew
(0.2 s + 1 s in the test namespaces), so the tests that need a rollup to cover an add wait for
that lag once (`wait_for_rollup_lag`), then call `rollup` themselves.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

import pytest

from abstractions.counter import CHECKPOINT_STEP_SECONDS, TRUNCATE_GRACE_SECONDS
from abstractions.errors import (
    CounterOverflow,
    InvalidArgument,
    InvalidIdempotencyToken,
    TooLarge,
)
from abstractions.gateway import DataGateway
from abstractions.namespaces import CounterNamespace
from abstractions.tokens import IdempotencyToken, now_micros
from backends.base import Checkpoint, CounterEvent, Fold, Rollup, StoreUnavailable
from backends.clock import advance_clock, reset_clock

from .conftest import Reopen, StoreCalls

BEST = "page_views"
EVENTUAL = "counter_eventual_fast"  # accept window 0.2 s
ACCURATE = "counter_accurate_fast"  # accept window 0.2 s
SEC = 1_000_000
INT64_MAX = 2**63 - 1
_END = INT64_MAX


def token(at: int | None = None) -> IdempotencyToken:
    fresh = IdempotencyToken.new()
    return fresh if at is None else IdempotencyToken(at, fresh.nonce)


async def fresh_token(call: Callable[[IdempotencyToken], Awaitable[Any]]) -> Any:
    """`call` with a token made as it starts, as a client makes one per request: of many
    calls gathered at once, the last would otherwise find its token past the 0.2 s accept
    window on a busy machine (made with the others, before any of them ran)."""
    return await call(token())


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
        *(fresh_token(partial(gateway.counters.add, EVENTUAL, name, i)) for i in range(1, 51)),
        *(fresh_token(partial(gateway.counters.add, EVENTUAL, other, -1)) for _ in range(10)),
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
        *(fresh_token(partial(gateway.counters.add_and_get, ACCURATE, name, d)) for d in deltas)
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
    calls = store_calls("counter_values", "counter_rollups", "counter_checkpoints", "counter_fold")
    got = await gateway.counters.get_many(ns, [*names, f"{uid}-never", names[0]])
    assert got == {**{n: i * 3 - 7 for i, n in enumerate(names)}, f"{uid}-never": 0}
    assert list(got) == [*names, f"{uid}-never"]
    assert all(n <= 1 for n in calls.counts.values()), calls.counts
    assert sum(calls.counts.values()) == (1 if ns == BEST else 3)
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


# --- correct under faults: failed reads, late retries, heals, retention, repair -----------


@pytest.fixture
def clock() -> Iterator[Callable[[float], None]]:
    """`clock(seconds)` moves the process clock (late retries, retention); reset afterwards."""
    yield advance_clock
    reset_clock()


def ago(seconds: float) -> IdempotencyToken:
    return token(now_micros() - int(seconds * SEC))


async def stored_rollup(gw: DataGateway, ns: str, name: str) -> Rollup | None:
    return (await gw.store.counter_rollups(ns, [name])).get(name)


@pytest.mark.parametrize("failing", ["counter_rollups", "counter_checkpoints", "counter_fold"])
async def test_a_rollup_whose_read_fails_is_not_stored_and_is_retried(
    gateway: DataGateway, uid: str, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    name = f"{uid}-c"
    await gateway.counters.add(EVENTUAL, name, 5, token())
    await wait_for_rollup_lag(gateway, EVENTUAL)
    await gateway.counters.rollup(EVENTUAL)
    before = await stored_rollup(gateway, EVENTUAL, name)
    assert before is not None and before.count == 5
    await gateway.counters.add(EVENTUAL, name, 3, token())
    real, rollups = getattr(gateway.store, failing), gateway.store.counter_rollups

    async def broken(*args: object, **kwargs: object) -> object:
        raise StoreUnavailable("a replica is down")

    monkeypatch.setattr(gateway.store, failing, broken)
    await wait_for_rollup_lag(gateway, EVENTUAL)
    for _ in range(2):
        await gateway.counters.rollup(EVENTUAL)
    assert (await rollups(EVENTUAL, [name]))[name] == before  # nothing stored
    assert gateway.events.get(f"rollup_failed:{EVENTUAL}") == 2
    monkeypatch.setattr(gateway.store, failing, real)
    await gateway.counters.rollup(EVENTUAL)  # still queued: retried
    assert await gateway.counters.get(EVENTUAL, name) == 8


@pytest.mark.parametrize("ns", [EVENTUAL, ACCURATE])
async def test_a_fold_that_wrongly_reads_empty_never_moves_a_rollup(
    gateway: DataGateway, uid: str, monkeypatch: pytest.MonkeyPatch, ns: str
) -> None:
    """The defect: a rollup computed from an empty read was saved, and its events were never
    counted.  A fold that finds nothing stores nothing, so the events count once readable."""
    name = f"{uid}-c"
    await gateway.counters.add(ns, name, 5, token())
    await wait_for_rollup_lag(gateway, ns)
    await gateway.counters.rollup(ns, [name])
    before = await stored_rollup(gateway, ns, name)
    await gateway.counters.add(ns, name, 31, token())
    real = gateway.store.counter_fold

    async def empty(namespace: str, windows: Mapping[str, tuple[int, int]]) -> dict[str, Fold]:
        return dict.fromkeys(windows, Fold(0, False, None))

    monkeypatch.setattr(gateway.store, "counter_fold", empty)
    await wait_for_rollup_lag(gateway, ns)
    await gateway.counters.rollup(ns, [name])
    assert await stored_rollup(gateway, ns, name) == before
    monkeypatch.setattr(gateway.store, "counter_fold", real)
    await gateway.counters.rollup(ns, [name])
    assert await gateway.counters.get(ns, name) == 36


@pytest.mark.parametrize("ns", [EVENTUAL, ACCURATE])
@pytest.mark.parametrize("late", [30, 600, 86400])
async def test_a_replayed_add_counts_exactly_once_however_late(
    gateway: DataGateway, uid: str, ns: str, late: float, clock: Callable[[float], None]
) -> None:
    landed, lost = f"{uid}-landed", f"{uid}-lost"
    first, unanswered, never_written = token(), token(), token()
    await gateway.counters.add(ns, landed, 1, first)
    await gateway.counters.add(ns, landed, 10, unanswered)  # the caller never heard back
    await gateway.counters.add(ns, lost, 1, first)
    await wait_for_rollup_lag(gateway, ns)
    await gateway.counters.rollup(ns, [landed, lost])  # rolled up before the retries
    clock(late)
    with pytest.raises(InvalidIdempotencyToken, match="accept window"):
        await gateway.counters.add(ns, landed, 10, unanswered)  # not a replay: refused
    for _ in range(2):  # retried twice
        await gateway.counters.add(ns, landed, 10, unanswered, replay=True)
        await gateway.counters.add(ns, lost, 10, never_written, replay=True)
    if ns == ACCURATE:  # counted as soon as the replay returns
        assert await gateway.counters.get_many(ns, [landed, lost]) == {landed: 11, lost: 11}
    await gateway.counters.rollup(ns)  # the replays queued a heal
    assert await gateway.counters.get_many(ns, [landed, lost]) == {landed: 11, lost: 11}
    assert await gateway.counters.add_and_get(ns, lost, 10, never_written, replay=True) == 11


async def test_a_replay_older_than_the_log_retention_is_refused(
    gateway: DataGateway, uid: str
) -> None:
    retention = gateway.namespaces.get(EVENTUAL, CounterNamespace).log_retention_seconds
    for call in (
        lambda t: gateway.counters.add(EVENTUAL, f"{uid}-c", 1, t, replay=True),
        lambda t: gateway.counters.clear(EVENTUAL, f"{uid}-c", t, replay=True),
    ):
        with pytest.raises(InvalidIdempotencyToken, match="log retention"):
            await call(ago(retention + 1))
    await gateway.counters.add(EVENTUAL, f"{uid}-c", 1, ago(retention - 60), replay=True)


async def test_a_late_replayed_clear_resets_what_came_before_it(
    gateway: DataGateway, uid: str
) -> None:
    name = f"{uid}-c"
    await gateway.counters.add(ACCURATE, name, 7, ago(60), replay=True)
    clear = ago(50)  # its first attempt never reached the log
    await gateway.counters.add(ACCURATE, name, 3, ago(40), replay=True)
    await gateway.counters.rollup(ACCURATE, [name])
    assert await gateway.counters.get(ACCURATE, name) == 10
    await gateway.counters.clear(ACCURATE, name, clear, replay=True)
    assert await gateway.counters.get(ACCURATE, name) == 3
    await gateway.counters.rollup(ACCURATE, [name])
    assert await gateway.counters.get(ACCURATE, name) == 3


async def test_an_event_replayed_behind_a_rollup_heals_it(
    gateway: DataGateway, uid: str, reopen: Reopen, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"{uid}-c"
    late_token = token()  # its first attempt failed before writing
    await gateway.counters.add(EVENTUAL, name, 4, token())
    await wait_for_rollup_lag(gateway, EVENTUAL)
    await gateway.counters.rollup(EVENTUAL)
    rolled = await stored_rollup(gateway, EVENTUAL, name)
    assert rolled is not None and rolled.count == 4 and rolled.as_of > late_token.generation_time
    await gateway.counters.add(EVENTUAL, name, 1, token())
    await wait_for_rollup_lag(gateway, EVENTUAL)

    # Another replica read the counter before the replay (no mark, the old rollup) and stores
    # its incremental rollup after the heal: newer, it wins, and misses the replayed event.
    replica = await reopen()
    stale_rollups = await replica.store.counter_rollups(EVENTUAL, [name])
    stale_checkpoints = await replica.store.counter_checkpoints(EVENTUAL, [name])

    async def rollups(namespace: str, names: Sequence[str]) -> dict[str, Rollup]:
        return stale_rollups

    async def checkpoints(namespace: str, names: Sequence[str]) -> dict[str, Checkpoint]:
        return stale_checkpoints

    monkeypatch.setattr(replica.store, "counter_rollups", rollups)
    monkeypatch.setattr(replica.store, "counter_checkpoints", checkpoints)
    await gateway.counters.add(EVENTUAL, name, 100, late_token, replay=True)
    await gateway.counters.rollup(EVENTUAL)  # the heal
    assert await gateway.counters.get(EVENTUAL, name) == 105
    await replica.counters.rollup(EVENTUAL, [name])
    assert await gateway.counters.get(EVENTUAL, name) == 5  # the stale rollup won...
    await gateway.counters.rollup(EVENTUAL)  # ...and the counter, still queued, heals again
    assert await gateway.counters.get(EVENTUAL, name) == 105
    assert gateway.events.get(f"rollup_healed:{EVENTUAL}") >= 2
    await wait_for_rollup_lag(gateway, EVENTUAL)
    await gateway.counters.rollup(EVENTUAL)
    assert gateway.counters._pending.get(EVENTUAL, {}) == {}  # caught up: dequeued
    assert await gateway.counters.get(EVENTUAL, name) == 105


async def test_log_retention_checkpoints_then_deletes_old_events_and_counts_stay_exact(
    gateway: DataGateway, uid: str, clock: Callable[[float], None]
) -> None:
    names = {f"{uid}-{ns}": ns for ns in (EVENTUAL, ACCURATE)}
    for name, ns in names.items():
        await gateway.counters.add(ns, name, 5, token())
        await gateway.counters.clear(ns, name, token())
        await gateway.counters.add(ns, name, 7, token())
        await gateway.counters.add(ns, name, -2, token())
    await wait_for_rollup_lag(gateway, EVENTUAL)
    for ns in (EVENTUAL, ACCURATE):
        await gateway.counters.rollup(ns)
    everything = (0, _END)
    config = gateway.namespaces.get(EVENTUAL, CounterNamespace)
    clock(config.log_retention_seconds + 3600)

    for ns in (EVENTUAL, ACCURATE):
        assert (await gateway.counters.apply_retention(ns))[ns] >= 1
    for name, ns in names.items():
        base = (await gateway.store.counter_checkpoints(ns, [name]))[name].base
        assert base is not None and base.count == 5
        folds = await gateway.store.counter_fold(ns, {name: everything})
        assert folds[name].last_event_time is not None  # not deleted yet: the grace first
    for name, ns in names.items():  # a new add on top of the base
        await gateway.counters.add(ns, name, 1, token())
    clock(CHECKPOINT_STEP_SECONDS + TRUNCATE_GRACE_SECONDS + 60)
    for ns in (EVENTUAL, ACCURATE):
        await gateway.counters.apply_retention(ns)
    for name, ns in names.items():
        folds = await gateway.store.counter_fold(ns, {name: everything})
        assert folds[name].total == 1 and not folds[name].reset  # only the newer add is left
        if ns == ACCURATE:
            assert await gateway.counters.get(ns, name) == 6
        await gateway.counters.rollup(ns, [name])
        assert await gateway.counters.get(ns, name) == 6
        # A repair after the deletion computes the same count.
        [repaired] = await gateway.counters.repair(ns, [name])
        assert repaired.count == 6 and not repaired.wrong
        assert await gateway.counters.get(ns, name) == 6


async def test_retention_passes_are_bounded_and_resume(
    gateway: DataGateway, uid: str, clock: Callable[[float], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each pass takes at most `limit` counters and the next resumes after them, until every
    counter was seen (on a shared Cassandra keyspace the namespace also holds other tests')."""
    names = [f"{uid}-{i}" for i in range(5)]
    for name in names:
        await gateway.counters.add(EVENTUAL, name, 2, token())
    clock(gateway.namespaces.get(EVENTUAL, CounterNamespace).log_retention_seconds + 3600)
    listed = gateway.store.counter_names
    seen: list[str] = []

    async def listing(namespace: str, after: str | None, limit: int, **kw: bool) -> list[str]:
        page = await listed(namespace, after, limit, **kw)
        assert limit == 2 and len(page) <= 2
        seen.extend(page)
        return page

    monkeypatch.setattr(gateway.store, "counter_names", listing)
    for _ in range(10_000):
        await gateway.counters.apply_retention(EVENTUAL, limit=2)
        if set(names) <= set(seen):
            break
    assert len(seen) == len(set(seen))  # no counter twice in one sweep
    checkpoints = await gateway.store.counter_checkpoints(EVENTUAL, names)
    assert {n: c.base.count if c.base else None for n, c in checkpoints.items()} == dict.fromkeys(
        names, 2
    )


async def test_repair_replaces_a_corrupted_rollup_with_the_count_of_the_log(
    gateway: DataGateway, uid: str
) -> None:
    wrong, right, never = f"{uid}-wrong", f"{uid}-right", f"{uid}-never"
    for name, delta in ((wrong, 31), (right, 2)):
        await gateway.counters.add(EVENTUAL, name, delta, token())
    await wait_for_rollup_lag(gateway, EVENTUAL)
    await gateway.counters.rollup(EVENTUAL)
    stored = await stored_rollup(gateway, EVENTUAL, wrong)
    assert stored is not None
    await gateway.store.counter_put_rollup(EVENTUAL, wrong, Rollup(0, stored.as_of), replace=True)
    assert await gateway.counters.get(EVENTUAL, wrong) == 0  # the defect: 0 with 31 in the log

    repaired = {r.name: r for r in await gateway.counters.repair(EVENTUAL, [wrong, right, never])}
    assert repaired[wrong].wrong and repaired[wrong].expected == 31
    assert not repaired[right].wrong
    nothing = repaired[never]
    assert (nothing.stored, nothing.rollup, nothing.count) == (None, None, 0)  # no row made
    assert await gateway.counters.get_many(EVENTUAL, [wrong, right, never]) == {
        wrong: 31, right: 2, never: 0
    }
    # Every counter of the namespace (on Cassandra, other tests' too: some wrote rollups of
    # their own making, which the log does not back).
    mine = [r for r in await gateway.counters.repair(EVENTUAL) if r.name.startswith(uid)]
    assert {r.name for r in mine} == {wrong, right} and not any(r.wrong for r in mine)


# --- the store's part: checkpoints, replaced rollups, truncation, names ---------------------


async def test_checkpoints_keep_the_latest_base_and_the_newest_late_arrival(
    gateway: DataGateway, uid: str
) -> None:
    store, name = gateway.store, f"{uid}-c"
    assert await store.counter_checkpoints(EVENTUAL, [name]) == {}
    await store.counter_mark_late(EVENTUAL, name, 2_000)
    await store.counter_mark_late(EVENTUAL, name, 1_000)  # an older arrival, later
    assert await store.counter_checkpoints(EVENTUAL, [name]) == {name: Checkpoint(None, 2_000)}
    await store.counter_put_base(EVENTUAL, name, Rollup(5, 10_000))
    await store.counter_put_base(EVENTUAL, name, Rollup(3, 9_000))  # an older base, later
    await store.counter_mark_late(EVENTUAL, name, 3_000)
    assert await store.counter_checkpoints(EVENTUAL, [name, f"{uid}-none"]) == {
        name: Checkpoint(Rollup(5, 10_000), 3_000)
    }


async def test_a_replacing_rollup_wins_over_a_later_one(gateway: DataGateway, uid: str) -> None:
    store, name = gateway.store, f"{uid}-c"
    await store.counter_put_rollup(EVENTUAL, name, Rollup(0, 5_000))  # wrong, and later
    await store.counter_put_rollup(EVENTUAL, name, Rollup(31, 4_000))
    assert await store.counter_rollups(EVENTUAL, [name]) == {name: Rollup(0, 5_000)}
    await store.counter_put_rollup(EVENTUAL, name, Rollup(31, 4_000), replace=True)
    assert await store.counter_rollups(EVENTUAL, [name]) == {name: Rollup(31, 4_000)}
    await store.counter_put_rollup(EVENTUAL, name, Rollup(32, 4_000), replace=True)  # same time
    assert await store.counter_rollups(EVENTUAL, [name]) == {name: Rollup(32, 4_000)}


async def test_truncation_deletes_a_counters_events_up_to_a_time_only(
    gateway: DataGateway, uid: str
) -> None:
    store, a, b = gateway.store, f"{uid}-a", f"{uid}-b"
    step = 600 * SEC  # whole log buckets on Cassandra, and a part of one
    start = (now_micros() - 30 * step) // step * step
    times = [start + 1, start + step - 1, start + step, start + 2 * step + 5, start + 4 * step]
    await store.counter_append(EVENTUAL, [
        *(CounterEvent(a, t, f"a{i}", 1 << i) for i, t in enumerate(times)),
        *(CounterEvent(b, t, f"b{i}", 1) for i, t in enumerate(times)),
    ])
    everything = {a: (0, _END), b: (0, _END)}
    await store.counter_truncate(EVENTUAL, {a: start + step - 1})
    folds = await store.counter_fold(EVENTUAL, everything)
    assert folds[a] == Fold(4 + 8 + 16, False, times[-1]) and folds[b].total == 5
    await store.counter_truncate(EVENTUAL, {a: start + 2 * step + 5, b: start})  # a part too
    folds = await store.counter_fold(EVENTUAL, everything)
    assert folds[a] == Fold(16, False, times[-1]) and folds[b].total == 5
    await store.counter_truncate(EVENTUAL, {a: _END})
    assert (await store.counter_fold(EVENTUAL, {a: (0, _END)}))[a] == Fold(0, False, None)


async def test_counter_names_list_every_counter_once_in_pages(
    gateway: DataGateway, uid: str, backend: str
) -> None:
    store = gateway.store
    logged = [f"{uid}-log{i}" for i in range(4)]
    for name in logged:
        await gateway.counters.add(EVENTUAL, name, 1, token())
    await store.counter_put_rollup(EVENTUAL, f"{uid}-rolled", Rollup(1, 1))
    await store.counter_mark_late(EVENTUAL, f"{uid}-marked", 1)
    mine = {*logged, f"{uid}-rolled", f"{uid}-marked"}

    async def every(logged_only: bool) -> list[str]:
        names: list[str] = []
        after = None
        while page := await store.counter_names(EVENTUAL, after, 2, logged=logged_only):
            assert len(page) <= 2
            names += page
            after = page[-1]
        return names

    found = await every(False)
    assert len(found) == len(set(found)) and mine <= set(found)
    assert set(logged) <= set(await every(True))
    assert not {f"{uid}-rolled", f"{uid}-marked"} & set(await every(True))
    if backend == "sqlite":
        assert found == sorted(found)


async def test_the_background_retention_checkpoints_old_counters(
    gateway: DataGateway, uid: str, clock: Callable[[float], None]
) -> None:
    name = f"{uid}-c"
    await gateway.counters.add(ACCURATE, name, 9, token())
    clock(gateway.namespaces.get(ACCURATE, CounterNamespace).log_retention_seconds + 3600)
    await gateway.counters.start(retention_interval=0.05)
    try:
        deadline = asyncio.get_running_loop().time() + 30.0
        while not (await gateway.store.counter_checkpoints(ACCURATE, [name])).get(name):
            assert asyncio.get_running_loop().time() < deadline, "the retention did not run"
            await asyncio.sleep(0.05)
    finally:
        await gateway.counters.stop()
    base = (await gateway.store.counter_checkpoints(ACCURATE, [name]))[name].base
    assert base is not None and base.count == 9
    assert await gateway.counters.get(ACCURATE, name) == 9


@pytest.mark.parametrize("reset", [False, True])
async def test_an_add_checked_in_time_but_landing_after_a_rollup_passed_it_is_counted(
    gateway: DataGateway, uid: str, monkeypatch: pytest.MonkeyPatch,
    clock: Callable[[float], None], reset: bool,
) -> None:
    """Seen in the fault suite (node killed): a clear whose claim and write were slow landed
    behind a rollup that had already passed its time, and the eventual count kept the adds
    before it.  A write that lands later than its accept window marks its counter late."""
    name = f"{uid}-c"
    await gateway.counters.add(EVENTUAL, name, 3, token())
    await wait_for_rollup_lag(gateway, EVENTUAL)
    await gateway.counters.rollup(EVENTUAL)
    assert await gateway.counters.get(EVENTUAL, name) == 3
    real = gateway.store.counter_append
    config = gateway.namespaces.get(EVENTUAL, CounterNamespace)

    async def slow(namespace: str, events: list) -> None:
        # The write is slow: meanwhile the accept window passes and a rollup runs past it.
        clock(config.accept_window_seconds + gateway.namespaces.settings.max_clock_skew_seconds
              + 1)
        await gateway.counters.rollup(EVENTUAL, [name])
        await real(namespace, events)

    await gateway.counters.add(EVENTUAL, name, 1, token())  # the rollup finds this one
    monkeypatch.setattr(gateway.store, "counter_append", slow)
    slow_token = token()
    if reset:
        await gateway.counters.clear(EVENTUAL, name, slow_token)
    else:
        await gateway.counters.add(EVENTUAL, name, 4, slow_token)
    monkeypatch.setattr(gateway.store, "counter_append", real)
    clock(config.accept_window_seconds + gateway.namespaces.settings.max_clock_skew_seconds + 1)
    await gateway.counters.rollup(EVENTUAL)
    assert await gateway.counters.get(EVENTUAL, name) == (0 if reset else 8)
