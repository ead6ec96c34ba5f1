"""Search clusters for real, each engine whose node runs (OpenSearch, Elasticsearch): slice
indices and retention, reindex, and a cluster that is down.

Uses `events_short` from tests/namespaces.toml (60 s slices, about 2 minutes of retention, a
30 s accept window): events older than the accept window are written straight through the
store and index APIs, as the service would have written them earlier.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from abstractions.errors import Unavailable
from abstractions.gateway import DataGateway
from abstractions.namespaces import Namespaces, TimeSeriesNamespace
from abstractions.timeseries import Event
from abstractions.tokens import PageTokens, now_micros
from backends.base import Condition, EventQuery, StoreError, StoreTimeout
from backends.search import ClusterIndex, bodies, open_search_index
from backends.sqlite import SQLiteStore
from subgraph.app import Settings, create_app
from subgraph.idempotency import DEFAULT_NAMESPACE
from subgraph.reindex import reindex
from tests.conftest import TEST_NAMESPACES

from .conftest import Proxy
from .nodes import needs, search_url

NS = "events_short"
SECOND = 1_000_000
REPO = Path(__file__).resolve().parents[2]


def gateway_over(db: Path, namespaces: Namespaces, url: str) -> DataGateway:
    return DataGateway(SQLiteStore(db), namespaces.with_overrides(DEFAULT_NAMESPACE),
                       search_index=open_search_index(url), page_tokens=PageTokens(b"test"))


@asynccontextmanager
async def started(gateway: DataGateway) -> AsyncIterator[DataGateway]:
    await gateway.start(background=False)
    try:
        yield gateway
    finally:
        await gateway.stop()


def index_of(gateway: DataGateway) -> ClusterIndex:
    assert isinstance(gateway.search_index, ClusterIndex)
    return gateway.search_index


def events_at(uid: str, *times: int, kind: bytes = b"click") -> list[Event]:
    return [Event(f"{uid}-s{i % 2}", t, f"e{i}", {"kind": kind, "score": str(i).encode()})
            for i, t in enumerate(times)]


def newest_first(events: list[Event]) -> list[tuple[int, str, str]]:
    return sorted(((e.event_time, e.event_id, e.series_id) for e in events), reverse=True)


def keys(events: list[Event]) -> list[tuple[int, str, str]]:
    return [(e.event_time, e.event_id, e.series_id) for e in events]


async def write_old(gateway: DataGateway, events: list[Event]) -> None:
    """Write events older than the accept window, as the service would have written them."""
    ns = gateway.namespaces.get(NS, TimeSeriesNamespace)
    await gateway.store.ts_write(NS, ns.layout, events)
    await index_of(gateway).index_events(NS, ns.layout, ns.search_fields, events)


async def test_each_slice_gets_its_own_index_from_the_namespace_template(
    tmp_path: Path, namespaces: Namespaces, prefix: str, uid: str, cleanup: None, engine: str
) -> None:
    url = search_url(prefix, engine)
    async with started(gateway_over(tmp_path / "g.db", namespaces, url)) as gw:
        index = index_of(gw)
        layout = gw.namespaces.get(NS, TimeSeriesNamespace).layout
        now = now_micros()
        old = events_at(uid, now - 300 * SECOND, now - 600 * SECOND)
        await write_old(gw, old)
        await gw.timeseries.write_events(NS, events_at(uid, now - SECOND))
        slices = sorted({layout.slice_of(t) for t in (now - SECOND, *(e.event_time for e in old))})
        assert await index.slices(NS) == slices

        client = index._client
        assert client is not None
        name = bodies.index_name(prefix, NS, slices[0])
        mapping = index._plain(await client.indices.get_mapping(index=name))[name]["mappings"]
        assert mapping["properties"]["kw"]["properties"]["kind"]["type"] == "keyword"
        assert mapping["properties"]["num"]["properties"]["score"]["type"] == "double"
        assert mapping["properties"]["event_time"]["type"] == "long"
        assert mapping["properties"]["items"]["enabled"] is False
        settings = index._plain(await client.indices.get_settings(index=name))[name]
        settings = settings["settings"]["index"]
        assert settings["refresh_interval"] == "1000ms"
        assert settings["number_of_shards"] == "1"


async def test_retention_deletes_the_indices_of_old_slices(
    tmp_path: Path, namespaces: Namespaces, prefix: str, uid: str, cleanup: None, engine: str
) -> None:
    url = search_url(prefix, engine)
    async with started(gateway_over(tmp_path / "g.db", namespaces, url)) as gw:
        index = index_of(gw)
        layout = gw.namespaces.get(NS, TimeSeriesNamespace).layout
        now = now_micros()
        recent = events_at(uid, now - SECOND, now - 2 * SECOND)
        old = events_at(uid, now - 300 * SECOND, now - 600 * SECOND)
        await gw.timeseries.write_events(NS, recent)
        await write_old(gw, old)
        old_slices = sorted({layout.slice_of(e.event_time) for e in old})
        await index.refresh(NS)
        assert len(await gw.timeseries.aggregate_distinct(NS, "score")) == 2  # retention floor

        dropped = await gw.timeseries.apply_retention(NS)

        assert dropped[NS] == old_slices
        assert await index.slices(NS) == sorted({layout.slice_of(e.event_time) for e in recent})
        assert await gw.store.ts_slices(NS) == await index.slices(NS)
        page = await gw.timeseries.search_events(NS, [], start=now - 900 * SECOND)
        assert keys(page.events) == newest_first(recent)
        assert await gw.timeseries.apply_retention(NS) == {NS: []}


async def test_searches_see_writes_within_the_refresh_interval(
    tmp_path: Path, namespaces: Namespaces, prefix: str, uid: str, cleanup: None, engine: str
) -> None:
    url = search_url(prefix, engine)
    async with started(gateway_over(tmp_path / "g.db", namespaces, url)) as gw:
        events = events_at(uid, now_micros() - SECOND, kind=b"fresh")
        await gw.timeseries.write_events(NS, events)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0  # refresh_interval 1 s (search_refresh_seconds)
        while True:
            page = await gw.timeseries.search_events(NS, [Condition("kind", "eq", "fresh")])
            if page.events or loop.time() > deadline:
                break
            await asyncio.sleep(0.1)
        assert page.events == events


async def test_reindex_command_rebuilds_a_dropped_index(
    tmp_path: Path, namespaces: Namespaces, prefix: str, uid: str, cleanup: None, engine: str
) -> None:
    db = tmp_path / "g.db"
    url = search_url(prefix, engine)
    async with started(gateway_over(db, namespaces, url)) as gw:
        index = index_of(gw)
        now = now_micros()
        events = events_at(uid, *(now - i * 9 * SECOND for i in range(12)))  # two slices
        await write_old(gw, events)
        await index.refresh(NS)
        assert len((await gw.timeseries.search_events(NS, [], limit=50)).events) == 12
        await index.delete_slices(NS, await index.slices(NS))
        assert await index.slices(NS) == []
        assert (await gw.timeseries.search_events(NS, [], limit=50)).events == []

        since = datetime.fromtimestamp((now - 120 * SECOND) / 1e6, UTC).isoformat()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "subgraph", "reindex", NS, "--store", f"sqlite:///{db}",
            "--namespaces", str(TEST_NAMESPACES), "--search", url, "--since", since,
            cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, err.decode()
        assert out.decode().startswith(f"reindexed 12 events of {NS} from ")

        await index.refresh(NS)
        found = await gw.timeseries.search_events(NS, [], limit=50)
        assert keys(found.events) == newest_first(events)
        ns = gw.namespaces.get(NS, TimeSeriesNamespace)
        window = EventQuery(now - 120 * SECOND, now + SECOND, 51)
        own = await gw.store.search(NS, ns.layout, ns.search_fields, [], window)
        assert found.events == own  # the same answer SQLite's own search gives
        distinct = await gw.timeseries.aggregate_distinct(NS, "kind")
        assert distinct == [(b"click", 12)]


async def test_reindex_fills_a_key_declared_numeric_later(
    tmp_path: Path, namespaces: Namespaces, prefix: str, uid: str, cleanup: None, engine: str
) -> None:
    db = tmp_path / "g.db"
    declared = namespaces.get(NS, TimeSeriesNamespace)
    untyped = namespaces.with_overrides(replace(declared, search_fields={"kind": "keyword"}))
    now = now_micros()
    events = events_at(uid, *(now - i * SECOND for i in range(1, 13)))
    async with started(gateway_over(db, untyped, search_url(prefix, engine))) as gw:
        await gw.timeseries.write_events(NS, events)
    async with started(gateway_over(db, namespaces, search_url(prefix, engine))) as gw:
        index = index_of(gw)
        await index.refresh(NS)
        over_9 = [Condition("score", "gt", "9")]
        # The slice index was made when "score" was not numeric: no number to compare yet.
        assert (await gw.timeseries.search_events(NS, over_9)).events == []
        result = await reindex(gw, NS, start=now - 60 * SECOND)
        assert result.events == 12
        await index.refresh(NS)
        found = await gw.timeseries.search_events(NS, over_9)
        assert sorted(e.items["score"] for e in found.events) == [b"10", b"11"]


SEARCH = """
query($first: Int!) {
  searchEvents(namespace: "events_short",
               query: {conditions: [{key: "kind", op: EQ, text: "down"}]}, first: $first) {
    edges { node { seriesId eventId } }
  }
}
"""
WRITE = """
mutation($input: WriteEventsInput!) { writeEvents(input: $input) { accepted } }
"""


async def test_while_the_cluster_is_down_writes_succeed_and_search_is_unavailable(
    tmp_path: Path, namespaces: Namespaces, prefix: str, uid: str, proxy: Proxy, cleanup: None,
    engine: str,
) -> None:
    await proxy.stop()  # nothing listens on its port now
    db = tmp_path / "g.db"
    url = search_url(prefix, engine, host="127.0.0.1", port=proxy.port)
    gw = gateway_over(db, namespaces, url)
    app = create_app(Settings(store_url=f"sqlite:///{db}"), gateway=gw)
    async with (
        app.router.lifespan_context(app),  # starts the gateway: opening needs no cluster
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http,
    ):
        async def graphql(query: str, **variables: Any) -> dict[str, Any]:
            response = await http.post("/graphql", json={"query": query,
                                                          "variables": variables})
            assert response.status_code == 200, response.text
            return response.json()

        now = now_micros()
        events = events_at(uid, now - SECOND, now - 2 * SECOND, kind=b"down")
        await gw.timeseries.write_events(NS, events)  # the primary write stands
        written = await graphql(WRITE, input={
            "namespace": NS, "idempotencyKey": f"{uid}-w",
            "events": [{"seriesId": f"{uid}-gql", "eventId": "g1",
                        "items": [{"key": "kind", "text": "down"}]}],
        })
        assert written == {"data": {"writeEvents": {"accepted": 1}}}
        for series in (f"{uid}-s0", f"{uid}-s1", f"{uid}-gql"):
            assert len((await gw.timeseries.read_events(NS, series)).events) == 1
        counts = gw.events.snapshot()
        assert counts[f"search_index_failures:{NS}"] == 3  # events, after every attempt
        assert counts[f"search_index_retries:{NS}"] == 6  # 3 attempts for each of 2 writes

        with pytest.raises(Unavailable):
            await gw.timeseries.search_events(NS, [])
        with pytest.raises(Unavailable):
            await gw.timeseries.aggregate_distinct(NS, "kind")
        body = await graphql(SEARCH, first=10)
        assert body["data"] == {"searchEvents": None}  # the field fails, not the request
        assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAVAILABLE"]

        await proxy.start()  # the cluster is back: a reindex catches the index up
        result = await reindex(gw, NS, start=now - 60 * SECOND)
        assert result.events == 3
        await index_of(gw).refresh(NS)
        body = await graphql(SEARCH, first=10)
        assert "errors" not in body, body
        assert [(n["node"]["seriesId"], n["node"]["eventId"])
                for n in body["data"]["searchEvents"]["edges"]] == [
            (f"{uid}-gql", "g1"), (f"{uid}-s0", "e0"), (f"{uid}-s1", "e1")
        ]


async def test_a_failed_index_write_is_retried_until_the_cluster_answers(
    tmp_path: Path, namespaces: Namespaces, prefix: str, uid: str, proxy: Proxy,
    cleanup: None, engine: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    await proxy.stop()
    gw = gateway_over(tmp_path / "g.db", namespaces,
                      search_url(prefix, engine, host="127.0.0.1", port=proxy.port))
    async with started(gw):
        index = index_of(gw)
        index_events = index.index_events

        async def back_after_first_failure(*args: Any, **kwargs: Any) -> None:
            try:
                await index_events(*args, **kwargs)
            except StoreError:
                await proxy.start()
                raise

        monkeypatch.setattr(index, "index_events", back_after_first_failure)
        events = events_at(uid, now_micros() - SECOND, kind=b"retried")
        await gw.timeseries.write_events(NS, events)
        counts = gw.events.snapshot()
        assert counts.get(f"search_index_retries:{NS}") == 1
        assert f"search_index_failures:{NS}" not in counts
        await index.refresh(NS)
        page = await gw.timeseries.search_events(NS, [Condition("kind", "eq", "retried")])
        assert page.events == events


async def test_a_cluster_that_does_not_answer_times_out_as_unavailable(
    tmp_path: Path, namespaces: Namespaces, prefix: str, proxy: Proxy, cleanup: None,
    engine: str,
) -> None:
    proxy.hang = True
    url = search_url(prefix, engine, host="127.0.0.1", port=proxy.port, timeout=0.3)
    async with started(gateway_over(tmp_path / "g.db", namespaces, url)) as gw:
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(Unavailable, match="in time") as caught:
            await gw.timeseries.search_events(NS, [])
        assert isinstance(caught.value.__cause__, StoreTimeout)
        assert loop.time() - began < 3.0


@pytest.mark.parametrize("node", [pytest.param("opensearch", marks=needs("opensearch"))])
async def test_an_elasticsearch_url_at_an_opensearch_node_says_the_server_is_not_elasticsearch(
    prefix: str, node: str
) -> None:
    """The official client refuses OpenSearch: a plain error naming the mix-up (nothing to wait
    out), not an outage."""
    index = open_search_index(search_url(prefix, node).replace("opensearch", "elasticsearch", 1))
    await index.open()
    try:
        with pytest.raises(StoreError, match="the server is not Elasticsearch") as caught:
            await index.ping()
    finally:
        await index.close()
    assert type(caught.value) is StoreError
