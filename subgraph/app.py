"""The ASGI app: /graphql (POST, and GET for GraphiQL), /healthz, /readyz, /metrics.

The gateway starts with the app (store opened, rollups and buffers running) and stops with it,
flushing buffered writes, so a SIGTERM to uvicorn loses no acknowledged write.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from abstractions.gateway import DataGateway
from abstractions.namespaces import load_namespaces
from backends import open_store, redact_url

from .context import Context
from .http import GraphQLView
from .idempotency import with_idempotency_namespace
from .limits import Limits
from .schema import build_schema

log = logging.getLogger("subgraph")


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the data lives; the CLI and environment variables fill it."""

    store_url: str
    namespaces_path: str | None = None
    seed: bool = False
    search_url: str | None = None


class GraphQLApp(GraphQLView):
    """The GraphQL view (subgraph.http) with our per-request context."""

    def __init__(self, gateway_ref: dict[str, DataGateway], limits: Limits) -> None:
        super().__init__(build_schema(limits), limits)
        self._gateway_ref = gateway_ref
        self._limits = limits

    async def get_context(self, request: object, response: object) -> Context:  # type: ignore[override]
        return Context.create(self._gateway_ref["gateway"], self._limits)


def open_gateway(settings: Settings) -> DataGateway:
    namespaces = with_idempotency_namespace(load_namespaces(settings.namespaces_path))
    search_index = None
    if settings.search_url:
        from backends.search import open_search_index

        search_index = open_search_index(settings.search_url)
    return DataGateway(open_store(settings.store_url), namespaces, search_index=search_index)


def create_app(
    settings: Settings, *, gateway: DataGateway | None = None, limits: Limits | None = None
) -> Starlette:
    """The app; pass `gateway` to serve one the caller built (tests, benchmarks)."""
    limits = limits or Limits.from_env()
    ref: dict[str, DataGateway] = {}
    graphql = GraphQLApp(ref, limits)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gw = gateway or open_gateway(settings)
        await gw.start()
        ref["gateway"] = gw
        if settings.seed:
            from .seed import seed_demo_data

            await seed_demo_data(gw)
        log.info(
            "serving %d namespaces from %s", len(gw.namespaces), redact_url(settings.store_url)
        )
        try:
            yield
        finally:
            await gw.stop()

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        try:
            await ref["gateway"].store.ping()
        except Exception as exc:
            log.warning("readiness check failed: %s", exc)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(
            render_metrics(ref["gateway"]), media_type="text/plain; version=0.0.4"
        )

    return Starlette(
        routes=[
            Route("/graphql", graphql),  # the view answers other methods with 405
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
        ],
        lifespan=lifespan,
    )


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(gateway: DataGateway) -> str:
    """Prometheus text exposition of this process's counters."""
    lines = [
        "# HELP subgraph_abstraction_calls_total Calls into the data abstractions' APIs.",
        "# TYPE subgraph_abstraction_calls_total counter",
    ]
    for (abstraction, operation), n in sorted(gateway.calls.snapshot().items()):
        lines.append(
            f'subgraph_abstraction_calls_total{{abstraction="{_label(abstraction)}",'
            f'operation="{_label(operation)}"}} {n}'
        )
    lines += [
        "# HELP subgraph_abstraction_events_total Background events: flushes, drops, retries.",
        "# TYPE subgraph_abstraction_events_total counter",
    ]
    for name, n in sorted(gateway.events.snapshot().items()):
        event, _, namespace = name.partition(":")
        lines.append(
            f'subgraph_abstraction_events_total{{event="{_label(event)}",'
            f'namespace="{_label(namespace)}"}} {n}'
        )
    return "\n".join(lines) + "\n"
