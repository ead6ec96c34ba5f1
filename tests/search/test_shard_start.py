"""A search racing the creation of a new slice index is asked again, not reported as an outage."""

from __future__ import annotations

from typing import Any

import pytest

from backends.base import StoreUnavailable
from backends.search.cluster import SHARD_START_ATTEMPTS

from .fakes import ENGINES, FakeClient, answer, api_error, index_with

STARTING = {  # as OpenSearch 2.19 answers: no failed shard listed
    "opensearch": {"error": {"type": "search_phase_execution_exception",
                             "reason": "all shards failed", "failed_shards": []}, "status": 503},
    # as Elasticsearch 9.2 answers: each shard that has not started, and why
    "elasticsearch": {"error": {
        "type": "search_phase_execution_exception", "reason": "all shards failed",
        "phase": "query", "grouped": True,
        "root_cause": [{"type": "no_shard_available_action_exception", "reason": None}],
        "failed_shards": [{"shard": 0, "index": "ts-x-0", "node": None, "reason": {
            "type": "no_shard_available_action_exception", "reason": None}}],
    }, "status": 503},
}
FAILED = {"error": {"type": "search_phase_execution_exception", "reason": "all shards failed",
                    "failed_shards": [{"shard": 0, "reason": {
                        "type": "query_shard_exception", "reason": "boom"}}]}, "status": 503}

pytestmark = pytest.mark.parametrize("engine", ENGINES)


async def run_search(engine: str, client: FakeClient) -> Any:
    return await index_with(engine, client)._search("search", "ts-x-0", {})


async def test_a_search_while_shards_start_is_asked_again(engine: str) -> None:
    body = {"hits": {"hits": []}}
    starting = api_error(engine, 503, STARTING[engine])
    client = FakeClient(starting, starting, answer(engine, body))
    assert await run_search(engine, client) == body
    assert client.calls == 3


async def test_shards_that_failed_are_an_outage_at_once(engine: str) -> None:
    client = FakeClient(api_error(engine, 503, FAILED))
    with pytest.raises(StoreUnavailable):
        await run_search(engine, client)
    assert client.calls == 1


async def test_shards_that_never_start_become_unavailable(engine: str) -> None:
    client = FakeClient(*[api_error(engine, 503, STARTING[engine])
                          for _ in range(SHARD_START_ATTEMPTS)])
    with pytest.raises(StoreUnavailable):
        await run_search(engine, client)
    assert client.calls == SHARD_START_ATTEMPTS
