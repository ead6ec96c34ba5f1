"""A search OpenSearch answers 200 with only part of the answer is an error, never short hits."""

from __future__ import annotations

from typing import Any

import pytest

from backends.base import StoreTimeout, StoreUnavailable
from backends.search import open_search_index

HIT = {"_source": {}}


class FakeClient:
    """Answers every `search` with `response`."""

    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response

    async def search(self, **_: Any) -> Any:
        return self.response


async def run_search(response: dict[str, Any]) -> Any:
    index = open_search_index("opensearch://127.0.0.1:9")
    index._client = FakeClient(response)  # type: ignore[assignment]
    return await index._search("search", "ts-x-0", {})


async def test_hits_from_only_some_shards_are_unavailable_not_a_short_answer() -> None:
    """A red index (a primary unassigned, its node gone) answers with the other shards' hits."""
    partial = {
        "timed_out": False,
        "_shards": {"total": 3, "successful": 2, "skipped": 0, "failed": 1,
                    "failures": [{"shard": 2, "index": "ts-x-0",
                                  "reason": {"type": "no_shard_available_action_exception"}}]},
        "hits": {"hits": [HIT]},
    }
    with pytest.raises(StoreUnavailable, match="1 of 3 shards failed"):
        await run_search(partial)


async def test_a_search_that_timed_out_is_a_timeout_not_what_it_had_found() -> None:
    late = {"timed_out": True, "_shards": {"total": 1, "successful": 1, "failed": 0},
            "hits": {"hits": [HIT]}}
    with pytest.raises(StoreTimeout):
        await run_search(late)


async def test_a_whole_answer_is_returned() -> None:
    whole = {"timed_out": False, "_shards": {"total": 2, "successful": 2, "failed": 0},
             "hits": {"hits": [HIT]}}
    assert await run_search(whole) == whole
