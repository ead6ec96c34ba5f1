"""Tracing: a request continues its router's trace, with spans for the operation, each
dataloader batch and each store call beneath it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from abstractions.gateway import DataGateway
from abstractions.timeseries import Event
from abstractions.tokens import now_micros
from backends.base import StoreUnavailable
from subgraph.app import Settings, create_app
from subgraph.limits import Limits
from subgraph.tracing import enabled

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
QUERY = """query History($reps: [_Any!]!) { _entities(representations: $reps) {
  ... on Profile { viewingHistory(first: 1) { edges { node { id } } } playCount { count } } } }"""
BACKGROUND = {"apply_retention", "rollup", "collect_garbage", "flush", "forget"}


@pytest.fixture
def exporter() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_a_request_with_a_traceparent_is_one_trace_of_operation_batches_and_store_calls(
    db_path: Path, data_gateway: DataGateway, limits: Limits,
    exporter: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, spans = exporter
    app = create_app(Settings(f"sqlite:///{db_path}"), gateway=data_gateway, limits=limits,
                     tracer_provider=provider)
    reps = [{"__typename": "Profile", "id": p} for p in ("p1", "p2")]
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http,
    ):
        now = now_micros()
        await data_gateway.timeseries.write_events("viewing_history", [
            Event(p, now - 1000, f"e-{p}", {"title_id": b"t1"}) for p in ("p1", "p2")
        ])
        spans.clear()
        response = await http.post(
            "/graphql", json={"query": QUERY, "variables": {"reps": reps}},
            headers={"traceparent": f"00-{TRACE}-{PARENT}-01"},
        )
        assert response.status_code == 200 and "errors" not in response.json(), response.text

    finished = spans.get_finished_spans()
    ours = [s for s in finished if format(s.context.trace_id, "032x") == TRACE]
    others = [s for s in finished if s not in ours]
    # Work of no request (rollups, retention) is traced on its own; nothing of the request is.
    assert all(s.name.split(".")[-1] in BACKGROUND for s in others), [s.name for s in others]

    [server] = [s for s in ours if s.kind == SpanKind.SERVER]
    assert server.name == "POST /graphql"
    assert server.parent is not None and server.parent.is_remote
    assert server.parent.span_id == int(PARENT, 16)
    ids = {s.context.span_id for s in ours}
    assert all(parent_id(s) in ids for s in ours if s is not server), "one tree"

    [operation] = [s for s in ours if s.name == "query History"]
    assert parent_id(operation) == server.context.span_id
    assert operation.attributes["graphql.operation.name"] == "History"
    batches = {s.name: s for s in ours if s.name.startswith("dataloader ")}
    assert set(batches) == {"dataloader series", "dataloader counts"}
    for batch in batches.values():
        assert parent_id(batch) == operation.context.span_id
        assert batch.attributes["subgraph.dataloader.batch_size"] == 2
    stores = [s for s in ours if s.name.startswith("store ")]
    assert {s.name for s in stores} >= {
        "store timeseries.read_events_many", "store counter.get",
    }
    for store in stores:
        assert store.kind == SpanKind.CLIENT
        assert store.attributes["db.system.name"] == "sqlite"
        assert parent_id(store) in {b.context.span_id for b in batches.values()}


async def test_a_failing_store_call_marks_its_span_with_the_stores_error(
    db_path: Path, data_gateway: DataGateway, limits: Limits,
    exporter: tuple[TracerProvider, InMemorySpanExporter], monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def down(*args: object) -> None:
        raise StoreUnavailable("no node")

    provider, spans = exporter
    app = create_app(Settings(f"sqlite:///{db_path}"), gateway=data_gateway, limits=limits,
                     tracer_provider=provider)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http,
    ):
        monkeypatch.setattr(data_gateway.store, "counter_values", down)
        response = await http.post("/graphql", json={
            "query": '{ counter(namespace: "page_views", name: "x") { count } }'})
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"

    [store] = [s for s in spans.get_finished_spans() if s.name == "store counter.get"]
    assert not store.status.is_ok
    [event] = store.events
    assert event.attributes["exception.type"].endswith("StoreUnavailable")


def test_tracing_is_on_only_with_an_otlp_endpoint() -> None:
    assert not enabled({})
    assert enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert enabled({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
    assert not enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                        "OTEL_SDK_DISABLED": "true"})
