"""Fixtures for the GraphQL layer: an app over a fresh SQLite gateway, driven in-process.

`client` runs the app's lifespan (gateway started with its rollups and buffers, stopped and
flushed afterwards) and sends real GraphQL documents over ASGI; `execute` runs a document
straight through the schema with a request context, for tests that need no HTTP.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from abstractions import namespaces as control_plane
from abstractions.access import Caller
from abstractions.gateway import DataGateway
from abstractions.namespaces import CounterNamespace, Namespace, Namespaces, load_namespaces
from abstractions.tokens import PageTokens
from backends.sqlite import SQLiteStore
from subgraph.app import Settings, create_app
from subgraph.context import Context
from subgraph.idempotency import DEFAULT_NAMESPACE, NAMESPACE, record_id
from subgraph.limits import Limits
from subgraph.schema import build_schema
from tests.conftest import TEST_NAMESPACES

SECRET = b"subgraph-tests"

# title_plays is eventual with a 5 s accept window in tests/namespaces.toml, and rollups also wait
# out the clock skew; short ones let a test see a rollup catch up without waiting seconds.
FAST_TITLE_PLAYS = CounterNamespace(
    name="title_plays", mode="eventual", accept_window_seconds=0.3,
    authenticated_read=True, derived_from=("viewing_history",),
)
CLOCK_SKEW_SECONDS = 0.05


async def wait_out_accept_window() -> None:
    """Sleep until adds made before the call are old enough for a rollup to fold them in."""
    await asyncio.sleep(FAST_TITLE_PLAYS.accept_window_seconds + CLOCK_SKEW_SECONDS + 0.05)


async def attempt_recorded(
    gateway: DataGateway, operation: str, key: str, subject: str | None = None
) -> bool:
    """Whether an attempt of `operation` is stored under `key` of the caller `subject` (a
    refused request leaves none, or a corrected retry with its key would look like a reuse)."""
    page = await gateway.system_kv.get_items(NAMESPACE, record_id(operation, key, subject))
    return bool(page.items)


def subgraph_namespaces(*extra: Namespace) -> Namespaces:
    """The test namespaces plus the idempotency namespace, as `open_gateway` serves them."""
    loaded = load_namespaces(TEST_NAMESPACES).with_overrides(
        DEFAULT_NAMESPACE, FAST_TITLE_PLAYS, *extra
    )
    return Namespaces(
        {ns.name: ns for ns in loaded.all()},
        control_plane.Settings(max_clock_skew_seconds=CLOCK_SKEW_SECONDS),
        loaded.source,
    )


def new_gateway(db: Path, *extra: Namespace) -> DataGateway:
    """An unstarted gateway over the SQLite file `db` (the app's lifespan starts it)."""
    return DataGateway(
        SQLiteStore(db), subgraph_namespaces(*extra), page_tokens=PageTokens(SECRET)
    )


@dataclass
class GraphQLClient:
    """Sends GraphQL documents to /graphql of an app running in-process."""

    http: httpx.AsyncClient
    gateway: DataGateway

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return await self.http.post("/graphql", json=body)

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The whole response body; HTTP status must be 200."""
        response = await self.post(query, variables)
        assert response.status_code == 200, response.text
        return response.json()

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """`data` of a response that must have no errors."""
        body = await self.execute(query, variables)
        assert "errors" not in body, json.dumps(body["errors"], indent=2)
        return body["data"]

    async def errors(
        self, query: str, variables: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """`errors` of a response that must have some, each with an `extensions.code`."""
        response = await self.post(query, variables)
        assert response.status_code < 500, response.text
        body = response.json()
        assert body.get("errors"), body
        for error in body["errors"]:
            assert error.get("extensions", {}).get("code"), error
        return body["errors"]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "subgraph.db"


@pytest.fixture
def limits() -> Limits:
    """The defaults, except a small `max_first` so its bound is cheap to test."""
    return Limits(max_first=50, max_names=600)


@pytest.fixture
def data_gateway(db_path: Path) -> DataGateway:
    return new_gateway(db_path)


@pytest.fixture
def app(db_path: Path, data_gateway: DataGateway, limits: Limits) -> Starlette:
    return create_app(Settings(store_url=f"sqlite:///{db_path}"), gateway=data_gateway,
                      limits=limits)


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client to the app, inside the app's lifespan."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://subgraph.test"
        ) as client,
    ):
        yield client


@pytest.fixture
def client(http: httpx.AsyncClient, data_gateway: DataGateway) -> GraphQLClient:
    return GraphQLClient(http, data_gateway)


@pytest.fixture
async def started_gateway(data_gateway: DataGateway) -> AsyncIterator[DataGateway]:
    """The gateway started without an app (background work off), for direct-schema tests."""
    await data_gateway.start(background=False)
    try:
        yield data_gateway
    finally:
        await data_gateway.stop()


@dataclass
class SchemaRunner:
    """Runs documents through the schema directly, one fresh context per call."""

    gateway: DataGateway
    limits: Limits

    def __post_init__(self) -> None:
        self.schema = build_schema(self.limits)

    async def execute(
        self, query: str, variables: dict[str, Any] | None = None, caller: Caller | None = None
    ) -> Any:
        """`caller`: who asks (default: a server without authentication)."""
        context = Context.create(self.gateway, self.limits, caller)
        return await self.schema.execute(query, variable_values=variables, context_value=context)


@pytest.fixture
def execute(started_gateway: DataGateway, limits: Limits) -> SchemaRunner:
    return SchemaRunner(started_gateway, limits)
