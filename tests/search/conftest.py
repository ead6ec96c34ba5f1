"""Fixtures of the search suite: one `searching` fixture over every way search is served.

    sqlite-own               SQLite searches its own rows (no search URL)
    opensearch+sqlite        OpenSearch index, SQLite primary store
    opensearch+cassandra     OpenSearch index, Cassandra primary store (when both are running)
    elasticsearch+sqlite     Elasticsearch index (the official client), SQLite primary store
    elasticsearch+cassandra  Elasticsearch index, Cassandra primary store

A search cluster's setups are marked with its engine (`opensearch`, `elasticsearch`) and skipped,
saying why, unless its node's address is given: SUBGRAPH_TEST_OPENSEARCH (e.g.
http://127.0.0.1:9200) and SUBGRAPH_TEST_ELASTICSEARCH (e.g. http://127.0.0.1:9230); `make
test` sets both.  The OpenSearch one may be the secure node's
https://user:password@host:port?ca=FILE (`scripts/services start opensearch --secure` prints it):
every OpenSearch URL then goes over TLS with those credentials.  Every test gets its own index
prefix, so tests share a node without seeing each other's events, and its indices and templates
are deleted afterwards.  Tests of the cluster itself take the `engine` fixture (each engine whose
node runs); `Proxy` stands between such a test and the node, so it can take the cluster down and
bring it back without touching the shared node.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from abstractions.gateway import DataGateway
from abstractions.namespaces import Namespaces
from abstractions.timeseries import Event
from abstractions.tokens import PageTokens, now_micros
from backends.search import ClusterIndex, open_search_index
from backends.sqlite import SQLiteStore
from subgraph.idempotency import DEFAULT_NAMESPACE
from tests.conftest import CASSANDRA, make_store

from .nodes import ENGINES, NODES, delete_prefix, needs, node_address, search_url


def _cassandra_backend() -> bool:
    if not CASSANDRA:
        return False
    try:
        from backends.cassandra import CassandraStore  # noqa: F401
    except ImportError:
        return False
    return True


SETUPS = [pytest.param("sqlite-own", id="sqlite-own")]
for _engine in NODES:
    SETUPS.append(pytest.param(f"{_engine}+sqlite", id=f"{_engine}+sqlite",
                               marks=needs(_engine)))
    if _cassandra_backend():
        SETUPS.append(pytest.param(f"{_engine}+cassandra", id=f"{_engine}+cassandra",
                                   marks=[*needs(_engine), pytest.mark.cassandra]))


@pytest.fixture
def prefix(uid: str) -> str:
    """This test's index prefix (indices `<prefix><namespace>-<slice>`)."""
    return f"{uid}-"


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each search engine whose test node runs."""
    return request.param


@pytest.fixture
async def cleanup(prefix: str) -> AsyncIterator[None]:
    """Delete the indices and templates of this test's prefix afterwards, on every node."""
    yield
    for engine, node in NODES.items():
        if node:
            await delete_prefix(search_url(prefix, engine), prefix)


@dataclass
class Searching:
    """A started gateway whose search is served one way, and what tests need to drive it."""

    setup: str
    gateway: DataGateway
    index: ClusterIndex | None

    async def settle(self, namespace: str) -> None:
        """Make what was indexed searchable now (a cluster refreshes every second)."""
        if self.index is not None:
            await self.index.refresh(namespace)


@pytest.fixture(params=SETUPS)
def setup(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def searching(
    setup: str, tmp_path: Path, namespaces: Namespaces, prefix: str, cleanup: None
) -> AsyncIterator[Searching]:
    store = make_store("cassandra" if setup.endswith("cassandra") else "sqlite", tmp_path)
    engine, _, _ = setup.partition("+")
    index = open_search_index(search_url(prefix, engine)) if engine in NODES else None
    gateway = DataGateway(store, namespaces, search_index=index, page_tokens=PageTokens(b"test"))
    await gateway.start(background=False)
    try:
        yield Searching(setup, gateway, index)
    finally:
        await gateway.stop()


async def round_trip(index: ClusterIndex, db: Path, namespaces: Namespaces, uid: str) -> None:
    """Through a gateway over `index` (SQLite at `db`): three events written to events_short
    are found by a search and counted by distinct values."""
    gateway = DataGateway(SQLiteStore(db), namespaces.with_overrides(DEFAULT_NAMESPACE),
                          search_index=index, page_tokens=PageTokens(b"test"))
    await gateway.start(background=False)
    try:
        now = now_micros()
        events = [Event(f"{uid}-s", now - i * 1_000_000, f"e{i}", {"kind": b"tls"})
                  for i in range(1, 4)]
        await gateway.timeseries.write_events("events_short", events)
        await index.refresh("events_short")
        page = await gateway.timeseries.search_events("events_short", [])
        assert sorted(e.event_id for e in page.events) == ["e1", "e2", "e3"]
        distinct = await gateway.timeseries.aggregate_distinct("events_short", "kind")
        assert distinct == [(b"tls", 3)]
    finally:
        await gateway.stop()


class Proxy:
    """A TCP proxy to a search node that a test can stop (refused), hang, and restart.

    With `tls` it terminates TLS, as an HTTPS cluster's front would, and keeps what clients
    sent (`received`) so a test can see the credentials that came over it.
    """

    def __init__(self, target: tuple[str, int], tls: ssl.SSLContext | None = None) -> None:
        self.target = target
        self.tls = tls
        self.port = 0
        self.hang = False
        self.received = bytearray()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, ssl=self.tls
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the port and cut every open connection (the node looks down)."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await self._server.wait_closed()
            self._server = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            if self.hang:
                while await reader.read(65536):
                    pass
                return
            up_reader, upstream = await asyncio.open_connection(*self.target)
            self._writers.add(upstream)
            await asyncio.gather(_pipe(reader, upstream, self.received if self.tls else None),
                                 _pipe(up_reader, writer))
        except OSError:
            pass
        finally:
            for w in (writer, upstream):
                if w is not None:
                    self._writers.discard(w)
                    w.transport.abort()


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bytearray | None = None
) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            if record is not None:
                record += data
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


@pytest.fixture
async def proxy(engine: str) -> AsyncIterator[Proxy]:
    """A running proxy to `engine`'s node; stopped after the test."""
    p = Proxy(node_address(engine))
    await p.start()
    try:
        yield p
    finally:
        await p.stop()
