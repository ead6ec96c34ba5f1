"""What is measured of each request, and where it goes: metrics, spans and the request's line.

`subgraph.http` begins a `RequestRecord` when a request to /graphql arrives and ends it once
the answer is sent; in between, `OperationNames` fills in the operation that ran and the view
adds the response's error codes.  Ending it observes the request's duration and errors
(`subgraph.metrics`) and writes its log line (`subgraph.logs`).

Spans, when tracing is on (`subgraph.tracing`), nest as

    POST /graphql                     the ASGI instrumentation, child of the router's traceparent
     └── query ProfileHistory         the operation (`operation`)
          └── dataloader series       one per batch (`loader_batch`)
               └── store timeseries.read_events_many   one per store call (`store_call`)

`store_call` is also the observer of the abstractions' store calls
(`abstractions.metrics.StoreCalls`), which times them for `subgraph_store_call_duration_seconds`
whether or not tracing is on.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from time import perf_counter
from types import TracebackType
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Tracer, TracerProvider
from strawberry.extensions import SchemaExtension

from .logs import requests_log
from .metrics import Metrics
from .tracing import trace_id


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass(slots=True)
class RequestRecord:
    """One request to /graphql as its log line and metrics tell it."""

    method: str
    started: float = field(default_factory=perf_counter)
    request_id: str = field(default_factory=new_request_id)
    operation_type: str = "none"  # none: no operation ran (refused, or did not validate)
    operation_name: str = ""
    status: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    refusal: str | None = None
    trace_id: str | None = None

    def add_codes(self, errors: Any) -> None:
        """Count the `extensions.code` of each error of a response."""
        for error in errors or ():
            self.codes[str((error.extensions or {}).get("code"))] += 1


class Telemetry:
    """One app's metrics and tracer; `tracer_provider` None: no spans (tracing is off)."""

    def __init__(
        self, metrics: Metrics | None = None, tracer_provider: TracerProvider | None = None
    ) -> None:
        self.metrics = metrics or Metrics()
        self.tracer: Tracer | None = (
            tracer_provider.get_tracer(__name__) if tracer_provider is not None else None
        )
        self._store_calls: dict[tuple[str, str, str], Any] = {}
        self._batches: dict[str, Any] = {}

    # --- requests ---------------------------------------------------------------------------

    def begin(self, method: str, headers: Mapping[str, str]) -> RequestRecord:
        self.metrics.in_flight.inc()
        return RequestRecord(method, trace_id=trace_id(headers))

    def end(self, record: RequestRecord) -> None:
        seconds = perf_counter() - record.started
        self.metrics.in_flight.dec()
        self.metrics.observe_request(
            record.operation_type, self.metrics.operation_name(record.operation_name), seconds,
            record.codes,
        )
        _log_request(record, seconds)

    @contextlib.contextmanager
    def operation(self) -> Iterator[Span | None]:
        """The operation's span (current while it runs), renamed by `OperationNames` once the
        operation is known."""
        if self.tracer is None:
            yield None
            return
        with self.tracer.start_as_current_span("graphql", kind=SpanKind.INTERNAL) as span:
            yield span

    # --- what requests do -------------------------------------------------------------------

    def store_call(
        self, abstraction: str, operation: str, backend: str
    ) -> AbstractContextManager[object]:
        """Time (and trace) one store call: the abstractions' `StoreCallObserver`."""
        key = (abstraction, operation, backend)
        histogram = self._store_calls.get(key)
        if histogram is None:
            histogram = self._store_calls[key] = self.metrics.store_calls.labels(*key)
        span = None
        if self.tracer is not None:
            span = self.tracer.start_as_current_span(
                f"store {abstraction}.{operation}", kind=SpanKind.CLIENT, attributes={
                    "db.system.name": backend, "subgraph.abstraction": abstraction,
                    "subgraph.operation": operation,
                },
            )
        return _Timed(histogram, span)

    def loader_batch(self, loader: str, size: int) -> AbstractContextManager[object]:
        """Count a dataloader batch's keys; its span, when tracing."""
        histogram = self._batches.get(loader)
        if histogram is None:
            histogram = self._batches[loader] = self.metrics.batches.labels(loader)
        histogram.observe(size)
        if self.tracer is None:
            return nullcontext()
        return self.tracer.start_as_current_span(
            f"dataloader {loader}", attributes={"subgraph.dataloader.batch_size": size},
        )


class _Timed:
    """A store call's duration into its histogram, inside its span (if any)."""

    __slots__ = ("_histogram", "_span", "_started")

    def __init__(self, histogram: Any, span: AbstractContextManager[object] | None) -> None:
        self._histogram = histogram
        self._span = span
        self._started = 0.0

    def __enter__(self) -> None:
        if self._span is not None:
            self._span.__enter__()
        self._started = perf_counter()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        self._histogram.observe(perf_counter() - self._started)
        if self._span is not None:
            self._span.__exit__(kind, exc, tb)
        return False


class OperationNames(SchemaExtension):
    """Tells the request's record (and span) which operation runs, once it validated."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        record = getattr(context.context, "record", None)
        name = context.operation_name or ""
        kind = context.operation_type.value
        if record is not None:
            record.operation_type, record.operation_name = kind, name
        span = trace.get_current_span()
        if span.is_recording():
            span.update_name(f"{kind} {name}" if name else kind)
            span.set_attribute("graphql.operation.type", kind)
            if name:
                span.set_attribute("graphql.operation.name", name)
        yield


def _log_request(record: RequestRecord, seconds: float) -> None:
    if not requests_log.isEnabledFor(logging.INFO):
        return
    operation = " ".join(filter(None, (record.operation_type, record.operation_name)))
    codes = ", ".join(
        f"{code} x{n}" if n > 1 else code for code, n in sorted(record.codes.items())
    )
    details = f"request {record.request_id}"
    if record.trace_id:
        details += f", trace {record.trace_id}"
    text = f"{record.method} {operation} {record.status} in {seconds * 1000:.1f} ms ({details})"
    if codes:
        text += f": {codes}"
    if record.refusal:
        text += f" ({record.refusal})"
    fields: dict[str, object] = {
        "method": record.method,
        "operation_type": record.operation_type,
        "operation_name": record.operation_name or None,
        "status": record.status,
        "duration_ms": round(seconds * 1000, 3),
        "request_id": record.request_id,
        "trace_id": record.trace_id,
        "error_codes": sorted(record.codes),
    }
    if record.refusal:
        fields["refusal"] = record.refusal
    requests_log.info("%s", text, extra={"request": fields})
