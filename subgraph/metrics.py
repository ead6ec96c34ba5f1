"""The subgraph's Prometheus metrics (`prometheus_client`), served at /metrics.

One registry per app.  Under `serve --workers N` each worker writes its values to files in
`$PROMETHEUS_MULTIPROC_DIR` (the CLI makes that folder), and /metrics, whichever worker answers,
adds up every worker's (`MultiProcessCollector`).  The gauges that describe a worker's state
(requests in flight, buffered events) are summed over the live workers; rollup lag takes the
largest.

The families are listed in README "Metrics".
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

if TYPE_CHECKING:
    from abstractions.gateway import DataGateway
    from abstractions.metrics import EventCounter

disable_created_metrics()  # one series per counter, not two (`_created` is rarely wanted)

# The text format generate_latest writes (named here: prometheus-client 0.20 has no constant).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Seconds: from a cached SQLite read (well under a millisecond) to the request deadline.
DURATION_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
# Operation names come from clients: past this many distinct ones a process labels the rest
# "(other)", so a client cannot grow the series without bound.
MAX_OPERATION_NAMES = 200
OTHER = "(other)"
# Events of `EventCounter` that are also buffer drops, and the `reason` they get.
_DROPS = {"timeseries_dropped_events": "lost", "timeseries_buffer_rejected_events": "full"}
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


def multiprocess_dir() -> str | None:
    """The folder where workers share their metrics, when serving with several."""
    return os.environ.get(MULTIPROC_DIR) or None


class Metrics:
    """The metric families of one app; `watch` connects a gateway (and an authenticator's
    outcomes) to them, `render` is the /metrics body."""

    def __init__(self, *, authentication: Iterable[str] | None = None) -> None:
        """`authentication`: every outcome of a token check (counted from 0), None when
        authentication is off (then the family is not exported)."""
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.calls = Counter(
            "subgraph_abstraction_calls", "Calls into the data abstractions' APIs.",
            ["abstraction", "operation"], registry=registry,
        )
        self.events = Counter(
            "subgraph_abstraction_events", "Background events: flushes, drops, retries.",
            ["event", "namespace"], registry=registry,
        )
        self.decisions = Counter(
            "subgraph_access_decisions",
            "Access decisions: may this caller read or write this namespace's data.",
            ["namespace", "operation", "result"], registry=registry,
        )
        self.authentication: Counter | None = None
        if authentication is not None:
            self.authentication = Counter(
                "subgraph_authentication", "Requests by the outcome of their token check.",
                ["result"], registry=registry,
            )
            for outcome in authentication:
                self.authentication.labels(outcome)
        self.requests = Histogram(
            "subgraph_request_duration_seconds",
            "GraphQL requests by operation: seconds from the request's arrival to its answer"
            " (operation_type none: refused before an operation could run).",
            ["operation_type", "operation_name"], buckets=DURATION_BUCKETS, registry=registry,
        )
        self.errors = Counter(
            "subgraph_graphql_errors", "Errors in GraphQL responses, by extensions.code.",
            ["code"], registry=registry,
        )
        self.in_flight = Gauge(
            "subgraph_requests_in_flight", "GraphQL requests being served.",
            registry=registry, multiprocess_mode="livesum",
        )
        self.store_calls = Histogram(
            "subgraph_store_call_duration_seconds",
            "Store calls the abstractions make, by abstraction, operation and backend.",
            ["abstraction", "operation", "backend"], buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.batches = Histogram(
            "subgraph_dataloader_batch_size", "Keys per dataloader batch.",
            ["loader"], buckets=BATCH_BUCKETS, registry=registry,
        )
        self.buffered = Gauge(
            "subgraph_write_buffer_events",
            "Fire-and-forget events accepted and not yet written, per namespace.",
            ["namespace"], registry=registry, multiprocess_mode="livesum",
        )
        self.buffer_drops = Counter(
            "subgraph_write_buffer_dropped_events",
            "Fire-and-forget events not written: refused because the buffer was full (full), or"
            " accepted and given up after their retries (lost).",
            ["namespace", "reason"], registry=registry,
        )
        self.rollup_lag = Gauge(
            "subgraph_counter_rollup_lag_seconds",
            "Per counter namespace, how long its longest-queued counter has waited for a rollup.",
            ["namespace"], registry=registry, multiprocess_mode="livemax",
        )
        self.cache = Counter(
            "subgraph_cache_events",
            "The look-aside cache, per namespace: hit, miss, error (a cache call failed),"
            " fall_through (a read that went to the store because the cache failed),"
            " not_cached (a page too large, chunked or with a TTL item).",
            ["namespace", "event"], registry=registry,
        )
        self.cache_evictions = Gauge(
            "subgraph_cache_evictions",
            "Entries the cache engine pushed out for room, as it last reported: per namespace"
            " for the in-process LRU, under namespace \"\" for memcached (its servers count"
            " per server).",
            ["engine", "namespace"], registry=registry, multiprocess_mode="livemax",
        )
        self._names: set[str] = set()
        self._unsubscribe: list[Callable[[], None]] = []

    def watch(self, gateway: DataGateway, authentication: EventCounter | None = None) -> None:
        """Count what `gateway` (and `authentication`, the outcomes) counted so far, and from
        now on."""
        calls, events, decisions = self.calls, self.events, self.decisions

        def on_event(name: str, n: int) -> None:
            event, _, namespace = name.partition(":")
            events.labels(event, namespace).inc(n)
            reason = _DROPS.get(event)
            if reason is not None:
                self.buffer_drops.labels(namespace, reason).inc(n)

        self._unsubscribe += [
            gateway.calls.subscribe(_counting(calls)),
            gateway.events.subscribe(on_event),
            gateway.access.decisions.subscribe(_counting(decisions)),
            gateway.cache_stats.subscribe(_counting(self.cache)),
        ]
        if authentication is not None and self.authentication is not None:
            counter = self.authentication
            self._unsubscribe.append(
                authentication.subscribe(lambda outcome, n: counter.labels(outcome).inc(n))
            )

    def close(self) -> None:
        """Stop counting what `watch` connected."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    def sample(self, gateway: DataGateway) -> None:
        """Set the gauges that describe the gateway's state now."""
        for namespace, events in gateway.timeseries.buffered().items():
            self.buffered.labels(namespace).set(events)
        for namespace, seconds in gateway.counters.rollup_lag().items():
            self.rollup_lag.labels(namespace).set(seconds)
        if gateway.cache is not None:
            engine = gateway.cache.backend
            for namespace, evicted in gateway.cache.evictions().items():
                self.cache_evictions.labels(engine, namespace).set(evicted)

    def operation_name(self, name: str | None) -> str:
        """The `operation_name` label of an operation: bounded (see MAX_OPERATION_NAMES)."""
        if not name:
            return ""
        if name in self._names:
            return name
        if len(self._names) >= MAX_OPERATION_NAMES or not _NAME.fullmatch(name):
            return OTHER
        self._names.add(name)
        return name

    def observe_request(
        self, operation_type: str, operation_name: str, seconds: float, codes: Mapping[str, int]
    ) -> None:
        self.requests.labels(operation_type, operation_name).observe(seconds)
        for code, n in codes.items():
            self.errors.labels(code).inc(n)

    def render(self) -> bytes:
        """The text exposition: this process's metrics, or every worker's when they share a
        folder."""
        if multiprocess_dir() is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)


def _counting(counter: Counter) -> Callable[[tuple[str, ...], int], None]:
    """A listener adding to `counter`'s child of the labels it is told (children kept: a
    lookup by labels costs more than the increment)."""
    children: dict[tuple[str, ...], Counter] = {}

    def count(labels: tuple[str, ...], n: int) -> None:
        child = children.get(labels)
        if child is None:
            child = children[labels] = counter.labels(*labels)
        child.inc(n)

    return count


def worker_stopped() -> None:
    """Drop this worker's live gauges from the shared folder (it serves no more requests)."""
    folder = multiprocess_dir()
    if folder is not None:
        multiprocess.mark_process_dead(os.getpid(), folder)
