"""One request through a real Apollo Gateway is one trace in the subgraph: the gateway forwards
the caller's `traceparent`, and the subgraph exports its spans over OTLP/HTTP to a collector
(here, a small one in the test that decodes what it receives)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.federation.conftest import BASE_NAMESPACES, free_port, serving
from tests.federation.harness import post_graphql, run_gateway

pytestmark = pytest.mark.federation

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
ACROSS = """query Across { profile(id: "p1") { name playCount { count }
  viewingHistory(first: 5) { edges { node { device title { id name playCount { count } } } } }
} }"""


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver on a free port: keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Receive)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def received(self) -> list[Span]:
        with self.lock:
            return list(self.spans)


class _Receive(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        request = ExportTraceServiceRequest.FromString(body)
        with self.server.lock:
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    self.server.spans.extend(scope.spans)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def traced_subgraph(collector: Collector, tmp_path: Path) -> Iterator[str]:
    """`serve --demo` over SQLite, exporting its spans to `collector`."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUBGRAPH_", "OTEL_"))}
    env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    url = f"http://127.0.0.1:{port}"
    args = ["--port", str(port), "--demo", "--store", f"sqlite:///{tmp_path}/gateway.db",
            "--namespaces", str(BASE_NAMESPACES)]
    with serving(args, env, url, tmp_path / "serve.log", deadline_seconds=60):
        yield f"{url}/graphql"


def test_a_request_through_the_gateway_is_one_trace_in_the_subgraph(
    node_tooling: None, collector: Collector, traced_subgraph: str
) -> None:
    with run_gateway(traced_subgraph) as gateway:
        asked = time.time_ns()
        answer = post_graphql(gateway, ACROSS,
                              headers={"traceparent": f"00-{TRACE}-{CLIENT_SPAN}-01"})
    assert "errors" not in answer, answer
    assert answer["data"]["profile"]["viewingHistory"]["edges"]

    def ours() -> list[Span]:
        return [s for s in collector.received() if s.trace_id.hex() == TRACE]

    deadline = time.monotonic() + 15  # the SDK sends its batches every 100 ms
    while not any(s.name.startswith("store ") for s in ours()):
        assert time.monotonic() < deadline, [s.name for s in collector.received()]
        time.sleep(0.1)
    time.sleep(0.5)  # whatever else of the request is still on its way

    spans = ours()
    servers = [s for s in spans if s.kind == Span.SPAN_KIND_SERVER]
    # The gateway asks our subgraph once or more per query plan; each answer continues the
    # caller's trace from the span the caller named.
    assert servers and all(s.parent_span_id.hex() == CLIENT_SPAN for s in servers)
    ids = {s.span_id for s in spans}
    assert all(s.parent_span_id in ids for s in spans if s not in servers), "one tree"
    operations = [s for s in spans if s.name.startswith("query")]
    assert operations and {s.parent_span_id for s in operations} <= {s.span_id for s in servers}
    batches = [s for s in spans if s.name.startswith("dataloader ")]
    assert batches and {s.parent_span_id for s in batches} <= {s.span_id for s in operations}
    stores = [s for s in spans if s.name.startswith("store ")]
    assert {s.parent_span_id for s in stores} <= {s.span_id for s in batches}
    # Nothing of the request landed in another trace: what else ran meanwhile is background
    # work (rollups, retention), each store call a trace of its own.
    others = [s for s in collector.received()
              if s.trace_id.hex() != TRACE and s.start_time_unix_nano >= asked]
    assert all(s.name.startswith("store ") and not s.parent_span_id for s in others), [
        s.name for s in others]
