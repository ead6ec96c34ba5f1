"""Replicas on one store: `python -m subgraph serve` twice over one SQLite file, and over the
Cassandra node when there is one.  A key sent to both at once applies once; a fire-and-forget
write lost with a killed server is written by its retry on another."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import CASSANDRA, CASSANDRA_KEYSPACE
from tests.hostile.server import NAMESPACES, Server

STORES = ["sqlite"] + (["cassandra"] if CASSANDRA else [])
KEYS = 20

ADD = """mutation ($input: AddCountInput!) { addCount(input: $input) { count } }"""
WRITE = """mutation ($input: WriteEventsInput!) { writeEvents(input: $input) { eventIds } }"""
PLAY = """mutation ($input: RecordPlaybackInput!) {
  recordPlayback(input: $input) { event { id } }
}"""
READ = """query ($counter: String!, $series: ID!, $profile: ID!, $ns: String!) {
  counter(namespace: "profile_plays", name: $counter) { count }
  events: timeSeries(namespace: $ns, id: $series, first: 100) { edges { node { eventId } } }
  plays: timeSeries(namespace: "viewing_history", id: $profile, first: 100) {
    edges { node { eventId } }
  }
}"""
# Flushes seconds after a write, so a server killed right after answering has not flushed.
SLOW_FLUSH = """
[namespaces.events_slow_flush]
abstraction = "timeseries"
seconds_per_slice = 3600
seconds_per_bucket = 600
event_buckets = 2
accept_window_seconds = 60
flush_interval_seconds = 2.0
flush_batch_size = 1000
"""


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/shared.db"
    return f"cassandra://{CASSANDRA}/{CASSANDRA_KEYSPACE}"


@pytest.fixture
def namespaces(tmp_path: Path) -> Path:
    path = tmp_path / "namespaces.toml"
    path.write_text(NAMESPACES.read_text() + SLOW_FLUSH)
    return path


@pytest.fixture
def start(store_url: str, namespaces: Path, tmp_path: Path) -> Iterator[Any]:
    """Starts servers on the shared store, one at a time (each makes missing tables first)."""
    servers: list[Server] = []

    def start_one() -> Server:
        server = Server(tmp_path, store=store_url, namespaces=namespaces,
                        name=f"server-{len(servers)}", request_timeout=30)
        servers.append(server)
        server.wait_until_healthy(60)
        return server

    yield start_one
    for server in servers:
        server.terminate()


async def post(http: httpx.AsyncClient, server: Server, query: str, variables: dict) -> dict:
    response = await http.post(f"{server.base}/graphql",
                               json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def mutations(uid: str, n: int) -> list[tuple[str, dict[str, Any]]]:
    """addCount, writeEvents (no time: the attempt's) and recordPlayback, with key `n`."""
    key = f"{uid}-{n}"
    inputs = [
        (ADD, {"namespace": "profile_plays", "name": f"{uid}-c", "delta": 1}),
        (WRITE, {"namespace": "events_short",
                 "events": [{"seriesId": f"{uid}-s", "items": [{"key": "n", "text": "x"}]}]}),
        (PLAY, {"profileId": f"{uid}-p", "titleId": f"{uid}-t", "positionSeconds": n,
                "durationSeconds": 1}),
    ]
    return [(document, {"input": {**input, "idempotencyKey": key}}) for document, input in inputs]


async def test_keys_sent_to_two_replicas_at_once_apply_once(start: Any, uid: str) -> None:
    replicas = [start(), start()]
    async with httpx.AsyncClient(timeout=60) as http:
        for server in replicas:  # warm (statements prepared), so that both answer as fast
            await asyncio.gather(*(post(http, server, *m) for m in mutations(f"{uid}-w", 0)))
        await asyncio.gather(*(
            post(http, server, *mutation)
            for n in range(KEYS) for mutation in mutations(uid, n) for server in replicas
        ))
        read = {"counter": f"{uid}-c", "series": f"{uid}-s", "profile": f"{uid}-p",
                "ns": "events_short"}
        for server in replicas:
            found = await post(http, server, READ, read)
            assert found["counter"]["count"] == str(KEYS)
            # No event twice: each key's event at one time (the claimed attempt's).
            assert len(found["events"]["edges"]) == KEYS
            assert len(found["plays"]["edges"]) == KEYS


async def test_a_fire_and_forget_write_lost_with_a_killed_server_is_written_by_its_retry(
    start: Any, uid: str
) -> None:
    request = {"input": {
        "namespace": "events_slow_flush", "mode": "FIRE_AND_FORGET", "idempotencyKey": uid,
        "events": [{"seriesId": uid, "items": [{"key": "k", "text": "v"}]}],
    }}
    read = {"counter": uid, "series": uid, "profile": uid, "ns": "events_slow_flush"}
    first = start()
    async with httpx.AsyncClient(timeout=60) as http:
        answer = await post(http, first, WRITE, request)  # buffered, not yet flushed
        first.process.kill()  # a crash: the buffer is gone
        first.process.wait(10)
        second = start()
        assert (await post(http, second, READ, read))["events"]["edges"] == []
        assert await post(http, second, WRITE, request) == answer
        deadline = asyncio.get_running_loop().time() + 10
        while not (await post(http, second, READ, read))["events"]["edges"]:
            assert asyncio.get_running_loop().time() < deadline, "the retry was not written"
            await asyncio.sleep(0.1)
        second.terminate()  # flushes; the attempt is done
        third = start()
        assert await post(http, third, WRITE, request) == answer
        third.terminate()
        last = start()
        assert len((await post(http, last, READ, read))["events"]["edges"]) == 1
