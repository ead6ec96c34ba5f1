"""The benchmarks' prepared-data double stands in for the gateway in the shipped app: the app
starts over it (its metrics watch every counter the real gateway has) and answers the
benchmarks' query, so the HTTP benchmarks measure the app, not a startup failure."""

from __future__ import annotations

import httpx

from bench.doubles import PlaybackData, PreparedGateway, profile_ids
from bench.graphql_exec import QUERY, representations
from subgraph.app import Settings, create_app


async def test_the_shipped_app_serves_the_benchmark_query_over_the_double() -> None:
    ids = profile_ids(3)
    gateway = PreparedGateway(PlaybackData.build(ids, 2))
    app = create_app(Settings(store_url="prepared:bench.doubles.PreparedGateway"),
                     gateway=gateway)  # type: ignore[arg-type]
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http,
    ):
        response = await http.post("/graphql", json={
            "query": QUERY, "variables": representations(ids)})
        metrics = await http.get("/metrics")
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body
    entities = body["data"]["_entities"]
    assert len(entities) == 3
    assert all(len(e["viewingHistory"]["edges"]) == 2 for e in entities)
    assert metrics.status_code == 200
