"""The ASGI app: /graphql (POST, and GET for GraphiQL), GraphiQL's assets under /graphiql/,
/healthz, /readyz, /metrics.

The gateway starts with the app (store opened, rollups and buffers running) and stops with it,
flushing buffered writes, so a SIGTERM to uvicorn loses no acknowledged write.  While it runs,
its calls, events and store calls feed the app's metrics (`subgraph.metrics`), and, when
tracing is on (`subgraph.tracing`), every request is traced from its router's `traceparent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from abstractions.access import Caller
from abstractions.gateway import DataGateway
from abstractions.namespaces import Namespaces, load_namespaces
from backends import open_relational, open_store, redact_url
from backends.base import StoreError

from .auth import OUTCOMES, Authenticator, AuthSettings
from .context import Context
from .graphiql import graphiql_assets
from .http import GraphQLView
from .idempotency import with_idempotency_namespace
from .limits import Limits
from .metrics import CONTENT_TYPE, Metrics, multiprocess_dir, worker_stopped
from .schema import build_schema
from .telemetry import Telemetry
from .tracing import instrument_cassandra, provider_from_env

log = logging.getLogger("subgraph")

# How often each worker updates its gauges when workers share their metrics (a lone process
# updates them when scraped).
SAMPLE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the data lives and how callers authenticate; the CLI and environment variables
    fill it."""

    store_url: str
    namespaces_path: str | None = None
    seed: bool = False
    search_url: str | None = None
    auth: AuthSettings = field(default_factory=AuthSettings)
    # Where relational namespaces live: postgresql://user:pass@host:port/db, else the SQLite file.
    relational_url: str | None = field(
        default_factory=lambda: os.environ.get("SUBGRAPH_RELATIONAL") or None
    )


class GraphQLApp(GraphQLView):
    """The GraphQL view (subgraph.http) with our per-request context."""

    def __init__(
        self, gateway_ref: dict[str, DataGateway], limits: Limits, namespaces: Namespaces,
        auth: Authenticator, telemetry: Telemetry,
    ) -> None:
        super().__init__(build_schema(limits, namespaces), limits, auth, telemetry)
        self._gateway_ref = gateway_ref
        self._limits = limits

    async def get_context(self, request: Request, response: object) -> Context:  # type: ignore[override]
        # The view authenticated the request before running it (GraphQLView.authenticate).
        caller = getattr(request.state, "caller", None) or Caller.anonymous()
        return Context.create(
            self._gateway_ref["gateway"], self._limits, caller,
            record=getattr(request.state, "record", None), telemetry=self.telemetry,
        )


def open_gateway(settings: Settings) -> DataGateway:
    namespaces = with_idempotency_namespace(load_namespaces(settings.namespaces_path))
    search_index = None
    if settings.search_url:
        from backends.search import open_search_index

        search_index = open_search_index(settings.search_url)
    relational = open_relational(settings.relational_url) if settings.relational_url else None
    return DataGateway(open_store(settings.store_url), namespaces, search_index=search_index,
                       relational=relational)


def create_app(
    settings: Settings, *, gateway: DataGateway | None = None, limits: Limits | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Starlette:
    """The app; pass `gateway` to serve one the caller built (tests, benchmarks), and
    `tracer_provider` to trace into it (else tracing follows the OTEL_* environment)."""
    limits = limits or Limits.from_env()
    auth = Authenticator(settings.auth)
    ref: dict[str, DataGateway] = {}
    # The schema publishes the namespaces' access policies (`@requiresScopes`).
    namespaces = gateway.namespaces if gateway else load_namespaces(settings.namespaces_path)
    owned_provider = None if tracer_provider is not None else provider_from_env()
    provider = tracer_provider or owned_provider
    metrics = Metrics(authentication=OUTCOMES if auth.enabled else None)
    telemetry = Telemetry(metrics, provider)
    graphql = GraphQLApp(ref, limits, namespaces, auth, telemetry)

    refusals: list[str] = []

    @contextlib.asynccontextmanager
    async def measured(gw: DataGateway) -> AsyncIterator[None]:
        """The gateway's counts and store calls into the metrics (and spans) while it serves."""
        gw.store_calls.observe(telemetry.store_call)
        metrics.watch(gw, auth.outcomes if auth.enabled else None)
        if owned_provider is not None and getattr(gw.store, "backend", None) == "cassandra":
            instrument_cassandra(owned_provider)
        sampler = asyncio.create_task(_sample(metrics, gw)) if multiprocess_dir() else None
        try:
            yield
        finally:
            if sampler is not None:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
            metrics.close()
            gw.store_calls.observe(None)
            worker_stopped()
            if owned_provider is not None:
                owned_provider.shutdown()  # sends the spans still buffered

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await auth.start()  # keys first: a JWKS that cannot be loaded stops the start
        if not auth.enabled:
            log.warning("authentication is off (SUBGRAPH_AUTH=none): every request may read and"
                        " write every namespace; serve only on a loopback address")
        try:
            gw = gateway or open_gateway(settings)
            async with measured(gw):
                try:
                    await gw.start()
                except StoreError as refused:  # refused credentials or TLS, no node reachable
                    refusals.append(f"cannot start: {refused}")
                    raise
                ref["gateway"] = gw
                if settings.seed:
                    from .seed import seed_demo_data

                    await seed_demo_data(gw)
                log.info(
                    "serving %d namespaces from %s", len(gw.namespaces),
                    redact_url(settings.store_url),
                )
                try:
                    yield
                finally:
                    await gw.stop()
        finally:
            await auth.aclose()

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        try:
            await ref["gateway"].store.ping()
        except Exception as exc:
            log.warning("readiness check failed: %s", exc)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics_text(request: Request) -> Response:
        await ref["gateway"].refresh_cache_stats()
        metrics.sample(ref["gateway"])
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    middleware = []
    if provider is not None:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
        from opentelemetry.util.http import parse_excluded_urls

        # The server span, continuing the router's traceparent; none for probes and scrapes.
        middleware.append(Middleware(
            OpenTelemetryMiddleware, tracer_provider=provider, exclude_spans=["receive", "send"],
            # Parsed here: instrumentation-asgi 0.51b0, the oldest allowed, takes no string.
            excluded_urls=parse_excluded_urls("/healthz,/readyz,/metrics"),
        ))
    return _App(
        refusals,
        routes=[
            Route("/graphql", graphql),  # the view answers other methods with 405
            graphiql_assets().mount(),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_text),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )


async def _sample(metrics: Metrics, gateway: DataGateway) -> None:
    while True:
        await gateway.refresh_cache_stats()
        metrics.sample(gateway)
        await asyncio.sleep(SAMPLE_SECONDS)


class _App(Starlette):
    """The app, whose start failed by the store (credentials, TLS, no node) is one log line.

    Starlette reports a failed start with its traceback; for a refusal the operator needs only
    the store's one-line reason (which names no password), so that is what uvicorn logs before
    it exits (status 3).
    """

    def __init__(self, refusals: list[str], **options: Any) -> None:
        super().__init__(**options)
        self._refusals = refusals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await super().__call__(scope, receive, send)
            return

        async def reporting(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed" and self._refusals:
                message = {**message, "message": self._refusals[-1]}
            await send(message)

        await super().__call__(scope, receive, reporting)
