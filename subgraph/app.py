"""The ASGI app: /graphql (POST, and GET for GraphiQL), GraphiQL's assets under /graphiql/,
/healthz, /readyz, /metrics.

The gateway starts with the app (store opened, rollups and buffers running) and stops with it,
flushing buffered writes, so a SIGTERM to uvicorn loses no acknowledged write.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from abstractions.access import Caller
from abstractions.gateway import DataGateway
from abstractions.namespaces import Namespaces, load_namespaces
from backends import open_store, redact_url
from backends.base import StoreError

from .auth import OUTCOMES, Authenticator, AuthSettings
from .context import Context
from .graphiql import graphiql_assets
from .http import GraphQLView
from .idempotency import with_idempotency_namespace
from .limits import Limits
from .schema import build_schema

log = logging.getLogger("subgraph")


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the data lives and how callers authenticate; the CLI and environment variables
    fill it."""

    store_url: str
    namespaces_path: str | None = None
    seed: bool = False
    search_url: str | None = None
    auth: AuthSettings = field(default_factory=AuthSettings)


class GraphQLApp(GraphQLView):
    """The GraphQL view (subgraph.http) with our per-request context."""

    def __init__(
        self, gateway_ref: dict[str, DataGateway], limits: Limits, namespaces: Namespaces,
        auth: Authenticator,
    ) -> None:
        super().__init__(build_schema(limits, namespaces), limits, auth)
        self._gateway_ref = gateway_ref
        self._limits = limits

    async def get_context(self, request: Request, response: object) -> Context:  # type: ignore[override]
        # The view authenticated the request before running it (GraphQLView.authenticate).
        caller = getattr(request.state, "caller", None) or Caller.anonymous()
        return Context.create(self._gateway_ref["gateway"], self._limits, caller)


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
    auth = Authenticator(settings.auth)
    ref: dict[str, DataGateway] = {}
    # The schema publishes the namespaces' access policies (`@requiresScopes`).
    namespaces = gateway.namespaces if gateway else load_namespaces(settings.namespaces_path)
    graphql = GraphQLApp(ref, limits, namespaces, auth)

    refusals: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await auth.start()  # keys first: a JWKS that cannot be loaded stops the start
        if not auth.enabled:
            log.warning("authentication is off (SUBGRAPH_AUTH=none): every request may read and"
                        " write every namespace; serve only on a loopback address")
        try:
            gw = gateway or open_gateway(settings)
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
                "serving %d namespaces from %s", len(gw.namespaces), redact_url(settings.store_url)
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

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(
            render_metrics(ref["gateway"], auth.outcomes if auth.enabled else None),
            media_type="text/plain; version=0.0.4"
        )

    return _App(
        refusals,
        routes=[
            Route("/graphql", graphql),  # the view answers other methods with 405
            graphiql_assets().mount(),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
        ],
        lifespan=lifespan,
    )


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


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(
    gateway: DataGateway, authentication: Mapping[str, int] | None = None
) -> str:
    """Prometheus text exposition of this process's counters; `authentication`: outcomes of
    token checks by result (subgraph.auth.OUTCOMES), None when authentication is off."""
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
    lines += [
        "# HELP subgraph_access_decisions_total Access decisions: may this caller read or write"
        " this namespace's data.",
        "# TYPE subgraph_access_decisions_total counter",
    ]
    for (namespace, operation, result), n in sorted(gateway.access.decisions.snapshot().items()):
        lines.append(
            f'subgraph_access_decisions_total{{namespace="{_label(namespace)}",'
            f'operation="{_label(operation)}",result="{_label(result)}"}} {n}'
        )
    if authentication is not None:
        lines += [
            "# HELP subgraph_authentication_total Requests by the outcome of their token check.",
            "# TYPE subgraph_authentication_total counter",
        ]
        for result in sorted(set(OUTCOMES) | set(authentication)):
            n = authentication.get(result, 0)
            lines.append(f'subgraph_authentication_total{{result="{_label(result)}"}} {n}')
    return "\n".join(lines) + "\n"
