"""A search racing the creation of a new slice index is asked again, not reported as an outage."""

from __future__ import annotations

from typing import Any

import pytest
from opensearchpy.exceptions import TransportError

from backends.base import StoreUnavailable
from backends.search import open_search_index

STARTING = {"error": {"type": "search_phase_execution_exception", "reason": "all shards failed",
                      "failed_shards": []}, "status": 503}
FAILED = {"error": {"type": "search_phase_execution_exception", "reason": "all shards failed",
                    "failed_shards": [{"shard": 0, "reason": "boom"}]}, "status": 503}


class FakeClient:
    """Answers `search` with the given outcomes, in order."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def search(self, **_: Any) -> Any:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


async def run_search(client: FakeClient) -> Any:
    index = open_search_index("opensearch://127.0.0.1:9")
    index._client = client  # type: ignore[assignment]
    return await index._search("search", "ts-x-0", {})


async def test_a_search_while_shards_start_is_asked_again() -> None:
    answer = {"hits": {"hits": []}}
    client = FakeClient(TransportError(503, "x", STARTING), TransportError(503, "x", STARTING),
                        answer)
    assert await run_search(client) == answer
    assert client.calls == 3


async def test_shards_that_failed_are_an_outage_at_once() -> None:
    client = FakeClient(TransportError(503, "x", FAILED))
    with pytest.raises(StoreUnavailable):
        await run_search(client)
    assert client.calls == 1


async def test_shards_that_never_start_become_unavailable() -> None:
    client = FakeClient(*[TransportError(503, "x", STARTING) for _ in range(6)])
    with pytest.raises(StoreUnavailable):
        await run_search(client)
    assert client.calls == 6
