"""Search wiring that needs no OpenSearch node: who serves search, reindex's refusals, the scan
it reads, and how client errors become store errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import elastic_transport
import pytest
from elasticsearch import UnsupportedProductError
from opensearchpy import exceptions as os_errors

from abstractions.errors import InvalidArgument, Unavailable
from abstractions.gateway import DataGateway
from abstractions.namespaces import Namespaces, TimeSeriesNamespace
from abstractions.timeseries import Event
from abstractions.tokens import PageTokens, now_micros
from backends.base import (
    EventQuery,
    SearchIndex,
    StoredEvent,
    StoreError,
    StoreTimeout,
    StoreUnavailable,
    TimeSeriesLayout,
)
from backends.search import ElasticsearchIndex, OpenSearchIndex, open_search_index
from backends.search.cluster import _chunks
from backends.search.errors import bulk_error
from backends.sqlite import SQLiteStore
from subgraph.app import Settings, open_gateway
from subgraph.reindex import ReindexError, parse_time, reindex
from tests.conftest import TEST_NAMESPACES

from .fakes import ENGINES, api_error, meta

NS = "viewing_history"


class PrimaryOnly:
    """SQLite without its search half: a store that cannot search, as Cassandra cannot."""

    def __init__(self, path: Path) -> None:
        self._db = SQLiteStore(path)

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._db.close()

    async def ts_write(
        self, namespace: str, layout: TimeSeriesLayout, events: Sequence[StoredEvent]
    ) -> None:
        await self._db.ts_write(namespace, layout, events)

    async def ts_read(self, *args: Any) -> list[StoredEvent]:
        return await self._db.ts_read(*args)


@pytest.fixture
async def primary_only(tmp_path: Path, namespaces: Namespaces) -> AsyncIterator[DataGateway]:
    store = PrimaryOnly(tmp_path / "p.db")
    assert not isinstance(store, SearchIndex)
    gateway = DataGateway(store, namespaces, page_tokens=PageTokens(b"test"))  # type: ignore[arg-type]
    await gateway.start(background=False)
    try:
        yield gateway
    finally:
        await gateway.stop()


async def test_a_store_that_cannot_search_says_search_needs_an_index(
    primary_only: DataGateway, uid: str
) -> None:
    ts = primary_only.timeseries
    await ts.write_events(NS, [Event(uid, now_micros(), "e", {"title_id": b"t"})])
    with pytest.raises(InvalidArgument, match="needs a search index; configure a search URL"):
        await ts.search_events(NS, [])
    with pytest.raises(InvalidArgument, match="needs a search index"):
        await ts.aggregate_distinct(NS, "title_id")
    assert len((await ts.read_events(NS, uid)).events) == 1


async def test_reindex_refuses_without_an_index_or_a_store_that_can_list_events(
    primary_only: DataGateway, tmp_path: Path, namespaces: Namespaces
) -> None:
    with pytest.raises(ReindexError, match="needs a search index"):
        await reindex(primary_only, NS)
    index = open_search_index("opensearch://127.0.0.1:1")
    cannot_scan = DataGateway(PrimaryOnly(tmp_path / "q.db"), namespaces,  # type: ignore[arg-type]
                              search_index=index)
    with pytest.raises(ReindexError, match="cannot list events"):
        await reindex(cannot_scan, NS)
    with_index = DataGateway(SQLiteStore(tmp_path / "r.db"),
                             namespaces.with_overrides(TimeSeriesNamespace(name="plain_events")),
                             search_index=index)
    with pytest.raises(ReindexError, match="does not have search enabled"):
        await reindex(with_index, "plain_events")
    with pytest.raises(ReindexError, match="interval is empty"):
        await reindex(with_index, NS, start=10, end=10)


async def test_sqlite_scan_yields_every_event_whole_once_in_batches(
    tmp_path: Path, namespaces: Namespaces
) -> None:
    store = SQLiteStore(tmp_path / "scan.db")
    await store.open()
    try:
        layout = namespaces.get(NS, TimeSeriesNamespace).layout
        events = [StoredEvent(f"s{i % 3}", 1_000 + i // 2, f"e{i}", {"a": b"1", "b": bytes([i])})
                  for i in range(23)]
        await store.ts_write(NS, layout, events)
        await store.ts_write("other", layout, [StoredEvent("s0", 1_005, "x", {"a": b"2"})])
        batches = [b async for b in store.ts_scan(NS, layout, 1_002, 1_010, batch=4)]
        assert all(0 < len(b) <= 4 for b in batches)
        seen = [e for b in batches for e in b]
        assert sorted(seen, key=lambda e: e.event_id) == sorted(
            (e for e in events if 1_002 <= e.event_time < 1_010), key=lambda e: e.event_id
        )
    finally:
        await store.close()


@pytest.mark.parametrize("engine", ENGINES)
async def test_an_index_opens_and_closes_while_the_cluster_is_down(
    tmp_path: Path, namespaces: Namespaces, engine: str
) -> None:
    index = open_search_index(f"{engine}://127.0.0.1:1?timeout=1")
    gateway = DataGateway(SQLiteStore(tmp_path / "g.db"), namespaces, search_index=index)
    await gateway.start(background=False)
    try:
        with pytest.raises(StoreUnavailable):
            await index.ping()
        with pytest.raises(Unavailable):
            await gateway.timeseries.search_events(NS, [])
    finally:
        await gateway.stop()
    with pytest.raises(StoreUnavailable, match="not open"):
        await index.search(NS, namespaces.get(NS, TimeSeriesNamespace).layout, {}, [],
                           EventQuery(0, 1, 1))


def test_the_app_opens_an_index_only_for_a_search_url(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'a.db'}"
    plain = open_gateway(Settings(db, str(TEST_NAMESPACES)))
    assert plain.search_index is None
    searching = open_gateway(Settings(db, str(TEST_NAMESPACES),
                                      search_url="opensearch://h:9201?prefix=x-"))
    assert isinstance(searching.search_index, OpenSearchIndex)
    assert searching.search_index.config.hosts == (("h", 9201),)


def test_the_url_scheme_chooses_the_engine_and_its_client() -> None:
    elastic = open_search_index("elasticsearchs://u:p@e1:9243,e2?prefix=x-")
    assert isinstance(elastic, ElasticsearchIndex)
    assert elastic.backend == "elasticsearch"  # the label of its metrics
    assert elastic.config.hosts == (("e1", 9243), ("e2", 9200))
    assert isinstance(open_search_index("opensearch://h"), OpenSearchIndex)
    assert type(elastic._connect()).__name__ == "AsyncElasticsearch"  # not yet sending


def _ssl_error() -> os_errors.ConnectionError:
    import ssl

    return os_errors.ConnectionError("N/A", "tls", ssl.SSLError("CERTIFICATE_VERIFY_FAILED"))


CLIENT_ERRORS = [
    ("opensearch", os_errors.ConnectionTimeout("TIMEOUT", "slow", None), StoreTimeout, ""),
    ("opensearch", TimeoutError(), StoreTimeout, ""),
    ("opensearch", os_errors.ConnectionError("N/A", "refused", None), StoreUnavailable, ""),
    ("opensearch", _ssl_error(), StoreUnavailable, "TLS failed"),
    ("opensearch", os_errors.TransportError(503, "unavailable", {}), StoreUnavailable, ""),
    ("opensearch", os_errors.TransportError(429, "too many", {}), StoreUnavailable, ""),
    ("opensearch", os_errors.TransportError(408, "timeout", {}), StoreTimeout, ""),
    ("opensearch", os_errors.AuthenticationException(401, "no", {}), StoreError,
     "login refused"),
    ("opensearch", os_errors.RequestError(400, "parsing_exception", {}), StoreError, ""),
    ("elasticsearch", elastic_transport.ConnectionTimeout("slow"), StoreTimeout, ""),
    ("elasticsearch", TimeoutError(), StoreTimeout, ""),
    ("elasticsearch", elastic_transport.ConnectionError("refused"), StoreUnavailable, ""),
    ("elasticsearch", elastic_transport.TlsError("CERTIFICATE_VERIFY_FAILED"), StoreUnavailable,
     "TLS failed"),
    ("elasticsearch", api_error("elasticsearch", 503, {}), StoreUnavailable, ""),
    ("elasticsearch", api_error("elasticsearch", 429, {}), StoreUnavailable, ""),
    ("elasticsearch", api_error("elasticsearch", 408, {}), StoreTimeout, ""),
    ("elasticsearch", api_error("elasticsearch", 401, {}), StoreError, "login refused"),
    ("elasticsearch", api_error("elasticsearch", 403, {}), StoreError, "permission denied"),
    ("elasticsearch", api_error("elasticsearch", 400, {}), StoreError, ""),
    ("elasticsearch", elastic_transport.SerializationError("bad JSON"), StoreError, ""),
]


@pytest.mark.parametrize(("engine", "error", "kind", "hint"), CLIENT_ERRORS)
async def test_client_errors_become_store_errors(
    engine: str, error: Exception, kind: type[StoreError], hint: str
) -> None:
    index = open_search_index(f"{engine}://127.0.0.1:9")
    index._client = object()

    async def failing(_client: object) -> None:
        raise error

    with pytest.raises(StoreError) as caught:
        await index._call("search", failing)
    assert type(caught.value) is kind
    assert str(caught.value).startswith(f"{index.engine} search: {hint}")
    assert caught.value.__cause__ is error


async def test_an_elasticsearch_url_at_another_engine_says_so() -> None:
    """The official client refuses a server that does not answer as Elasticsearch (OpenSearch
    does not): a plain error naming the mix-up, not an outage to wait out."""
    index = open_search_index("elasticsearch://127.0.0.1:9")
    index._client = object()
    refused = UnsupportedProductError("not Elasticsearch", meta=meta(200), body={})

    async def failing(_client: object) -> None:
        raise refused

    with pytest.raises(StoreError, match="the server is not Elasticsearch") as caught:
        await index._call("search", failing)
    assert type(caught.value) is StoreError


async def test_errors_that_are_not_the_clients_pass_through() -> None:
    index = open_search_index("elasticsearch://127.0.0.1:9")
    index._client = object()

    async def failing(_client: object) -> None:
        raise KeyError("a bug of ours")

    with pytest.raises(KeyError):
        await index._call("search", failing)


def test_a_bulk_with_rejected_actions_is_unavailable_and_other_failures_are_errors() -> None:
    assert type(bulk_error("OpenSearch", "bulk", [(400, "mapper"), (429, "queue")])) \
        is StoreUnavailable
    assert type(bulk_error("Elasticsearch", "bulk", [(400, "mapper")])) is StoreError


def test_reindex_times_are_iso_8601_utc_by_default() -> None:
    assert parse_time("1970-01-01T00:00:01Z") == 1_000_000
    assert parse_time("1970-01-01T00:00:01.5") == 1_500_000
    assert parse_time("1970-01-01T01:00:00+01:00") == 0


def test_large_writes_are_split_into_bulk_requests_of_bounded_size() -> None:
    small = [StoredEvent("s", i, "e", {"k": b"v"}) for i in range(1000)]
    assert [len(c) for c in _chunks(small, 8 * 1024 * 1024)] == [1000]
    big = [StoredEvent("s", i, "e", {"k": b"x" * 400_000}) for i in range(7)]
    chunks = _chunks(big, 8 * 1024 * 1024)
    assert [len(c) for c in chunks] == [2, 2, 2, 1]
    assert [e for c in chunks for e in c] == big
    assert [len(c) for c in _chunks(big[:1], 10)] == [1]  # one oversized event still goes
