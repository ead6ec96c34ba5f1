"""Late retries: a mutation whose first attempt failed, or went unanswered, applies exactly once
when its key is sent again 30 s, 10 min or a day later (the process clock is moved, and the
first attempt's writes land behind rollups made in between)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from backends.base import StoreUnavailable
from backends.clock import advance_clock, reset_clock

from .conftest import GraphQLClient
from .test_counters import ADD, CLEAR, read
from .test_playback import RECORD, history, playback, record, title_plays

LATE = [30, 600, 86400]
# Past the accept windows of title_plays (0.3 s here) and profile_plays (5 s) and the skew.
PAST_THE_WINDOWS = 6


@pytest.fixture(autouse=True)
def clock() -> Iterator[None]:
    yield
    reset_clock()


def fail_once(
    monkeypatch: pytest.MonkeyPatch,
    target: object,
    method: str,
    when: Callable[..., bool],
    *,
    after_writing: bool = False,
) -> None:
    """Make `target.method` raise once, for the first call `when(*args)` accepts: before it
    writes, or (`after_writing`) after, as a write whose answer was lost."""
    real: Callable[..., Awaitable[Any]] = getattr(target, method)
    armed = [True]

    async def failing(*args: Any, **kwargs: Any) -> Any:
        if not (armed[0] and when(*args)):
            return await real(*args, **kwargs)
        armed[0] = False
        if after_writing:
            await real(*args, **kwargs)
        raise StoreUnavailable("the first attempt's store call failed")

    monkeypatch.setattr(target, method, failing)


async def roll_up(client: GraphQLClient) -> None:
    for ns in ("title_plays", "profile_plays"):
        await client.gateway.counters.rollup(ns)


def finishing(namespace: str, id: str, items: Any, stamp: Any) -> bool:
    """A put that marks an idempotency attempt done: its answer is what gets lost."""
    return namespace == "idempotency" and items[0].key == b"done"


FAILURES: dict[str, Callable[[pytest.MonkeyPatch, Any], None]] = {
    # Nothing written: the viewing-history event fails first.
    "nothing": lambda mp, store: fail_once(mp, store, "ts_write", lambda *a: True),
    # The event and the profile count written, the title count not.
    "title-count": lambda mp, store: fail_once(
        mp, store, "counter_append", lambda ns, events: ns == "title_plays"
    ),
    # Every write landed, but the attempt was not marked done: the retry writes them again.
    "not-finished": lambda mp, store: fail_once(mp, store, "kv_put", finishing),
    # Done, and the answer lost: the retry only reads.
    "answer-lost": lambda mp, store: fail_once(
        mp, store, "kv_put", finishing, after_writing=True
    ),
}


@pytest.mark.parametrize("late", LATE)
@pytest.mark.parametrize("failure", list(FAILURES))
async def test_a_late_record_playback_retry_counts_the_play_exactly_once(
    client: GraphQLClient, monkeypatch: pytest.MonkeyPatch, failure: str, late: float
) -> None:
    await record(client, **playback("first"))
    FAILURES[failure](monkeypatch, client.gateway.store)
    errors = await client.errors(RECORD, {"input": playback("late")})
    assert [e["extensions"]["code"] for e in errors] == ["UNAVAILABLE"]
    advance_clock(PAST_THE_WINDOWS)
    await roll_up(client)  # rollups now reach past the first attempt's writes
    advance_clock(late)

    outs = [await record(client, **playback("late")) for _ in range(2)]  # retried twice
    assert outs[0]["event"] == outs[1]["event"]
    assert [o["profilePlayCount"]["count"] for o in outs] == ["2", "2"]
    await roll_up(client)
    assert await title_plays(client) == "2"
    profile = await history(client)
    assert profile["playCount"] == {"count": "2"}
    assert len(profile["viewingHistory"]["edges"]) == 2
    if failure != "answer-lost":  # the replayed add landed behind the rollup: a heal
        assert client.gateway.events.get("rollup_healed:title_plays") >= 1


@pytest.mark.parametrize("late", LATE)
@pytest.mark.parametrize("after_writing", [False, True], ids=["failed", "unanswered"])
@pytest.mark.parametrize("ns", ["profile_plays", "title_plays"])
async def test_a_late_add_count_retry_adds_exactly_once(
    client: GraphQLClient, monkeypatch: pytest.MonkeyPatch, ns: str, after_writing: bool,
    late: float,
) -> None:
    add = {"ns": ns, "name": "n", "delta": 5, "key": "a"}
    await client.data(ADD, add)
    fail_once(monkeypatch, client.gateway.store, "counter_append", lambda *a: True,
              after_writing=after_writing)
    errors = await client.errors(ADD, {**add, "delta": 7, "key": "b"})
    assert [e["extensions"]["code"] for e in errors] == ["UNAVAILABLE"]
    advance_clock(PAST_THE_WINDOWS)
    await roll_up(client)
    assert await read(client, ns, "n") == ("12" if after_writing else "5")
    advance_clock(late)

    for _ in range(2):
        await client.data(ADD, {**add, "delta": 7, "key": "b"})
    await roll_up(client)
    assert await read(client, ns, "n") == "12"


@pytest.mark.parametrize("late", LATE)
async def test_a_late_clear_count_retry_clears_what_came_before_it_only(
    client: GraphQLClient, monkeypatch: pytest.MonkeyPatch, late: float
) -> None:
    ns = "title_plays"
    await client.data(ADD, {"ns": ns, "name": "n", "delta": 5, "key": "a"})
    fail_once(monkeypatch, client.gateway.store, "counter_append", lambda *a: True)
    errors = await client.errors(CLEAR, {"ns": ns, "name": "n", "key": "c"})
    assert [e["extensions"]["code"] for e in errors] == ["UNAVAILABLE"]
    await client.data(ADD, {"ns": ns, "name": "n", "delta": 2, "key": "d"})
    advance_clock(PAST_THE_WINDOWS)
    await roll_up(client)
    assert await read(client, ns, "n") == "7"
    advance_clock(late)

    for _ in range(2):
        await client.data(CLEAR, {"ns": ns, "name": "n", "key": "c"})
    await roll_up(client)
    assert await read(client, ns, "n") == "2"  # the add made after the clear still counts
