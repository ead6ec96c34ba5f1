"""Tracing with the OpenTelemetry SDK, on when an OTLP endpoint is configured.

The standard variables decide: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) turns tracing on and names the collector (OTLP over HTTP,
protobuf); `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`,
`OTEL_EXPORTER_OTLP_HEADERS`, ... are read by the SDK; `OTEL_SDK_DISABLED=true` turns it off.
Without an endpoint no span is made and nothing is sent.

With tracing on, a request continues the W3C `traceparent` its router sent (the ASGI
instrumentation makes the server span), and the subgraph adds spans for the operation, each
dataloader batch and each store call (`subgraph.telemetry`); on Cassandra the driver's
instrumentation adds a span per statement sent (its statement text is not recorded: bound
values could be private).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SERVICE_NAME = "data-gateway-subgraph"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

_TRACE_CONTEXT = TraceContextTextMapPropagator()


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces to be exported."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def provider_from_env() -> TracerProvider | None:
    """A tracer provider exporting over OTLP/HTTP as the environment says, installed as the
    global one; None when tracing is off."""
    if not enabled():
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", "")
    resource = Resource.create({} if named else {"service.name": SERVICE_NAME})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def instrument_cassandra(provider: TracerProvider) -> None:
    """Spans for the Cassandra driver's statements (process-wide, once)."""
    from opentelemetry.instrumentation.cassandra import CassandraInstrumentor

    instrumentor = CassandraInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)


def trace_id(headers: Mapping[str, str]) -> str | None:
    """The id of the trace a request belongs to: its current span's (tracing on), else the one
    its `traceparent` header names, else None."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid and "traceparent" in headers:
        extracted = _TRACE_CONTEXT.extract({"traceparent": headers["traceparent"]})
        context = trace.get_current_span(extracted).get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
