"""memcached as the cache engine: consistent hashing, mark-down, and a node killed under load.

Needs memcached (`scripts/services start memcached`; `make test` starts it and exports
SUBGRAPH_TEST_MEMCACHED).  The kill test starts its own node (node 2, the next port) with
`scripts/services`, kills it with SIGKILL mid-load and starts it again.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from abstractions.gateway import DataGateway
from abstractions.kv import Item
from abstractions.namespaces import Namespaces
from abstractions.tokens import IdempotencyToken, PageTokens
from backends.base import CacheKey
from backends.cache.memcached import MemcachedCache, Ring, parse_nodes
from tests.conftest import MEMCACHED, cached_namespaces, make_store

REPO = Path(__file__).resolve().parents[2]
NS = "kv_small"
needs_memcached = pytest.mark.skipif(not MEMCACHED, reason="SUBGRAPH_TEST_MEMCACHED not set")


def services(*args: str) -> str:
    """scripts/services, its memcached ports counted from the test server's (node 1)."""
    env = dict(os.environ)
    if MEMCACHED:
        env["DATA_GATEWAY_MEMCACHED_PORT"] = MEMCACHED.rsplit(":", 1)[1]
    done = subprocess.run([str(REPO / "scripts/services"), *args], capture_output=True,
                          text=True, check=True, timeout=60, env=env)
    return done.stdout.strip()


def test_cache_url_names_nodes_with_default_port() -> None:
    assert parse_nodes("memcached://a:11311,b") == [("a", 11311), ("b", 11211)]
    for bad in ("redis://a", "memcached://", "memcached://a:x", "memcached://a,a"):
        with pytest.raises(ValueError):
            parse_nodes(bad)


def test_ring_spreads_routes_and_a_new_node_moves_about_its_share() -> None:
    routes = [f"ns/{i}" for i in range(6000)]
    three = Ring(["a", "b", "c"])
    four = Ring(["a", "b", "c", "d"])
    placed = [three.node(r) for r in routes]
    for node in range(3):
        assert 1400 < placed.count(node) < 2600
    moved = sum(1 for r, n in zip(routes, placed, strict=True) if four.node(r) != n)
    assert 0.15 * len(routes) < moved < 0.35 * len(routes)  # about 1/4, and only to "d"
    assert all(four.node(r) == 3 for r, n in zip(routes, placed, strict=True)
               if four.node(r) != n)


async def test_a_node_that_does_not_answer_is_marked_down_and_fails_fast() -> None:
    cache = MemcachedCache([("127.0.0.1", 1)], timeout=0.2, retry_seconds=60)
    key = CacheKey("r", "k")
    found, failed = await cache.get_many([key])
    assert found == {} and failed == {"r"}
    assert cache.down_nodes() == ["127.0.0.1:1"]
    began = time.monotonic()
    found, failed = await cache.get_many([key])
    assert failed == {"r"} and time.monotonic() - began < 0.05
    await cache.close()


@needs_memcached
async def test_reads_of_one_loop_iteration_share_one_get_and_each_gets_its_own_keys() -> None:
    cache = MemcachedCache.from_url(f"memcached://{MEMCACHED}")
    stamp = time.time_ns()
    keys = [CacheKey("r", f"b:{stamp}:{i}") for i in range(6)]
    for key in keys[:4]:  # keys 4 and 5 are never set: misses
        await cache.set(key, key.name.encode(), 60)
    sent: list[list[CacheKey]] = []
    get_node = cache._get_node

    async def spy(index: int, batch: list[CacheKey]) -> object:
        sent.append(list(batch))
        return await get_node(index, batch)

    cache._get_node = spy  # type: ignore[method-assign]
    asked = [keys[0:2], keys[1:3], keys[3:6], keys[0:1]]
    answers = await asyncio.gather(*(cache.get_many(a) for a in asked))
    assert len(sent) == 1 and sorted(sent[0]) == sorted(keys)  # one get, each key once
    for mine, (found, failed) in zip(asked, answers, strict=True):
        assert not failed
        assert found == {k: k.name.encode() for k in mine if k in keys[:4]}
    await cache.get_many(keys[:1])  # alone: a batch of its own
    assert sent[-1] == keys[:1]
    await cache.close()


@needs_memcached
async def test_a_node_failing_in_a_batch_fails_only_the_reads_of_its_routes() -> None:
    cache = MemcachedCache([parse_nodes(f"memcached://{MEMCACHED}")[0], ("127.0.0.1", 1)],
                           timeout=0.3, retry_seconds=60)
    live = next(f"r{i}" for i in range(100) if cache.node_of(f"r{i}") != "127.0.0.1:1")
    dead = next(f"r{i}" for i in range(100) if cache.node_of(f"r{i}") == "127.0.0.1:1")
    key = CacheKey(live, f"f:{time.time_ns()}")
    await cache.set(key, b"v", 60)
    (found, failed), (_, failed_dead) = await asyncio.gather(
        cache.get_many([key]), cache.get_many([CacheKey(dead, "x")]))
    assert found == {key: b"v"} and failed == set()
    assert failed_dead == {dead}
    await cache.close()


async def test_a_cancelled_leader_sends_the_reads_that_joined_it_to_the_store() -> None:
    """The node never answers (a listener that accepts and stays silent): the first read leads
    the batch and is cancelled; the two that joined get their routes back as failed at once,
    instead of waiting on a batch nobody will answer."""
    accepted: list[asyncio.StreamWriter] = []
    silent = await asyncio.start_server(lambda r, w: accepted.append(w), "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    cache = MemcachedCache([("127.0.0.1", port)], timeout=30)
    try:
        leader = asyncio.create_task(cache.get_many([CacheKey("a", "k1")]))
        followers = [asyncio.create_task(cache.get_many([CacheKey(r, "k2")])) for r in "bc"]
        await asyncio.sleep(0.2)  # the batch is out, its get unanswered
        leader.cancel()
        answers = await asyncio.wait_for(asyncio.gather(*followers), timeout=2)
        assert answers == [({}, {"b"}), ({}, {"c"})]
        with pytest.raises(asyncio.CancelledError):
            await leader
    finally:
        await cache.close()
        for writer in accepted:
            writer.close()
        silent.close()
        await silent.wait_closed()


@needs_memcached
async def test_two_nodes_share_the_keys_and_count_with_incr_and_decr() -> None:
    second = services("start", "memcached", "--node", "2")
    try:
        cache = MemcachedCache.from_url(f"memcached://{MEMCACHED},{second}")
        nodes = {cache.node_of(f"r{i}") for i in range(100)}
        assert nodes == set(cache.nodes)
        keys = [CacheKey(f"r{i}", f"t:{os.getpid()}:{i}:{time.time_ns()}") for i in range(50)]
        for key in keys:
            await cache.set(key, key.name.encode(), 60)
        found, failed = await cache.get_many(keys)
        assert not failed and all(found[k] == k.name.encode() for k in keys)
        counter = CacheKey("c", f"c:{time.time_ns()}")
        bias = 1 << 63
        assert await cache.incr(counter, 5, bias, 60) == bias + 5
        assert await cache.incr(counter, -7, bias, 60) == bias - 2
        assert await cache.get_counter(counter) == bias - 2
        await cache.close()
    finally:
        services("stop", "memcached", "--node", "2")


@needs_memcached
async def test_memcached_killed_under_load_every_read_answers_and_hits_resume(
    tmp_path: Path, namespaces: Namespaces
) -> None:
    """Readers and writers run while the cache node is SIGKILLed (after 1.5 s) and started
    again 1.5 s later, and until hits resume (at most 10 s more).  No read fails or sees older
    than a write acknowledged before it began."""
    address = services("start", "memcached", "--node", "2")
    cache = MemcachedCache.from_url(f"memcached://{address}", timeout=0.5, retry_seconds=0.3)
    gw = DataGateway(make_store("sqlite", tmp_path), cached_namespaces(namespaces),
                     page_tokens=PageTokens(b"test"), cache=cache)
    await gw.start(background=False)
    ids = [f"rec{i}" for i in range(4)]
    acked = dict.fromkeys(ids, 0)
    phases = {"before": [0, 0], "down": [0, 0], "after": [0, 0]}  # reads, stale
    phase = "before"
    done = asyncio.Event()

    def hits() -> int:
        return sum(n for labels, n in gw.cache_stats.snapshot().items() if labels[1] == "hit")

    async def writer() -> None:
        while not done.is_set():
            id = random.choice(ids)
            token = IdempotencyToken.new()
            await gw.kv.put_items(NS, id, [Item(b"k", str(token.generation_time).encode())],
                                  token)
            acked[id] = max(acked[id], token.generation_time)
            await asyncio.sleep(0.01)

    async def reader() -> None:
        while not done.is_set():
            id = random.choice(ids)
            floor = acked[id]
            page = await gw.kv.get_items(NS, id)
            got = int(page.items[0].value) if page.items else 0
            phases[phase][0] += 1
            if got < floor:
                phases[phase][1] += 1
            await asyncio.sleep(0)

    async def chaos() -> dict[str, int]:
        nonlocal phase
        seen = {}
        try:
            await asyncio.sleep(1.5)
            seen["before"] = hits()
            await asyncio.to_thread(services, "kill", "memcached", "--node", "2")
            phase = "down"
            await asyncio.sleep(1.5)
            seen["down"] = hits()
            await asyncio.to_thread(services, "start", "memcached", "--node", "2")
            phase = "after"
            seen["restarted"] = hits()
            for _ in range(100):  # at most 10 s for hits to resume
                if hits() >= seen["restarted"] + 100:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # more reads after the recovery
        finally:
            done.set()
        return seen

    try:
        *_, seen = await asyncio.gather(writer(), *(reader() for _ in range(4)), chaos())
        after = hits()
    finally:
        await gw.stop()
        await cache.close()
        services("stop", "memcached", "--node", "2")
    assert all(reads > 10 for reads, _ in phases.values()), phases
    assert all(stale == 0 for _, stale in phases.values()), phases
    assert seen["before"] > 0
    falls = sum(n for labels, n in gw.cache_stats.snapshot().items()
                if labels[1] == "fall_through")
    assert falls > 0
    assert after >= seen["restarted"] + 100  # hits resumed after the node came back
