"""A search racing the creation of a new slice index is asked again, not reported as an outage."""

from __future__ import annotations

from typing import Any

import pytest

from backends.base import StoreUnavailable

from .fakes import ENGINES, FakeClient, answer, api_error, index_with

STARTING = {"error": {"type": "search_phase_execution_exception", "reason": "all shards failed",
                      "failed_shards": []}, "status": 503}
FAILED = {"error": {"type": "search_phase_execution_exception", "reason": "all shards failed",
                    "failed_shards": [{"shard": 0, "reason": "boom"}]}, "status": 503}

pytestmark = pytest.mark.parametrize("engine", ENGINES)


async def run_search(engine: str, client: FakeClient) -> Any:
    return await index_with(engine, client)._search("search", "ts-x-0", {})


async def test_a_search_while_shards_start_is_asked_again(engine: str) -> None:
    body = {"hits": {"hits": []}}
    client = FakeClient(api_error(engine, 503, STARTING), api_error(engine, 503, STARTING),
                        answer(engine, body))
    assert await run_search(engine, client) == body
    assert client.calls == 3


async def test_shards_that_failed_are_an_outage_at_once(engine: str) -> None:
    client = FakeClient(api_error(engine, 503, FAILED))
    with pytest.raises(StoreUnavailable):
        await run_search(engine, client)
    assert client.calls == 1


async def test_shards_that_never_start_become_unavailable(engine: str) -> None:
    client = FakeClient(*[api_error(engine, 503, STARTING) for _ in range(6)])
    with pytest.raises(StoreUnavailable):
        await run_search(engine, client)
    assert client.calls == 6
