"""Fixtures of the search suite: one `searching` fixture over every way search is served.

    sqlite-own            SQLite searches its own rows (no search URL)
    opensearch+sqlite     OpenSearch index, SQLite primary store
    opensearch+cassandra  OpenSearch index, Cassandra primary store (when both are running)

OpenSearch setups are marked `opensearch` and skipped, saying why, unless
SUBGRAPH_TEST_OPENSEARCH (e.g. http://127.0.0.1:9200) is set; `make test` sets it.  It may be
the secure node's https://user:password@host:port?ca=FILE (`scripts/services start opensearch
--secure` prints it): every search URL then goes over TLS with those credentials.  Every test
gets its own index prefix, so tests share the node without seeing each other's events, and its
indices and templates are deleted afterwards.  `Proxy` stands between a test and the node, so a
test can take "OpenSearch" down and bring it back without touching the shared node.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from opensearchpy import NotFoundError

from abstractions.gateway import DataGateway
from abstractions.namespaces import Namespaces
from abstractions.tokens import PageTokens
from backends.search import OpenSearchIndex, open_search_index
from tests.conftest import CASSANDRA, make_store

OPENSEARCH = os.environ.get("SUBGRAPH_TEST_OPENSEARCH")  # e.g. "http://127.0.0.1:9200"

needs_opensearch = pytest.mark.skipif(
    not OPENSEARCH,
    reason="needs an OpenSearch node: set SUBGRAPH_TEST_OPENSEARCH=http://host:port"
           " (make test does)",
)
opensearch = [pytest.mark.opensearch, needs_opensearch]


def _cassandra_backend() -> bool:
    if not CASSANDRA:
        return False
    try:
        from backends.cassandra import CassandraStore  # noqa: F401
    except ImportError:
        return False
    return True


SETUPS = [
    pytest.param("sqlite-own", id="sqlite-own"),
    pytest.param("opensearch+sqlite", id="opensearch+sqlite", marks=opensearch),
] + ([pytest.param("opensearch+cassandra", id="opensearch+cassandra",
                   marks=[*opensearch, pytest.mark.cassandra])]
     if _cassandra_backend() else [])


def node_address() -> tuple[str, int]:
    parts = urlsplit(OPENSEARCH or "http://127.0.0.1:9200")
    return parts.hostname or "127.0.0.1", parts.port or 9200


def node_access() -> tuple[str, str, dict[str, str]]:
    """Scheme, credentials (``user:password@`` or empty) and options (``ca``) of the test node."""
    parts = urlsplit(OPENSEARCH or "http://127.0.0.1:9200")
    scheme = "opensearchs" if parts.scheme in ("https", "opensearchs") else "opensearch"
    userinfo = parts.netloc.rpartition("@")[0]
    return scheme, f"{userinfo}@" if userinfo else "", dict(parse_qsl(parts.query))


def search_url(prefix: str, *, host: str | None = None, port: int | None = None,
               **options: object) -> str:
    """The URL of the test node (or of `host:port`) with this test's index prefix."""
    node_host, node_port = node_address()
    scheme, credentials, node_options = node_access()
    merged = {"prefix": prefix, "replicas": 0, **node_options, **options}
    query = "&".join(f"{k}={v}" for k, v in merged.items())
    return f"{scheme}://{credentials}{host or node_host}:{port or node_port}?{query}"


@pytest.fixture
def prefix(uid: str) -> str:
    """This test's index prefix (indices `<prefix><namespace>-<slice>`)."""
    return f"{uid}-"


@pytest.fixture
async def cleanup(prefix: str) -> AsyncIterator[None]:
    """Delete the indices and templates of this test's prefix afterwards."""
    yield
    if not OPENSEARCH:
        return
    index = open_search_index(search_url(prefix))
    await index.open()
    client = index._client
    assert client is not None
    try:
        await client.indices.delete(index=f"{prefix}*", ignore_unavailable=True,
                                    allow_no_indices=True)
        with contextlib.suppress(NotFoundError):
            await client.indices.delete_index_template(name=f"{prefix}*")
    finally:
        await index.close()


@dataclass
class Searching:
    """A started gateway whose search is served one way, and what tests need to drive it."""

    setup: str
    gateway: DataGateway
    index: OpenSearchIndex | None

    async def settle(self, namespace: str) -> None:
        """Make what was indexed searchable now (OpenSearch refreshes every second)."""
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
    index = open_search_index(search_url(prefix)) if setup.startswith("opensearch") else None
    gateway = DataGateway(store, namespaces, search_index=index, page_tokens=PageTokens(b"test"))
    await gateway.start(background=False)
    try:
        yield Searching(setup, gateway, index)
    finally:
        await gateway.stop()


class Proxy:
    """A TCP proxy to the OpenSearch node that a test can stop (refused), hang, and restart."""

    def __init__(self) -> None:
        self.target = node_address()
        self.port = 0
        self.hang = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
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
            await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
        except OSError:
            pass
        finally:
            for w in (writer, upstream):
                if w is not None:
                    self._writers.discard(w)
                    w.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    """A running proxy to the node; stopped after the test."""
    p = Proxy()
    await p.start()
    try:
        yield p
    finally:
        await p.stop()
