"""The HTTP app: health, readiness, metrics, GraphiQL, and a shutdown that loses no write."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from abstractions.gateway import DataGateway
from abstractions.namespaces import TimeSeriesNamespace
from backends.base import StoreUnavailable
from subgraph.app import Settings, create_app
from subgraph.limits import Limits

from .conftest import GraphQLClient, new_gateway


async def test_healthz_answers_ok(client: GraphQLClient) -> None:
    response = await client.http.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok\n"


async def test_readyz_is_ready_while_the_store_answers(client: GraphQLClient) -> None:
    response = await client.http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_readyz_is_503_when_the_store_ping_fails(
    client: GraphQLClient, data_gateway: DataGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down() -> None:
        raise StoreUnavailable("no route to host")

    monkeypatch.setattr(data_gateway.store, "ping", down)
    response = await client.http.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


def call_metric(text: str, abstraction: str, operation: str) -> int:
    match = re.search(
        rf'^subgraph_abstraction_calls_total\{{abstraction="{abstraction}",'
        rf'operation="{operation}"\}} ([0-9.e+]+)$',
        text, re.MULTILINE,
    )
    return int(float(match.group(1))) if match else 0


async def test_metrics_count_abstraction_calls_in_prometheus_text(
    client: GraphQLClient,
) -> None:
    query = '{ counter(namespace: "page_views", name: "x") { count } }'
    await client.data(query)
    first = await client.http.get("/metrics")
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/plain")
    assert "# TYPE subgraph_abstraction_calls_total counter" in first.text
    before = call_metric(first.text, "counter", "get_many")
    assert before >= 1

    await client.data(query)
    await client.data(query)
    after = (await client.http.get("/metrics")).text
    assert call_metric(after, "counter", "get_many") == before + 2
    families = {f.name: f for f in text_string_to_metric_families(after)}
    assert families["subgraph_abstraction_calls"].type == "counter"


async def test_get_graphql_from_a_browser_serves_graphiql(client: GraphQLClient) -> None:
    response = await client.http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_fire_and_forget_writes_are_flushed_when_the_app_shuts_down(
    tmp_path: Path,
) -> None:
    # A buffer that would not flush on its own for a minute: only shutdown can write it.
    slow = TimeSeriesNamespace(
        name="events_buffered", flush_interval_seconds=60.0, flush_batch_size=1000,
    )
    db = tmp_path / "shutdown.db"
    gateway = new_gateway(db, slow)
    app = create_app(Settings(store_url=f"sqlite:///{db}"), gateway=gateway, limits=Limits())
    events = [{"seriesId": "s", "eventId": f"e{i}", "items": [{"key": "n", "text": str(i)}]}
              for i in range(25)]
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http,
    ):
        client = GraphQLClient(http, gateway)
        data = await client.data(
            "mutation ($e: [EventInput!]!) { writeEvents(input: {namespace: \"events_buffered\","
            " events: $e, mode: FIRE_AND_FORGET, idempotencyKey: \"k\"}) { accepted } }",
            {"e": events},
        )
        assert data["writeEvents"] == {"accepted": 25}
        unflushed = await gateway.timeseries.read_events("events_buffered", "s", limit=100)
        assert unflushed.events == []

    reopened = new_gateway(db, slow)
    await reopened.start(background=False)
    try:
        page = await reopened.timeseries.read_events("events_buffered", "s", limit=100)
    finally:
        await reopened.stop()
    assert sorted(e.event_id for e in page.events) == sorted(f"e{i}" for i in range(25))
