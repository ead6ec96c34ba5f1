"""/metrics: what operators ask of a subgraph, in prometheus_client's exposition."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from abstractions.errors import Overloaded
from abstractions.gateway import DataGateway
from abstractions.timeseries import Event
from abstractions.tokens import IdempotencyToken, now_micros
from backends.base import StoreUnavailable
from subgraph.metrics import MAX_OPERATION_NAMES, OTHER, Metrics

from .conftest import GraphQLClient

COUNTER = 'query Plays { counter(namespace: "page_views", name: "x") { count } }'


async def scrape(client: GraphQLClient) -> str:
    response = await client.http.get("/metrics")
    assert response.status_code == 200
    return response.text


def value(text: str, name: str, **labels: str) -> float | None:
    """The sample `name` with exactly these labels, None when there is none."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_requests_are_timed_by_operation_type_and_name(client: GraphQLClient) -> None:
    await client.data(COUNTER)
    await client.data(COUNTER)
    await client.data('mutation { clearCount(input: {namespace: "page_views", name: "x", '
                      'idempotencyKey: "k"}) { count } }')
    await client.http.post("/graphql", content=b"{}", headers={"content-type": "text/plain"})
    text = await scrape(client)
    count = "subgraph_request_duration_seconds_count"
    assert value(text, count, operation_type="query", operation_name="Plays") == 2
    assert value(text, count, operation_type="mutation", operation_name="") == 1
    assert value(text, count, operation_type="none", operation_name="") == 1
    assert value(text, "subgraph_request_duration_seconds_sum", operation_type="query",
                 operation_name="Plays") > 0


async def test_errors_are_counted_by_their_extensions_code(client: GraphQLClient) -> None:
    await client.errors('{ counter(namespace: "nope", name: "x") { count } }')
    await client.errors('{ counter(namespace: "nope", name: "x") { count } }')
    await client.http.post("/graphql", content=b"{}", headers={
        "content-type": "text/plain", "apollo-require-preflight": "true"})
    await client.http.post("/graphql", content=b"{}", headers={"content-type": "text/plain"})
    await client.errors("{ nothing }")
    text = await scrape(client)
    assert value(text, "subgraph_graphql_errors_total", code="BAD_USER_INPUT") == 2
    assert value(text, "subgraph_graphql_errors_total", code="UNSUPPORTED_MEDIA_TYPE") == 1
    assert value(text, "subgraph_graphql_errors_total", code="BAD_REQUEST") == 1  # CSRF
    assert value(text, "subgraph_graphql_errors_total", code="GRAPHQL_VALIDATION_FAILED") == 1


async def test_store_calls_are_timed_by_abstraction_operation_and_backend(
    client: GraphQLClient,
) -> None:
    await client.data(COUNTER)
    await client.data('{ kvRecord(namespace: "profile_settings", id: "r") '
                      '{ items { edges { cursor } } } }')
    text = await scrape(client)
    name = "subgraph_store_call_duration_seconds_count"
    assert value(text, name, abstraction="counter", operation="get", backend="sqlite") >= 1
    assert value(text, name, abstraction="kv", operation="get_items_many", backend="sqlite") >= 1


async def test_dataloader_batch_sizes_are_counted(client: GraphQLClient) -> None:
    query = """query ($reps: [_Any!]!) { _entities(representations: $reps) {
      ... on Profile { playCount { count } } } }"""
    reps = [{"__typename": "Profile", "id": f"p{i}"} for i in range(10)]
    await client.data(query, {"reps": reps})
    text = await scrape(client)
    assert value(text, "subgraph_dataloader_batch_size_count", loader="counts") == 1
    assert value(text, "subgraph_dataloader_batch_size_sum", loader="counts") == 10


async def test_requests_in_flight_are_counted_while_they_run(
    client: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = asyncio.Event()
    get_many = client.gateway.counters.get_many

    async def held(*args: Any, **kwargs: Any) -> Any:
        await release.wait()
        return await get_many(*args, **kwargs)

    monkeypatch.setattr(client.gateway.counters, "get_many", held)
    request = asyncio.create_task(client.data(COUNTER))

    async def in_flight(n: float) -> bool:
        return value(await scrape(client), "subgraph_requests_in_flight") == n

    await until(lambda: in_flight(1))
    release.set()
    await request
    assert await in_flight(0)


def events(n: int, prefix: str) -> list[Event]:
    now = now_micros()
    return [Event("s", now - i, f"{prefix}{i}", {"kind": b"k"}) for i in range(n)]


async def test_buffered_events_and_those_refused_when_the_buffer_is_full_are_shown(
    client: GraphQLClient, data_gateway: DataGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = asyncio.Event()
    write = data_gateway.store.ts_write

    async def held(*args: Any) -> None:
        await release.wait()
        await write(*args)

    monkeypatch.setattr(data_gateway.store, "ts_write", held)
    ts = data_gateway.timeseries
    await ts.write_events_async("events_short", events(25, "a"))  # 10 go to a held flush

    async def buffered(n: float) -> bool:
        text = await scrape(client)
        return value(text, "subgraph_write_buffer_events", namespace="events_short") == n

    await until(lambda: buffered(15))
    with pytest.raises(Overloaded):  # capacity 100
        await ts.write_events_async("events_short", events(90, "b"))
    text = await scrape(client)
    drops = "subgraph_write_buffer_dropped_events_total"
    assert value(text, drops, namespace="events_short", reason="full") == 90
    release.set()
    await until(lambda: buffered(0))


async def test_buffered_events_lost_after_their_retries_are_counted(
    client: GraphQLClient, data_gateway: DataGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(*args: Any) -> None:
        raise StoreUnavailable("no node")

    monkeypatch.setattr(data_gateway.store, "ts_write", down)
    await data_gateway.timeseries.write_events_async("events_short", events(10, "c"))

    async def lost() -> bool:
        text = await scrape(client)
        return value(text, "subgraph_write_buffer_dropped_events_total",
                     namespace="events_short", reason="lost") == 10

    await until(lost)
    text = await scrape(client)
    assert value(text, "subgraph_abstraction_events_total", event="timeseries_dropped_events",
                 namespace="events_short") == 10


async def test_rollup_lag_grows_while_a_counter_waits_and_falls_once_rolled_up(
    client: GraphQLClient, data_gateway: DataGateway
) -> None:
    await data_gateway.counters.add("counter_eventual_fast", "c", 1, IdempotencyToken.new())
    await asyncio.sleep(0.05)
    lag = value(await scrape(client), "subgraph_counter_rollup_lag_seconds",
                namespace="counter_eventual_fast")
    assert lag is not None and lag >= 0.05

    async def caught_up() -> bool:
        return value(await scrape(client), "subgraph_counter_rollup_lag_seconds",
                     namespace="counter_eventual_fast") == 0

    await until(caught_up)  # the accept window (0.2 s), the skew, a rollup pass


def test_operation_names_past_the_limit_share_one_label() -> None:
    metrics = Metrics()
    names = [metrics.operation_name(f"Op{i}") for i in range(MAX_OPERATION_NAMES + 5)]
    assert names[:MAX_OPERATION_NAMES] == [f"Op{i}" for i in range(MAX_OPERATION_NAMES)]
    assert set(names[MAX_OPERATION_NAMES:]) == {OTHER}
    assert metrics.operation_name("Op0") == "Op0"  # a name seen before keeps its label
    assert metrics.operation_name(None) == ""
